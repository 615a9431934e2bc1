"""``healthcard audit CARD``: who did what to a card, through which channel and institution."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated
from uuid import UUID

import typer
from rich.table import Table

from healthcard.analytics.audit_trail import audit_trail
from healthcard.cli.errors import new_app
from healthcard.cli.options import DbOption, console, open_log

app = new_app()


@app.command()
def audit(
    card: Annotated[str, typer.Argument(help="The card id (a UUID).")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for scripts.")] = False,
) -> None:
    """List who did what to a card, through which channel and institution.

    Only reads: the log is opened read-only and left exactly as it was.
    """
    try:
        card_id = UUID(card)
    except ValueError:
        raise typer.BadParameter("not a UUID", param_hint="CARD") from None
    with open_log(db, read_only=True) as health:
        health.card(card_id)  # CardNotFound -> error[card_not_found], exit 2
        entries = audit_trail(health, card_id)
    if as_json:
        for entry in entries:
            row = {k: str(v) if not isinstance(v, int) else v for k, v in asdict(entry).items()}
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table(title=f"Audit trail of card {card_id}")
    for column in ("time", "what", "actor", "channel", "institution", "correlation"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            entry.at.isoformat(timespec="seconds"),
            entry.what,
            entry.actor,
            entry.channel,
            entry.institution,
            str(entry.correlation_id)[:8],
        )
    console().print(table)
