"""``healthcard qr verify`` (the ``qr_app`` sub-app) and the demo's QR files."""

from __future__ import annotations

import json
from collections.abc import Callable
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
from healthcard.cli import app as root_app
from healthcard.cli.qr import EXIT_REJECTED, EXIT_USAGE, MAX_KEY_DOCUMENT_BYTES, QR_CAPACITY, qr_app
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


# -- could not run (2) versus rejected (1) ---------------------------------------------

AT = "2026-11-25T08:00:10+08:00"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _token(demo_dir: Path) -> str:
    return (demo_dir / "qr-signed.txt").read_text(encoding="ascii").rstrip("\n")


TokenFile = Callable[[Path, str], Path]
"""Builds a bad token file in a folder, from the good token text."""

BAD_TOKEN_FILES: dict[str, tuple[TokenFile, str]] = {
    "missing": (lambda d, t: d / "none.txt", "cannot read the token file"),
    "folder": (lambda d, t: d, "the token file is a folder"),
    "binary": (lambda d, t: _write(d / "t.bin", b"\x00" + t.encode()), "binary"),
    "not-utf8": (lambda d, t: _write(d / "t.txt", b"\xff\xfe" + t.encode()), "not UTF-8"),
    "png": (lambda d, t: d / "qr-signed.png", "binary"),
    "longer-than-a-qr-code": (
        lambda d, t: _write(d / "t.txt", b"EH1:" + b"A" * QR_CAPACITY),
        "longer than a QR code holds",
    ),
    "huge": (
        lambda d, t: _write(d / "t.txt", b"EH1:" + b"A" * 10_000_000),
        "longer than a QR code holds",
    ),
}


@pytest.mark.parametrize("case", BAD_TOKEN_FILES, ids=str)
def test_a_token_file_that_cannot_be_read_is_not_a_rejection(
    demo_dir: Path, tmp_path: Path, case: str
) -> None:
    make, message = BAD_TOKEN_FILES[case]
    folder = tmp_path / "bad"
    folder.mkdir()
    source = demo_dir if case == "png" else folder
    token = _token(demo_dir)
    result = runner.invoke(
        root_app,
        ["qr", "verify", "--keys", str(demo_dir / "keys" / "public.json"),
         "--token-file", str(make(source, token)), "--mode", "test", "--at", AT],
    )  # fmt: skip
    _assert_could_not_run(result, message, token)


KEYS = '{"format": "healthcard.qr.keys/1", "keys": [%s]}'
BAD_KEY_DOCUMENTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda d: d / "none.json", "cannot read the key document"),
    "folder": (lambda d: d, "the key document is a folder"),
    "binary": (lambda d: _write(d / "k.json", bytes(range(256))), "bad key document"),
    "not-utf8": (lambda d: _write(d / "k.json", b'\xff\xfe{"format": 1}'), "bad key document"),
    "truncated": (lambda d: _write(d / "k.json", b'{"format": "x"'), "not JSON"),
    "nested": (lambda d: _write(d / "k.json", b"[" * 100_000), "nested too deeply"),
    "huge": (
        lambda d: _write(d / "k.json", b" " * MAX_KEY_DOCUMENT_BYTES + b"{}"),
        "larger than 1 MiB",
    ),
    "list": (lambda d: _write(d / "k.json", b"[]"), '"format" and "keys"'),
    "key-id-a-list": (
        lambda d: _write(
            d / "k.json",
            (KEYS % '{"kid": [], "mode": "test", "status": "retired"}').encode(),
        ),
        "key ids are integers",
    ),
    "mode-an-object": (
        lambda d: _write(
            d / "k.json",
            (KEYS % '{"kid": 0, "mode": {}, "status": "retired"}').encode(),
        ),
        '"mode"',
    ),
}


@pytest.mark.parametrize("case", BAD_KEY_DOCUMENTS, ids=str)
def test_a_key_document_that_cannot_be_used_is_not_a_rejection(
    demo_dir: Path, tmp_path: Path, case: str
) -> None:
    make, message = BAD_KEY_DOCUMENTS[case]
    folder = tmp_path / "bad"
    folder.mkdir()
    result = runner.invoke(
        root_app,
        ["qr", "verify", "--keys", str(make(folder)),
         "--token-file", str(demo_dir / "qr-signed.txt"), "--mode", "test", "--at", AT],
    )  # fmt: skip
    _assert_could_not_run(result, message, _token(demo_dir))


def test_an_unreadable_key_document_is_not_a_rejection(demo_dir: Path, tmp_path: Path) -> None:
    # A path through a regular file fails to open for every user, root included
    # (ENOTDIR), as a file without read permission does for others.
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    keys = tmp_path / "a-file" / "public.json"
    result = verify("--keys", str(keys), "--token-file", str(demo_dir / "qr-signed.txt"))
    _assert_could_not_run(result, "cannot read the key document", _token(demo_dir))


@pytest.mark.parametrize(
    "at",
    [
        "yesterday",
        "",
        "[/x]",
        "2026-11-25T08:00:00+24:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
    ],
)
def test_an_odd_time_is_not_a_rejection(demo_dir: Path, at: str) -> None:
    result = verify(
        "--keys", str(demo_dir / "keys" / "public.json"),
        "--token-file", str(demo_dir / "qr-signed.txt"), "--mode", "test", "--at", at,
    )  # fmt: skip
    _assert_could_not_run(result, "--at must be an ISO 8601 time", _token(demo_dir))


def test_a_token_argument_longer_than_a_qr_code_is_not_a_rejection(demo_dir: Path) -> None:
    token = "EH1:" + "A" * QR_CAPACITY
    result = verify("--keys", str(demo_dir / "keys" / "public.json"), "--token", token)
    _assert_could_not_run(result, "longer than a QR code holds", token)


@pytest.mark.parametrize(
    "text",
    ["", "[/x]", "EH1:", "EH1:" + "A" * (QR_CAPACITY - 4), "EH1:\udcff", "EH1:[red]x[/red]"],
    ids=["empty", "markup", "prefix-only", "as-long-as-a-qr-code", "surrogate", "markup-body"],
)
def test_a_text_that_is_no_token_is_rejected_as_malformed(
    demo_dir: Path, tmp_path: Path, text: str
) -> None:
    keys = str(demo_dir / "keys" / "public.json")
    inline = verify("--keys", keys, "--token", text, "--mode", "test", "--at", AT)
    assert inline.exception is None or isinstance(inline.exception, SystemExit)
    assert inline.exit_code == EXIT_REJECTED, inline.output
    assert inline.stderr == "rejected: malformed\n"
    if "\udcff" in text:
        return  # a lone surrogate is how the shell hands over bytes that are not UTF-8
    token_file = tmp_path / "token.txt"
    token_file.write_text(text + "\n", encoding="utf-8")
    from_file = verify("--keys", keys, "--token-file", str(token_file), "--mode", "test")
    assert from_file.exit_code == EXIT_REJECTED, from_file.output
    assert from_file.stderr == "rejected: malformed\n"


def _assert_could_not_run(result: Any, message: str, token: str) -> None:
    """Status 2 and one ``error:`` line naming the problem, never the token or a key."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert token not in result.stderr
    assert "public_key" not in result.stderr
