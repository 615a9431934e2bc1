"""``healthcard qr ...``: the QR commands.

``healthcard qr verify`` is what a third-party scanner does, from the command line:
it reads only the published key document, never the event log, so it checks the
signature, the key, the mode and the time window — not whether the card was frozen
or the account unbound since (the application's ``verify_token`` does that).

Exit status: 0 with the claims (JSON) on stdout when the token verifies; 1 with
``rejected: <reason>`` on stderr when it does not (a text that is no token is
``malformed``); 2 with ``error: <message>`` on stderr when the verification could
not run: a usage error (bad option, an ``--at`` that is not a time), a key document
that cannot be read or is not one, a token file that cannot be read or is not text,
or a text longer than any QR code holds. Only a verdict of the verifier is status
1, so a script can tell a refused token from a mistake of its own. No message
repeats the token or the keys.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final, NoReturn

import typer

from healthcard.cli.errors import EXIT_CANNOT_RUN, cannot_run, new_app
from healthcard.cli.options import parse_time
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.errors import InvalidInput, TokenRejectReason
from healthcard.qr.keyring import KeyringError, PublishedKeys
from healthcard.qr.verify import DEFAULT_SKEW_SECONDS, MAX_SKEW_SECONDS, Verifier

app = new_app()
qr_app = new_app(name="qr", help="QR codes: verify signed tokens offline.")
app.add_typer(qr_app, name="qr")

EXIT_REJECTED = 1
EXIT_USAGE = EXIT_CANNOT_RUN

QR_CAPACITY: Final = 4296
"""The most characters a QR code holds (version 40, level L, alphanumeric mode, the
mode of base45 text). A longer text was never scanned from a code: it is a wrong
file or argument, not a token to refuse."""
MAX_TOKEN_FILE_BYTES: Final = 4 * QR_CAPACITY + 2
"""A token file holds at most QR_CAPACITY characters (4 UTF-8 bytes at most each) and
a line end; only that much is read, so a huge file (or a device) is never loaded."""
MAX_KEY_DOCUMENT_BYTES: Final = 1 << 20
"""A key document lists at most 24 keys per mode (a few KiB); only 1 MiB is read."""


@qr_app.callback()
def _qr() -> None:
    """QR codes of the electronic health card (signed tokens, national format)."""


@qr_app.command("verify")
def verify(
    keys: Annotated[
        Path,
        typer.Option("--keys", help="Public key document (JSON), e.g. keys/public.json."),
    ],
    token: Annotated[str | None, typer.Option("--token", help="The token text (EH1:...).")] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="A file holding the token text."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Verify as of this ISO time (naive = Asia/Shanghai)."),
    ] = None,
    mode: Annotated[
        IssuerMode, typer.Option("--mode", help="Verifier mode: production refuses test tokens.")
    ] = IssuerMode.PRODUCTION,
    skew: Annotated[
        int,
        typer.Option("--skew", min=0, max=MAX_SKEW_SECONDS, help="Clock-skew allowance, seconds."),
    ] = DEFAULT_SKEW_SECONDS,
) -> None:
    """Verify a signed QR token offline: print its claims, or the reason it is refused."""
    text = _token_text(token, token_file)
    moment = _moment(at)
    published = _published_keys(keys)
    try:
        result = Verifier(published, mode=mode, skew_seconds=skew).verify(text, moment)
    except InvalidInput as error:  # a bad time, never a bad token: those are verdicts
        _usage_error(error.message)
    if isinstance(result, TokenRejectReason):
        typer.echo(f"rejected: {result.value}", err=True)
        raise typer.Exit(EXIT_REJECTED)
    typer.echo(json.dumps(result.to_json_dict(), indent=2))


def _token_text(token: str | None, token_file: Path | None) -> str:
    if (token is None) == (token_file is None):
        _usage_error("give exactly one of --token and --token-file")
    if token is not None:
        text = token
    else:
        assert token_file is not None  # noqa: S101 (narrowing; checked just above)
        text = _read_token_file(token_file)
    if len(text) > QR_CAPACITY:
        _usage_error(f"the token is longer than a QR code holds ({QR_CAPACITY} characters)")
    return text


def _read_token_file(path: Path) -> str:
    """The token text of a file: UTF-8 text, line ends stripped (spaces are base45)."""
    data = _read_at_most(path, MAX_TOKEN_FILE_BYTES, "the token file")
    if len(data) > MAX_TOKEN_FILE_BYTES:
        _usage_error(f"the token file is longer than a QR code holds ({QR_CAPACITY} characters)")
    if b"\x00" in data:
        _usage_error("the token file is binary, not text")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        _usage_error("the token file is not UTF-8 text")
    return content.rstrip("\r\n")


def _published_keys(path: Path) -> PublishedKeys:
    data = _read_at_most(path, MAX_KEY_DOCUMENT_BYTES, "the key document")
    if len(data) > MAX_KEY_DOCUMENT_BYTES:
        _usage_error("bad key document: larger than 1 MiB")
    try:
        return PublishedKeys.from_json(data)
    except KeyringError as error:  # its messages never echo a key
        _usage_error(f"bad key document: {error}")
    except (ValueError, TypeError, RecursionError):
        _usage_error("bad key document: not a healthcard key document")


def _read_at_most(path: Path, limit: int, what: str) -> bytes:
    """Up to ``limit + 1`` bytes of ``path`` (one more tells the caller it is too big)."""
    try:
        with path.open("rb") as file:
            return file.read(limit + 1)
    except IsADirectoryError:
        _usage_error(f"{what} is a folder")
    except OSError:
        _usage_error(f"cannot read {what}")


def _moment(at: str | None) -> datetime | None:
    if at is None:
        return None
    try:
        return parse_time(at)
    except typer.BadParameter:
        _usage_error(
            "--at must be an ISO 8601 time within the years 1 to 9999, "
            "e.g. 2026-11-25T08:00:30+08:00"
        )


def _usage_error(message: str) -> NoReturn:
    cannot_run(message)
