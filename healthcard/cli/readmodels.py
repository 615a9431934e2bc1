"""Read-model commands: ``booking`` and ``triage`` (tables of the views), and the
``projections status|catch-up|rebuild|run`` group that keeps the views.

Which log: ``--db`` as every command takes it (:mod:`healthcard.cli.options`); with a
SQLite log the views live beside it (``FILE.views.sqlite3``), with PostgreSQL in the
log's database. Names and document numbers are shown masked: the read models never
hold clear values. Departments, doctors and names print as written, markup and all
(:func:`healthcard.cli.options.console` reads none), since they are typed by people.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Annotated

import typer
from rich.table import Table

from healthcard.cli.errors import new_app
from healthcard.cli.options import (
    DbOption,
    JsonOption,
    console,
    open_views,
    parse_day,
    parse_time,
    utf8_text,
)
from healthcard.cli.progress import progress
from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels import Projections, Projector, rebuild, status
from healthcard.readmodels.views import AppointmentView

app = new_app(help="Booking and triage read models.")
projections_app = new_app(
    name="projections",
    help="Booking and triage read models: status, catch-up, rebuild, run a worker.",
)
app.add_typer(projections_app, name="projections")

DepartmentOption = Annotated[str, typer.Option(help="Department code.", callback=utf8_text)]
DateOption = Annotated[str, typer.Option(help="Day, YYYY-MM-DD.")]


@projections_app.command("status")
def status_command(
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Served version, position, head of the log, lag, and every version's state."""
    with open_views(db) as projections:
        state = status(projections.app, projections.store)
    if as_json:
        typer.echo(json.dumps(state.to_json()))
        return
    out = console()
    out.print(
        f"version {state.version or '-'}  position {state.position:,}  head {state.head:,}  "
        f"lag {state.lag:,}  applied {state.applied:,}",
    )
    table = Table("version", "state", "position", "applied", "created (UTC)")
    for v in state.versions:
        table.add_row(str(v.version), v.state, f"{v.position:,}", f"{v.applied:,}", v.created_at)
    out.print(table)


@projections_app.command("catch-up")
def catch_up_command(db: DbOption = None) -> None:
    """Fold what the log holds beyond the served version's position."""
    with open_views(db) as projections, progress("catching up") as bar:
        applied = Projector(projections.app, projections.store).catch_up(progress=bar.reach)
        state = status(projections.app, projections.store)
    typer.echo(f"applied {applied:,} events; version {state.version} at {state.position:,}")


@projections_app.command("rebuild")
def rebuild_command(
    db: DbOption = None,
    keep_old: Annotated[bool, typer.Option(help="Keep the replaced version's tables.")] = False,
) -> None:
    """Build a new version from the whole log beside the served one, then swap it in."""
    with open_views(db) as projections, progress("rebuilding") as bar:
        result = rebuild(
            projections.app,
            projections.store,
            progress=bar.reach,
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

    For a worker under a process manager, ``python -m healthcard.readmodels.runner``
    does the same and stops cleanly on SIGTERM.
    """
    stop = threading.Event()
    with open_views(db) as projections:
        typer.echo("keeping the views current; Ctrl-C to stop", err=True)
        try:
            Projector(projections.app, projections.store).run(stop, poll_seconds=poll)
        except KeyboardInterrupt:
            stop.set()


def _catch_up(projections: Projections) -> None:
    Projector(projections.app, projections.store).catch_up()


@app.command()
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
    the_day = parse_day(date)
    now = dt.datetime.now(CHINA_TZ) if at is None else parse_time(at)
    with open_views(db) as projections:
        if catch_up:
            _catch_up(projections)
        view = projections.store.triage_day(department, the_day, now)
    out = console()
    seen = sum(1 for e in view.queue if e.status == "seen")
    out.print(
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
    out.print(queue)
    if view.no_shows:
        out.print(_appointments_table("no-shows", view.no_shows))


@app.command()
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
    the_day = parse_day(date)
    today = (dt.datetime.now(CHINA_TZ) if at is None else parse_time(at)).date()
    with open_views(db) as projections:
        if catch_up:
            _catch_up(projections)
        sessions = projections.store.sessions(department, the_day)
        lists = {
            s.session_id: projections.store.session_appointments(s.session_id, today)
            for s in sessions
        }
    out = console()
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
    out.print(table)
    for s in sessions:
        if lists[s.session_id]:
            out.print(_appointments_table(f"{s.doctor} {s.period}", lists[s.session_id]))


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


__all__ = ["app", "booking", "projections_app", "triage"]
