"""Read-model commands: ``booking`` and ``triage`` (tables of the views), and the
``projections status|catch-up|rebuild|gc|run`` group that keeps the views.

Which log: ``--db`` as every command takes it (:mod:`healthcard.cli.options`); with a
SQLite log the views live beside it (``FILE.views.sqlite3``), with PostgreSQL in the
log's database. Names and document numbers are shown masked: the read models never
hold clear values. Departments, doctors and names print as written, markup and all
(:func:`healthcard.cli.options.console` reads none), since they are typed by people.

What only reads leaves the files as it found them: ``projections status`` and
``booking``/``triage --no-catch-up`` open the log and the views read-only; ``booking``
and ``triage`` that catch up first open the log read-only and write only the views.
A query that finds nothing is an answer, not an error: it says so in one line, names
the departments that do have sessions that day, and exits 0. Every table fits an
80-column terminal (values too long for it wrap, they are never cut), and every
command that reads has ``--json``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from healthcard.cli.errors import new_app
from healthcard.cli.options import (
    DbOption,
    JsonOption,
    console,
    event_store_env,
    open_log,
    open_views,
    parse_day,
    parse_time,
    print_json,
    utf8_text,
)
from healthcard.cli.progress import progress
from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels import Projections, Projector, open_projections, rebuild, status
from healthcard.readmodels.builders import STALE_AFTER_SECONDS
from healthcard.readmodels.connect import views_file_for
from healthcard.readmodels.hygiene import (
    BUILDING,
    LIVE,
    STALE,
    VersionStatus,
    collect_garbage,
)
from healthcard.readmodels.schema import version_of_table
from healthcard.readmodels.views import AppointmentView, SessionView, TriageDay, TriageEntry

app = new_app(help="Booking and triage read models.")
projections_app = new_app(
    name="projections",
    help="Booking and triage read models: status, catch-up, rebuild, gc, run a worker.",
)
app.add_typer(projections_app, name="projections")

DepartmentOption = Annotated[str, typer.Option(help="Department code.", callback=utf8_text)]
DateOption = Annotated[str, typer.Option(help="Day, YYYY-MM-DD.")]
CatchUpOption = Annotated[
    bool,
    typer.Option(help="Catch the views up first (--no-catch-up: read them as they are)."),
]
StaleAfterOption = Annotated[
    float,
    typer.Option(
        min=0,
        help="Seconds without a heartbeat after which a build on another host counts "
        "as stale (a build on this host is judged by its process).",
    ),
]


def _table(*columns: str, title: str | None = None) -> Table:
    """A table whose values wrap within their cells rather than being cut."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _print(out: Console, table: Table) -> None:
    """Print ``table`` framed when it fits the terminal, else in the compact style: a
    rule under the header, one space between columns, no border. Why: the widest (the
    triage queue, nine columns) then fits 80 columns; only values longer than the
    terminal allows still wrap, within their cells."""
    # The table's own measure: ``Measurement.get`` would clamp it to the terminal.
    if table.__rich_measure__(out, out.options).maximum > out.width:
        table.box = box.SIMPLE_HEAD
        table.show_edge = False
        table.padding = (0, 0)
    out.print(table)


def _views_file(db: Path | None) -> Path | None:
    """The SQLite views file of the chosen log (None: the views live in PostgreSQL)."""
    return views_file_for(event_store_env(db))


@contextmanager
def _views_to_write(db: Path | None) -> Iterator[Projections]:
    """The log read-only and its views opened for writing (created if missing): for
    the commands that change only the views."""
    views = _views_file(db)
    with (
        open_log(db, read_only=True) as log,
        open_projections(app=log, views_path=views) as projections,
    ):
        yield projections


@contextmanager
def _views_for_reading(db: Path | None, *, catch_up: bool) -> Iterator[Projections]:
    """The log read-only, and its views: read-only too, or (``catch_up``) opened for
    writing and caught up, the only file a query then writes."""
    if not catch_up:
        with open_views(db, read_only=True) as projections:
            yield projections
        return
    with _views_to_write(db) as projections:
        Projector(projections.app, projections.store).catch_up()
        yield projections


# -- projections ---------------------------------------------------------------------------


