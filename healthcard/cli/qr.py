"""``healthcard qr ...``: the QR commands.

``healthcard qr verify`` is what a third-party scanner does, from the command line:
it reads only the published key document, never the event log, so it checks the
signature, the key, the mode and the time window — not whether the card was frozen
or the account unbound since (the application's ``verify_token`` does that).

Exit status: 0 with the claims (JSON) on stdout when the token verifies; 1 with
``rejected: <reason>`` on stderr when it does not; 2 for a usage error (bad option,
unreadable key document).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from healthcard.cli.errors import new_app
from healthcard.cli.options import parse_time
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.errors import TokenRejectReason
from healthcard.qr.keyring import KeyringError, PublishedKeys
from healthcard.qr.verify import DEFAULT_SKEW_SECONDS, MAX_SKEW_SECONDS, Verifier

app = new_app()
qr_app = new_app(name="qr", help="QR codes: verify signed tokens offline.")
app.add_typer(qr_app, name="qr")

EXIT_REJECTED = 1
EXIT_USAGE = 2


@qr_app.callback()
def _qr() -> None:
    """QR codes of the electronic health card (signed tokens, national format)."""


@qr_app.command("verify")
def verify(
    keys: Annotated[
        Path,
        typer.Option(
            "--keys", help="Public key document (JSON), e.g. keys/public.json.", dir_okay=False
        ),
    ],
    token: Annotated[str | None, typer.Option("--token", help="The token text (EH1:...).")] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="A file holding the token text.", dir_okay=False),
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
    try:
        published = PublishedKeys.from_json(keys.read_bytes())
    except OSError:
        _usage_error("cannot read the key document")
    except KeyringError as error:
        _usage_error(f"bad key document: {error}")
    result = Verifier(published, mode=mode, skew_seconds=skew).verify(text, moment)
    if isinstance(result, TokenRejectReason):
        typer.echo(f"rejected: {result.value}", err=True)
        raise typer.Exit(EXIT_REJECTED)
    typer.echo(json.dumps(result.to_json_dict(), indent=2))


def _token_text(token: str | None, token_file: Path | None) -> str:
    if (token is None) == (token_file is None):
        _usage_error("give exactly one of --token and --token-file")
    if token is not None:
        return token
    assert token_file is not None  # noqa: S101 (narrowing; checked just above)
    try:
        content = token_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        _usage_error("cannot read the token file")
    # Only line ends are stripped: spaces are base45 characters.
    return content.rstrip("\r\n")


def _moment(at: str | None) -> datetime | None:
    if at is None:
        return None
    try:
        return parse_time(at)
    except typer.BadParameter:
        _usage_error("--at must be an ISO 8601 time, e.g. 2026-11-25T08:00:30+08:00")


def _usage_error(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)
