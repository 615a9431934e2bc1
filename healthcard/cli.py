"""The ``healthcard`` command line (typer): ``demo``, ``version``, and more to come.

Why every command goes through ``exits_on_domain_error``: a refused command is a
normal outcome for an operator, not a crash, so a ``HealthCardError`` reaching
the CLI prints ``error[<code>]: <message>`` (codes are stable, messages hold no
personal data) and exits with status 2 instead of a traceback. Add new commands
with ``@app.command()`` above ``@exits_on_domain_error``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from healthcard import HealthCardApp, HealthCardConfig, __version__
from healthcard.audit_trail import audit_trail
from healthcard.cli_analytics import register as register_analytics
from healthcard.cli_projections import booking, projections_app, triage
from healthcard.cli_qr import qr_app
from healthcard.cli_support import exits_on_domain_error
from healthcard.commands import AccountRef
from healthcard.domain.account import Account
from healthcard.domain.card_values import CardStatus
from healthcard.events.card import Bound
from healthcard.persistence import key_file_for, local_sqlite_env
from healthcard.projections import catch_up_all, views_path_for
from healthcard.qr.demo_output import write_demo_qr
from healthcard.simulation import DAY_START, MIN_CARDS, HospitalDay
from healthcard.simulation.day import Progress as ProgressCallback
from healthcard.simulation.hospital import HOSPITAL
from healthcard.simulation.render import render_report
from healthcard.testing.clock import FakeClock

P = ParamSpec("P")
R = TypeVar("R")

DEMO_DB = "healthcard-demo.sqlite3"
PROGRESS_FROM = 200
"""Show a progress bar (on stderr) from this many cards on."""
SQLITE_HEADER = b"SQLite format 3\x00"

app = typer.Typer(
    name="healthcard",
    help="Resident electronic health cards (Sichuan): event-sourced, with a demo.",
    no_args_is_help=True,
    add_completion=False,
)


app.add_typer(qr_app, name="qr")
app.add_typer(projections_app, name="projections")
app.command()(triage)
app.command()(booking)
register_analytics(app)


@app.command()
def version() -> None:
    """Print the library version."""
    typer.echo(f"healthcard {__version__}")


@app.command()
@exits_on_domain_error
def demo(
    db: Annotated[
        Path,
        typer.Option(
            help="SQLite file for the day's event log. An existing file is deleted first: "
            "one run is one simulated day, so every run starts a fresh log.",
            dir_okay=False,
        ),
    ] = Path(DEMO_DB),
    cards: Annotated[
        int, typer.Option(help="How many residents register.", min=MIN_CARDS, max=100_000)
    ] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the simulation: same seed, same log.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for summary.json and, for one bound card, qr-signed.png, "
            "qr-signed.txt, qr-national.png and keys/public.json (created if needed).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Simulate a day at a Sichuan hospital on SQLite and print what happened.

    Residents register through every channel (WeChat official account, kiosk with or
    without a volunteer, window, app), most identities are verified, families bind
    their cards under the cap, patients book clinic sessions and check in at triage.
    Refusals (temporary card, full session, family cap) are shown by error code.
    The day is deterministic for a seed; all people are synthetic and shown masked.
    The demo uses the public test-mode keys; the log is encrypted at rest with a key
    written beside it (<db>.key, mode 0600) so later commands can open it.
    """
    console = Console()
    if _remove_old_log(db):
        console.print(
            f"Deleted the existing {db}: one run is one simulated day, starting a fresh log.",
            markup=False,
            highlight=False,
        )
    started = time.perf_counter()
    clock = FakeClock(DAY_START)
    health = HealthCardApp(
        local_sqlite_env(db, create_key=True), clock=clock, config=HealthCardConfig()
    )
    qr_files: list[Path] = []
    try:
        day = HospitalDay(health, clock, seed=seed, cards=cards)
        with _progress(cards, day.plan.steps) as advance:
            report = day.run(advance)
        if out is not None:
            qr_files = _write_demo_qr(health, out)
    finally:
        health.close()
    views = catch_up_all(db)  # the booking and triage read models, beside the log
    elapsed = time.perf_counter() - started
    console.print(
        f"Simulated {report.day.isoformat()} at hospital {HOSPITAL}: "
        f"{cards} cards, seed {seed}, log in {db} ({elapsed:.2f} s)",
        markup=False,
        highlight=False,
    )
    render_report(console, report)
    console.print(
        f"Read models caught up: {views['applied']} events folded, position "
        f"{views['position']} of {views['head']} (views in {views_path_for(db)}); "
        "see `healthcard triage` and `healthcard booking`.",
        markup=False,
        highlight=False,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        summary = out / "summary.json"
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
        summary.write_text(text + "\n", encoding="utf-8")
        console.print(f"Summary written to {summary}", markup=False, highlight=False)
        for path in qr_files:
            console.print(f"QR file written to {path}", markup=False, highlight=False)
        if qr_files:
            # The token lives a minute of *simulated* time: verify it at that moment.
            console.print(
                f"Verify offline: healthcard qr verify --keys {out / 'keys' / 'public.json'} "
                f"--token-file {out / 'qr-signed.txt'} --mode test "
                f"--at {clock.now.isoformat(timespec='seconds')}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


@app.command()
@exits_on_domain_error
def audit(
    card: Annotated[str, typer.Argument(help="The card id (a UUID).")],
    db: Annotated[Path, typer.Option(help="SQLite event log.", exists=True, dir_okay=False)] = Path(
        DEMO_DB
    ),
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for scripts.")] = False,
) -> None:
    """List who did what to a card, through which channel and institution."""
    try:
        card_id = UUID(card)
    except ValueError:
        raise typer.BadParameter("not a UUID", param_hint="CARD") from None
    health = HealthCardApp(local_sqlite_env(db))
    try:
        health.card(card_id)  # CardNotFound -> error[card_not_found], exit 2
        entries = audit_trail(health, card_id)
    finally:
        health.close()
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
    Console().print(table)


def _write_demo_qr(health: HealthCardApp, out: Path) -> list[Path]:
    """QR files for the first formal, normal card bound to an account (see qr.demo_output)."""
    for notification in health.recorder.select_notifications(1, 1_000_000, topics=[Bound.TOPIC]):
        event = health.mapper.to_domain_event(notification)
        if not isinstance(event, Bound):
            continue
        card = health.card(event.originator_id)
        if (
            card.is_formal
            and card.status is CardStatus.NORMAL
            and event.account_id in card.accounts
        ):
            account = health.repository.get(event.account_id, projector_func=Account.project)
            if isinstance(account, Account) and account.identifier is not None:
                ref = AccountRef(kind=account.kind, identifier=account.identifier)
                return write_demo_qr(health, card.id, ref, out)
    return []


def _remove_old_log(db: Path) -> bool:
    """Delete a previous demo log (and its WAL files); refuse anything not SQLite."""
    if not db.exists():
        return False
    if db.is_dir():
        raise typer.BadParameter(f"{db} is a folder", param_hint="--db")
    with db.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise typer.BadParameter(
            f"{db} exists and is not a SQLite database; not deleting it", param_hint="--db"
        )
    for suffix in ("-wal", "-shm", "-journal"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    key_file_for(db).unlink(missing_ok=True)
    views = views_path_for(db)  # read models of the old log go with it
    for suffix in ("", "-wal", "-shm", "-journal"):
        views.with_name(views.name + suffix).unlink(missing_ok=True)
    db.unlink()
    return True


@contextmanager
def _progress(cards: int, steps: int) -> Iterator[ProgressCallback | None]:
    """A transient progress bar on stderr for big days; none for small ones."""
    if cards < PROGRESS_FROM:
        yield None
        return
    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulating", total=steps)

        def advance(phase: str, done: int) -> None:
            bar.update(task, advance=done, description=phase)

        yield advance


def main() -> None:
    """Entry point of the ``healthcard`` console script."""
    app()
