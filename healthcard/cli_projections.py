"""CLI of the read models: ``projections status|catch-up|rebuild|run`` and the
``triage`` / ``booking`` views as tables.

Mount on the main CLI with ``app.add_typer(projections_app, name="projections")``,
``app.command()(triage)`` and ``app.command()(booking)``. Every command takes
``--db`` (the SQLite event store; the views live beside it) or, without it, reads
eventsourcing's environment variables (PostgreSQL: ``POSTGRES_*``). Names and
document numbers are shown masked: the read models never hold clear values.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from healthcard.domain.clinic_values import CHINA_TZ
from healthcard.persistence import local_sqlite_env
from healthcard.projections import Projector, open_projections, rebuild, status
from healthcard.projections.connect import Projections
from healthcard.projections.logreader import Progress as ProgressCallback
from healthcard.projections.views import AppointmentView

projections_app = typer.Typer(
    name="projections",
    help="Booking and triage read models: status, catch-up, rebuild, run a worker.",
    no_args_is_help=True,
    add_completion=False,
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        help="SQLite event store (the views are beside it, FILE.views.sqlite3). "
        "Default: eventsourcing's environment variables.",
        dir_okay=False,
    ),
]
DepartmentOption = Annotated[str, typer.Option(help="Department code.")]
DateOption = Annotated[str, typer.Option(help="Day, YYYY-MM-DD.")]


def _open(db: Path | None) -> Projections:
    if db is not None and not db.exists():
        raise typer.BadParameter(f"{db} does not exist", param_hint="--db")
    return open_projections(local_sqlite_env(db) if db is not None else None)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--date") from None


@contextmanager
def _bar(console: Console, label: str) -> Iterator[ProgressCallback]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None, rate="")

        def advance(position: int, head: int) -> None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=position, total=head, rate=f"{position / elapsed:,.0f} ev/s")

        yield advance


@projections_app.command("status")
def status_command(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Served version, position, head of the log, lag, and every version's state."""
    with _open(db) as projections:
        state = status(projections.app, projections.store)
    if as_json:
        typer.echo(json.dumps(state.to_json()))
        return
    console = Console()
    console.print(
        f"version {state.version or '-'}  position {state.position:,}  head {state.head:,}  "
        f"lag {state.lag:,}  applied {state.applied:,}",
        highlight=False,
    )
    table = Table("version", "state", "position", "applied", "created (UTC)")
    for v in state.versions:
        table.add_row(str(v.version), v.state, f"{v.position:,}", f"{v.applied:,}", v.created_at)
    console.print(table)


@projections_app.command("catch-up")
def catch_up_command(db: DbOption = None) -> None:
    """Fold what the log holds beyond the served version's position."""
    console = Console(stderr=True)
    with _open(db) as projections, _bar(console, "catching up") as advance:
        applied = Projector(projections.app, projections.store).catch_up(progress=advance)
        state = status(projections.app, projections.store)
    typer.echo(f"applied {applied:,} events; version {state.version} at {state.position:,}")


@projections_app.command("rebuild")
def rebuild_command(
    db: DbOption = None,
    keep_old: Annotated[bool, typer.Option(help="Keep the replaced version's tables.")] = False,
) -> None:
    """Build a new version from the whole log beside the served one, then swap it in."""
    console = Console(stderr=True)
    with _open(db) as projections, _bar(console, "rebuilding") as advance:
        result = rebuild(
            projections.app,
            projections.store,
            progress=advance,
            keep_old=keep_old,
            reader_env=projections.reader_env,
        )
    replaced = f" (replaced version {result.replaced})" if result.replaced else ""
    typer.echo(
        f"version {result.version} serves{replaced}: {result.position:,} events "
        f"({result.applied:,} folded) in {result.seconds:.2f} s, "
        f"{result.events_per_second:,.0f} ev/s"
    )


