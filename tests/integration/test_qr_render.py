"""Rendering: the token and the national QR as PNG read back by an independent decoder
(zxing-cpp), SVG and terminal output."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
import zxingcpp
from PIL import Image

from healthcard.adapters import qr_render as render
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.usage import TokenUse
from healthcard.qr import national_qr
from healthcard.qr.issue import issue_token
from healthcard.qr.keyring import Keyring, PublishedKeys
from healthcard.qr.verify import Verifier

AT = datetime(2026, 11, 25, 0, 0, 0, tzinfo=UTC)


def decode_png(data: bytes) -> list[str]:
    image = Image.open(io.BytesIO(data))
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("mode", [IssuerMode.TEST, IssuerMode.PRODUCTION])
def test_token_png_decodes_with_zxing_and_verifies(mode: IssuerMode) -> None:
    keyring = Keyring()
    keyring.rotate(IssuerMode.PRODUCTION)
    text, claims = issue_token(
        keyring, card_id=uuid4(), account_id=uuid4(), mode=mode, use=TokenUse.PRENATAL, at=AT
    )
    decoded = decode_png(render.png(text))
    assert decoded == [text]
    published = PublishedKeys.from_json(keyring.public_json(mode))
    assert Verifier(published, mode=mode).verify(decoded[0], AT) == claims


def test_token_qr_is_alphanumeric_version_7_at_level_m() -> None:
    text, _ = issue_token(
        Keyring(),
        card_id=uuid4(),
        account_id=uuid4(),
        mode=IssuerMode.TEST,
        use=TokenUse.ANY,
        at=AT,
    )
    code = render.make(text)
    assert (code.version, code.error, code.mode, code.is_micro) == (7, "M", "alphanumeric", False)


def test_national_png_decodes_with_zxing() -> None:
    text = national_qr.dynamic_text("AB" * 32, AT, national_qr.TEST_PROTECTION_KEY)
    assert decode_png(render.png(text)) == [text]


def test_svg_and_files(tmp_path: Path) -> None:
    text = national_qr.static_text("CD" * 32)
    document = render.svg(text)
    assert document.lstrip().startswith("<?xml")
    assert "<svg" in document
    svg_path = render.save(text, tmp_path / "code.svg")
    assert "<svg" in svg_path.read_text(encoding="utf-8")
    png_path = render.save(text, tmp_path / "code.png")
    assert decode_png(png_path.read_bytes()) == [text]
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        render.save(text, tmp_path / "code.gif")


def test_terminal_output_draws_the_modules() -> None:
    text = national_qr.static_text("EF" * 32)
    drawing = render.terminal(text, border=2)
    lines = drawing.splitlines()
    size = render.make(text).symbol_size(border=2)[0]
    assert all(len(line) == size for line in lines)
    assert len(lines) == (size + 1) // 2  # two modules per character cell
    assert set(drawing) <= set("█▀▄ \n")