@projections_app.command("status")
def status_command(
    db: DbOption = None,
    as_json: JsonOption = False,
    stale_after: StaleAfterOption = STALE_AFTER_SECONDS,
) -> None:
    """Served version, position, head of the log, lag, and every version: live,
    building, stale (its builder is gone) or old (kept by --keep-old)."""
    views = _views_file(db)
    if views is not None and not views.exists():
        with open_log(db, read_only=True) as log:  # no read models yet: nothing to open
            state = status(log, None)
    else:
        with open_views(db, read_only=True) as projections:
            state = status(projections.app, projections.store, stale_after=stale_after)
    if as_json:
        print_json(state.to_json())
        return
    out = console()
    out.print(
        f"version {state.version or '-'}  position {state.position:,}  head {state.head:,}  "
        f"lag {state.lag:,}  applied {state.applied:,}",
    )
    if not state.versions:
        typer.echo("no read models yet: `healthcard projections catch-up` builds them")
        return
    table = _table("version", "state", "position", "applied", "created (UTC)", "heartbeat")
    for v in state.versions:
        table.add_row(
            str(v.version),
            v.state,
            f"{v.position:,}",
            f"{v.applied:,}",
            v.created_at[:19].replace("T", " "),
            _age(v.heartbeat_age) if v.state in (BUILDING, STALE) else "",
        )
    _print(out, table)
    for v in state.versions:
        if v.state in (BUILDING, STALE):
            out.print(_builder_line(v))
    if any(v.state not in (BUILDING, LIVE) for v in state.versions):
        out.print("`healthcard projections gc` drops stale and old versions")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{max(0.0, seconds):.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def _builder_line(v: VersionStatus) -> str:
    builder = v.builder
    who = "no builder recorded" if builder is None else f"pid {builder.pid} on {builder.host}"
    verdict = "gone" if v.state == STALE else "at work"
    return f"version {v.version} {v.state}: {who}, {verdict}"


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
    stale_after: StaleAfterOption = STALE_AFTER_SECONDS,
) -> None:
    """Build a new version from the whole log beside the served one, then swap it in.

    Drops the versions of dead builds first (as `projections gc` would)."""
    with open_views(db) as projections, progress("rebuilding") as bar:
        result = rebuild(
            projections.app,
            projections.store,
            progress=bar.reach,
            keep_old=keep_old,
            reader_env=projections.reader_env,
            stale_after=stale_after,
        )
    if result.cleaned:
        typer.echo(f"dropped stale versions first: {', '.join(map(str, result.cleaned))}")
    replaced = f" (replaced version {result.replaced})" if result.replaced else ""
    typer.echo(
        f"version {result.version} serves{replaced}: {result.position:,} events "
        f"({result.applied:,} folded) in {result.seconds:.2f} s, "
        f"{result.events_per_second:,.0f} ev/s"
    )


@projections_app.command("gc")
def gc_command(
    db: DbOption = None,
    as_json: JsonOption = False,
    compact: Annotated[
        bool,
        typer.Option(help="SQLite: rewrite the views file afterwards so that it shrinks."),
    ] = True,
    stale_after: StaleAfterOption = STALE_AFTER_SECONDS,
) -> None:
    """Drop stale builds and old versions with their tables; never the served version
    nor a running build. On SQLite the file is then compacted (VACUUM)."""
    views = _views_file(db)
    if views is not None and not views.exists():
        if as_json:
            print_json({"dropped": [], "kept": [], "tables": []})
        else:
            typer.echo(f"nothing to collect: no read models at {views}")
        return
    with _views_to_write(db) as projections:
        result = collect_garbage(projections.store, stale_after=stale_after, compact=compact)
    if as_json:
        print_json(result.to_json())
        return
    for v in result.dropped:
        typer.echo(f"dropped version {v.version} ({v.state}), {v.applied:,} events folded")
    versions = {v.version for v in result.dropped}
    leftovers = [t for t in result.tables if version_of_table(t) not in versions]
    if leftovers:
        typer.echo(f"dropped {len(leftovers)} tables of no version: {', '.join(leftovers)}")
    if not result.dropped and not leftovers:
        typer.echo("nothing to drop")
    for v in result.kept:
        typer.echo(f"kept version {v.version} ({v.state})")
    compacted = " (compacted)" if result.compacted else ""
    typer.echo(f"views: {result.bytes_before:,} -> {result.bytes_after:,} bytes{compacted}")


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


# -- booking and triage --------------------------------------------------------------------


def _no_sessions(department: str, day: dt.date, departments: Sequence[str]) -> str:
    """The one line for a department and day without sessions (it starts as the
    header of an answer does: department and day)."""
    if not departments:
        return f"{department} {day}: no sessions, nor for any other department that day"
    return (
        f"{department} {day}: no sessions; departments with sessions that day: "
        f"{', '.join(departments)}"
    )