@projections_app.command("run")
def run_command(
    db: DbOption = None,
    poll: Annotated[float, typer.Option(help="Seconds between polls (SQLite).")] = 0.5,
) -> None:
    """Keep the views current until interrupted (follows PostgreSQL, polls SQLite).

    For a worker under a process manager, ``python -m healthcard.projections.runner``
    does the same and stops cleanly on SIGTERM.
    """
    stop = threading.Event()
    with _open(db) as projections:
        typer.echo("keeping the views current; Ctrl-C to stop", err=True)
        try:
            Projector(projections.app, projections.store).run(stop, poll_seconds=poll)
        except KeyboardInterrupt:
            stop.set()


def _catch_up(projections: Projections) -> None:
    Projector(projections.app, projections.store).catch_up()


def triage(
    department: DepartmentOption,
    date: DateOption,
    db: DbOption = None,
    at: Annotated[
        str | None,
        typer.Option(help="As of this time (ISO, China time); default now."),
    ] = None,
    catch_up: Annotated[bool, typer.Option(help="Catch the views up first.")] = True,
) -> None:
    """A department's triage desk on a day: queue, waiting times, no-shows (masked)."""
    the_day = _day(date)
    now = dt.datetime.now(CHINA_TZ) if at is None else _moment(at)
    with _open(db) as projections:
        if catch_up:
            _catch_up(projections)
        view = projections.store.triage_day(department, the_day, now)
    console = Console()
    seen = sum(1 for e in view.queue if e.status == "seen")
    console.print(
        f"{department} {the_day}: {len(view.expected)} expected, {len(view.queue)} checked in, "
        f"{seen} seen, {len(view.no_shows)} no-shows (as of {now:%Y-%m-%d %H:%M})",
        highlight=False,
    )
    queue = Table(
        "no.",
        "name",
        "document",
        "doctor",
        "period",
        "credential",
        "arrived",
        "waiting (min)",
        "status",
        title="check-in queue",
    )
    for e in view.queue:
        queue.add_row(
            str(e.queue_no),
            e.masked_name or "[erased]",
            e.masked_document or "-",
            e.doctor,
            e.period,
            e.credential,
            f"{e.checked_in_at:%H:%M}",
            f"{e.waiting_minutes:.0f}",
            e.status,
        )
    console.print(queue)
    if view.no_shows:
        console.print(_appointments_table("no-shows", view.no_shows))


def booking(
    department: DepartmentOption,
    date: DateOption,
    db: DbOption = None,
    at: Annotated[
        str | None,
        typer.Option(help="Statuses as of this time (ISO, China time); default now."),
    ] = None,
    catch_up: Annotated[bool, typer.Option(help="Catch the views up first.")] = True,
) -> None:
    """A department's clinic sessions on a day, with places and appointments (masked)."""
    the_day = _day(date)
    today = (dt.datetime.now(CHINA_TZ) if at is None else _moment(at)).date()
    with _open(db) as projections:
        if catch_up:
            _catch_up(projections)
        sessions = projections.store.sessions(department, the_day)
        lists = {
            s.session_id: projections.store.session_appointments(s.session_id, today)
            for s in sessions
        }
    console = Console()
    table = Table(
        "doctor",
        "period",
        "capacity",
        "booked",
        "remaining",
        title=f"{department} {the_day}: sessions",
    )
    for s in sessions:
        table.add_row(s.doctor, s.period, str(s.capacity), str(s.booked), str(s.remaining))
    console.print(table)
    for s in sessions:
        if lists[s.session_id]:
            console.print(_appointments_table(f"{s.doctor} {s.period}", lists[s.session_id]))


def _appointments_table(
    title: str, rows: tuple[AppointmentView, ...] | list[AppointmentView]
) -> Table:
    table = Table("name", "document", "booked at", "status", "queue no.", title=title)
    for a in rows:
        table.add_row(
            a.masked_name or "[erased]",
            a.masked_document or "-",
            f"{a.booked_at:%m-%d %H:%M}",
            a.status,
            "" if a.queue_no is None else str(a.queue_no),
        )
    return table


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            "expected an ISO time, e.g. 2026-11-25T10:30", param_hint="--at"
        ) from None
    return moment.replace(tzinfo=CHINA_TZ) if moment.tzinfo is None else moment


__all__ = ["booking", "projections_app", "triage"]
