"""``healthcard qr verify`` (the ``qr_app`` sub-app) and the demo's QR files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CompleteIdentity,
    IssueToken,
    RegisterCard,
)
from healthcard.cli.qr import EXIT_REJECTED, EXIT_USAGE, qr_app
from healthcard.domain.audit import Audit, Channel
from healthcard.qr import national_qr
from healthcard.simulation.qr_files import write_demo_qr

WINDOW = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
ACCOUNT = AccountRef(kind="phone", identifier="13912345678")
runner = CliRunner()


@pytest.fixture
def bound_card(memory_app: HealthCardApp) -> tuple[HealthCardApp, UUID]:
    card_id = memory_app.register(RegisterCard(audit=WINDOW, name="陈静"))
    memory_app.complete_identity(
        CompleteIdentity(
            audit=WINDOW,
            card_id=card_id,
            document={"type": "01", "number": "11010519491231002X"},
            name="陈静",
            sex="2",
            birth_date="1949-12-31",
        )
    )
    memory_app.bind(BindCard(audit=WINDOW, card_id=card_id, account=ACCOUNT))
    return memory_app, card_id


@pytest.fixture
def demo_dir(bound_card: tuple[HealthCardApp, UUID], tmp_path: Path) -> Path:
    app, card_id = bound_card
    written = write_demo_qr(app, card_id, ACCOUNT, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "qr-signed.png",
        "qr-signed.txt",
        "qr-national.png",
        "keys/public.json",
    ]
    return tmp_path / "out"


def verify(*args: str) -> Any:
    return runner.invoke(qr_app, ["verify", *args])


def test_demo_files_decode_and_verify(
    demo_dir: Path, bound_card: tuple[HealthCardApp, UUID], clock: FakeClock
) -> None:
    app, card_id = bound_card
    token = (demo_dir / "qr-signed.txt").read_text(encoding="ascii").rstrip("\n")
    png = zxingcpp.read_barcodes(Image.open(demo_dir / "qr-signed.png"))
    assert [b.text for b in png] == [token]
    assert app.verify_token(token).card_id == card_id
    national = zxingcpp.read_barcodes(Image.open(demo_dir / "qr-national.png"))
    code = national_qr.verify(national[0].text, national_qr.TEST_PROTECTION_KEY, clock.now)
    assert code.ehc_id == app.card(card_id).ehc_id
    assert code.valid_until is not None
    assert timedelta(seconds=59) <= code.valid_until - clock.now <= timedelta(seconds=60)
    keys = json.loads((demo_dir / "keys" / "public.json").read_text(encoding="utf-8"))
    assert [(k["kid"], k["mode"], k["status"]) for k in keys["keys"]] == [(0, "test", "active")]


def test_cli_verifies_the_demo_token(demo_dir: Path, clock: FakeClock) -> None:
    at = (clock.now + timedelta(seconds=10)).isoformat()
    result = verify(
        "--keys", str(demo_dir / "keys" / "public.json"),
        "--token-file", str(demo_dir / "qr-signed.txt"),
        "--mode", "test", "--at", at,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    claims = json.loads(result.stdout)
    token = (demo_dir / "qr-signed.txt").read_text(encoding="ascii").strip("\n")
    assert claims["mode"] == "test"
    assert claims["use"] == "any"
    result_inline = verify(
        "--keys", str(demo_dir / "keys" / "public.json"), "--token", token,
        "--mode", "test", "--at", at,
    )  # fmt: skip
    assert json.loads(result_inline.stdout) == claims


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--mode", "production", "--at", "2026-11-25T08:00:10+08:00"], "test_token_in_production"),
        (["--mode", "test", "--at", "2026-11-25T08:01:31+08:00"], "expired"),
        (["--mode", "test", "--at", "2026-11-25T08:01:29"], None),  # naive = China time
        (["--mode", "test", "--at", "2026-11-25T07:59:29+08:00"], "not_yet_valid"),
        (["--mode", "test", "--at", "2026-11-25T08:01:31+08:00", "--skew", "300"], None),
    ],
)
def test_cli_reasons_and_exit_status(demo_dir: Path, extra: list[str], reason: str | None) -> None:
    result = verify(
        "--keys", str(demo_dir / "keys" / "public.json"),
        "--token-file", str(demo_dir / "qr-signed.txt"), *extra,
    )  # fmt: skip
    if reason is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == EXIT_REJECTED
        assert result.stderr.strip() == f"rejected: {reason}"


def test_cli_rejects_a_mutated_token(demo_dir: Path) -> None:
    token = (demo_dir / "qr-signed.txt").read_text(encoding="ascii").rstrip("\n")
    mutated = token[:-1] + ("A" if token[-1] != "A" else "B")
    result = verify(
        "--keys", str(demo_dir / "keys" / "public.json"), "--token", mutated,
        "--mode", "test", "--at", "2026-11-25T08:00:10+08:00",
    )  # fmt: skip
    assert result.exit_code == EXIT_REJECTED
    assert result.stderr.startswith("rejected: ")


def test_cli_usage_errors(demo_dir: Path, tmp_path: Path) -> None:
    keys = str(demo_dir / "keys" / "public.json")
    token_file = str(demo_dir / "qr-signed.txt")
    neither = verify("--keys", keys)
    both = verify("--keys", keys, "--token", "EH1:X", "--token-file", token_file)
    bad_time = verify("--keys", keys, "--token", "EH1:X", "--at", "yesterday")
    (tmp_path / "bad.json").write_text('{"format": "x", "keys": []}', encoding="utf-8")
    bad_keys = verify("--keys", str(tmp_path / "bad.json"), "--token", "EH1:X")
    missing = verify("--keys", str(tmp_path / "none.json"), "--token", "EH1:X")
    for result in (neither, both, bad_time, bad_keys, missing):
        assert result.exit_code == EXIT_USAGE, result.output
        assert result.stderr.startswith("error: ")


def test_demo_output_needs_a_formal_card(memory_app: HealthCardApp, tmp_path: Path) -> None:
    card_id = memory_app.register(RegisterCard(audit=WINDOW, name="临时"))
    memory_app.bind(BindCard(audit=WINDOW, card_id=card_id, account=ACCOUNT))
    assert memory_app.issue_token(IssueToken(audit=WINDOW, card_id=card_id, account=ACCOUNT))
    with pytest.raises(ValueError, match="formal"):
        write_demo_qr(memory_app, card_id, ACCOUNT, tmp_path)
    assert list(tmp_path.iterdir()) == []