@app.command()
def triage(
    department: DepartmentOption,
    date: DateOption,
    db: DbOption = None,
    at: Annotated[
        str | None,
        typer.Option(help="As of this time (ISO, China time); default now."),
    ] = None,
    catch_up: CatchUpOption = True,
    as_json: JsonOption = False,
) -> None:
    """A department's triage desk on a day: queue, waiting times, no-shows (masked)."""
    the_day = parse_day(date)
    now = dt.datetime.now(CHINA_TZ) if at is None else parse_time(at)
    with _views_for_reading(db, catch_up=catch_up) as projections:
        store = projections.store
        has_sessions = bool(store.sessions(department, the_day))
        departments = store.departments(the_day)
        view = store.triage_day(department, the_day, now)
    if as_json:
        print_json({**_triage_json(view, now), "departments_that_day": departments})
        return
    if not has_sessions:
        typer.echo(_no_sessions(department, the_day, departments))
        return
    out = console()
    seen = sum(1 for e in view.queue if e.status == "seen")
    out.print(
        f"{department} {the_day}: {len(view.expected)} expected, {len(view.queue)} checked in, "
        f"{seen} seen, {len(view.no_shows)} no-shows (as of {now:%Y-%m-%d %H:%M})",
    )
    queue = _table(
        "no.",
        "name",
        "document",
        "doctor",
        "period",
        "via",
        "in",
        "wait",
        "status",
        title="check-in queue (in: arrival; wait: minutes)",
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
    _print(out, queue)
    if view.no_shows:
        _print(out, _appointments_table("no-shows", view.no_shows))


def _triage_json(view: TriageDay, now: dt.datetime) -> dict[str, Any]:
    return {
        "department": view.department,
        "day": view.day.isoformat(),
        "as_of": now.isoformat(),
        "expected": [_appointment_json(a) for a in view.expected],
        "queue": [_entry_json(e) for e in view.queue],
        "no_shows": [_appointment_json(a) for a in view.no_shows],
    }


def _entry_json(e: TriageEntry) -> dict[str, Any]:
    return {
        "queue_no": e.queue_no,
        "appointment_id": str(e.appointment_id),
        "card_id": str(e.card_id),
        "session_id": str(e.session_id),
        "doctor": e.doctor,
        "period": e.period,
        "masked_name": e.masked_name,
        "masked_document": e.masked_document,
        "credential": e.credential,
        "checked_in_at": e.checked_in_at.isoformat(),
        "status": e.status,
        "seen_at": None if e.seen_at is None else e.seen_at.isoformat(),
        "waiting_minutes": round(e.waiting_minutes, 1),
    }


@app.command()
def booking(
    department: DepartmentOption,
    date: DateOption,
    db: DbOption = None,
    at: Annotated[
        str | None,
        typer.Option(help="Statuses as of this time (ISO, China time); default now."),
    ] = None,
    catch_up: CatchUpOption = True,
    as_json: JsonOption = False,
) -> None:
    """A department's clinic sessions on a day, with places and appointments (masked)."""
    the_day = parse_day(date)
    today = (dt.datetime.now(CHINA_TZ) if at is None else parse_time(at)).date()
    with _views_for_reading(db, catch_up=catch_up) as projections:
        store = projections.store
        sessions = store.sessions(department, the_day)
        lists = {s.session_id: store.session_appointments(s.session_id, today) for s in sessions}
        departments = store.departments(the_day)
    if as_json:
        print_json(
            {
                "department": department,
                "day": the_day.isoformat(),
                "as_of_day": today.isoformat(),
                "sessions": [_session_json(s, lists[s.session_id]) for s in sessions],
                "departments_that_day": departments,
            }
        )
        return
    if not sessions:
        typer.echo(_no_sessions(department, the_day, departments))
        return
    out = console()
    table = _table(
        "doctor",
        "period",
        "capacity",
        "booked",
        "remaining",
        title=f"{department} {the_day}: sessions",
    )
    for s in sessions:
        table.add_row(s.doctor, s.period, str(s.capacity), str(s.booked), str(s.remaining))
    _print(out, table)
    for s in sessions:
        if lists[s.session_id]:
            _print(out, _appointments_table(f"{s.doctor} {s.period}", lists[s.session_id]))


def _session_json(s: SessionView, appointments: Sequence[AppointmentView]) -> dict[str, Any]:
    return {
        "session_id": str(s.session_id),
        "doctor": s.doctor,
        "period": s.period,
        "capacity": s.capacity,
        "booked": s.booked,
        "remaining": s.remaining,
        "appointments": [_appointment_json(a) for a in appointments],
    }


def _appointment_json(a: AppointmentView) -> dict[str, Any]:
    return {
        "appointment_id": str(a.appointment_id),
        "session_id": str(a.session_id),
        "card_id": str(a.card_id),
        "doctor": a.doctor,
        "period": a.period,
        "status": a.status,
        "booked_at": a.booked_at.isoformat(),
        "masked_name": a.masked_name,
        "masked_document": a.masked_document,
        "credential": a.credential,
        "queue_no": a.queue_no,
    }


def _appointments_table(title: str, rows: Sequence[AppointmentView]) -> Table:
    table = _table("name", "document", "booked at", "status", "queue no.", title=title)
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
