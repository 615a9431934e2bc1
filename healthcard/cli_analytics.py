"""Analytics commands of the ``healthcard`` CLI: ``history``, ``as-of``, ``export``, ``stats``.

Why a module of its own: the commands only read the log (through
:mod:`healthcard.analytics`), and the main CLI mounts them with :func:`register`
(``register(app)``); ``analytics_app`` runs them standalone
(``python -m healthcard.cli_analytics``).

Which log: ``--db FILE`` opens a SQLite file the way the demo wrote it (encrypted at
rest when ``FILE.key`` exists). Without ``--db``, eventsourcing's environment
variables (``PERSISTENCE_MODULE``, ``POSTGRES_*``, ``CIPHER_KEY`` ...) are used when
set, else the demo's file ``healthcard-demo.sqlite3``.

Output: tables for people, ``--json`` for scripts (one JSON document on stdout);
progress bars go to stderr and only for work that reads the whole log. Personal data
is masked unless ``--clear`` is given. A domain error prints ``error[<code>]: ...``
and exits with status 2; bad options exit with status 2 from typer.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from healthcard.analytics.export import ExportFormat, export_log
from healthcard.analytics.funnel import STAGES, GroupBy, Stats, compute_stats
from healthcard.analytics.history import (
    card_as_of_time,
    card_as_of_version,
    card_history,
    describe_card,
)
from healthcard.analytics.log import LogFilter, LogReader, resolve_event_types
from healthcard.application import HealthCardApp
from healthcard.cli_support import exits_on_domain_error
from healthcard.domain.clinic_values import CHINA_TZ
from healthcard.persistence import local_sqlite_env

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_DB = "healthcard-demo.sqlite3"

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite event log (as written by `healthcard demo`). Default: eventsourcing's "
        f"environment variables when set, else {DEFAULT_DB}.",
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
ClearOption = Annotated[
    bool,
    typer.Option("--clear", help="Show personal data in clear (masked by default)."),
]
SinceOption = Annotated[
    str | None,
    typer.Option(help="Only events at or after this time (ISO date or time; China time)."),
]
UntilOption = Annotated[
    str | None,
    typer.Option(help="Only events before this time (ISO date or time; China time)."),
]

analytics_app = typer.Typer(
    name="healthcard-analytics",
    help="Replay, export and count the health card event log.",
    no_args_is_help=True,
    add_completion=False,
)


def exits_on_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Domain errors (and bad values found late) become ``error[...]`` and exit 2."""
    guarded = exits_on_domain_error(command)

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return guarded(*args, **kwargs)
        except ValueError as error:
            typer.echo(f"error[invalid_input]: {error}", err=True)
            raise typer.Exit(2) from None

    return wrapper


# -- helpers ------------------------------------------------------------------------------


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """An aware time from ISO text; a date alone is its start (or end) in China time,
    a time without offset is China time."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, CHINA_TZ)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or time: {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA_TZ)


@contextmanager
def open_log(db: Path | None) -> Iterator[HealthCardApp]:
    """The application over the chosen log, closed afterwards (reads only)."""
    if db is None and os.environ.get("PERSISTENCE_MODULE"):
        app = HealthCardApp()
    else:
        path = db if db is not None else Path(DEFAULT_DB)
        if not path.is_file():
            raise typer.BadParameter(f"no event log at {path}", param_hint="--db")
        app = HealthCardApp(local_sqlite_env(path))
    try:
        yield app
    finally:
        app.close()


@contextmanager
def progress_bar(
    app: HealthCardApp, label: str, enabled: bool
) -> Iterator[Callable[[int], None] | None]:
    """A transient bar on stderr over log positions (none when disabled)."""
    if not enabled:
        yield None
        return
    total = LogReader(app).max_position()
    columns = (
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=max(total, 1))
        yield lambda position: bar.update(task, completed=position)


def brief(data: dict[str, Any]) -> str:
    """``key=value`` pairs (None left out) that wrap at spaces in narrow terminals."""
    parts = []
    for key, value in data.items():
        if value is None:
            continue
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def console() -> Console:
    return Console(highlight=False)


# -- commands ---------------------------------------------------------------------------


@exits_on_errors
def history(
    card: Annotated[UUID, typer.Argument(help="The card's id.")],
    db: DbOption = None,
    related: Annotated[
        bool,
        typer.Option(
            help="Also show other aggregates' events naming the card (reads the whole log)."
        ),
    ] = False,
    clear: ClearOption = False,
    as_json: JsonOption = False,
) -> None:
    """A card's history, oldest first: every event with its time, channel and data."""
    with open_log(db) as app, progress_bar(app, "reading the log", related and not as_json) as tick:
        entries = card_history(app, card, related=related, clear=clear, progress=tick)
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    table = Table(title=f"History of card {card}" + ("" if clear else " (personal data masked)"))
    table.add_column("pos/v", no_wrap=True)
    table.add_column("time (China)", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("channel", overflow="fold")
    table.add_column("data", overflow="fold", ratio=1)
    for entry in entries:
        where = [] if entry.position is None else [str(entry.position)]
        where += [] if entry.version is None else [f"v{entry.version}"]
        table.add_row(
            " ".join(where),
            entry.timestamp.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
            entry.event_type,
            entry.channel,
            brief(entry.data),
        )
    console().print(table)


@exits_on_errors
def as_of(
    card: Annotated[UUID, typer.Argument(help="The card's id.")],
    at: Annotated[
        str | None,
        typer.Argument(
            metavar="TIME",
            help="ISO time (China time unless an offset is given); a date means its end.",
        ),
    ] = None,
    version: Annotated[int | None, typer.Option(help="A version instead of a time.", min=1)] = None,
    db: DbOption = None,
    clear: ClearOption = False,
    as_json: JsonOption = False,
) -> None:
    """The state of a card as it was at a time (or at a version)."""
    if (at is None) == (version is None):
        raise typer.BadParameter("give either TIME or --version")
    with open_log(db) as app:
        if at is not None:
            state = card_as_of_time(app, card, parse_time(at, end_of_day=True))
        else:
            state = card_as_of_version(app, card, version or 1)
    view = describe_card(state, clear=clear)
    if as_json:
        print_json(view)
        return
    when = f"version {version}" if version is not None else at
    table = Table(title=f"Card {card} as of {when}" + ("" if clear else " (masked)"))
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in view.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
        table.add_row(key, "" if value is None else shown)
    console().print(table)


@exits_on_errors
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write.", dir_okay=False)],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="jsonl, csv or parquet (default: from --out's suffix)."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only this event type (class name or topic); repeatable."),
    ] = None,
    card: Annotated[UUID | None, typer.Option(help="Only events about this card.")] = None,
    db: DbOption = None,
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Export personal data in clear (masked by default)."),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(help="Events per batch read and written.", min=1)
    ] = 5_000,
    as_json: JsonOption = False,
) -> None:
    """Export the log, or a filtered slice, streaming (personal data masked by default)."""
    flt = LogFilter(
        since=None if since is None else parse_time(since),
        until=None if until is None else parse_time(until),
        topics=resolve_event_types(event_type or ()),
        card_id=card,
    )
    with open_log(db) as app, progress_bar(app, f"exporting to {out.name}", not as_json) as tick:
        summary = export_log(app, out, fmt, flt, clear=clear, batch_size=batch_size, progress=tick)
    result = {
        "path": str(summary.path),
        "format": summary.format.value,
        "rows": summary.rows,
        "masked": summary.masked,
        "last_position": summary.last_position,
    }
    if as_json:
        print_json(result)
        return
    table = Table(title="Export")
    table.add_column("field")
    table.add_column("value")
    for key, value in result.items():
        table.add_row(key, str(value))
    console().print(table)
    if clear:
        typer.echo("warning: the file holds personal data in clear; protect it.", err=True)


@exits_on_errors
def stats(
    by: Annotated[
        GroupBy | None, typer.Option(help="Group the funnel by registration channel or day.")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_of_day: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Sessions before this date count for no-shows (default: last event's date).",
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Funnel (registered -> identity -> bound -> appointment -> checked in -> seen),
    channel mix and no-show rate."""
    with open_log(db) as app, progress_bar(app, "counting", not as_json) as tick:
        figures = compute_stats(
            app,
            by=by,
            since=None if since is None else parse_time(since),
            until=None if until is None else parse_time(until),
            as_of=None if as_of_day is None else date.fromisoformat(as_of_day),
            progress=tick,
        )
    if as_json:
        print_json(figures.to_json())
        return
    render_stats(console(), figures)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_stats(out: Console, figures: Stats) -> None:
    """Tables of the funnel, the channel mix and the no-show figures."""
    funnel = Table(title="Funnel (cards; conversion from the previous stage)")
    funnel.add_column(figures.by.value if figures.by is not None else "group")
    for stage in STAGES:
        funnel.add_column(stage.replace("_", " "), justify="right")
    rows = figures.rows if figures.by is not None else []
    for row in [*rows, figures.total]:
        cells = [f"{row.counts[STAGES[0]]}"]
        cells += [f"{row.counts[s]} ({_pct(row.conversion(s))})" for s in STAGES[1:]]
        funnel.add_row(row.group, *cells)
    out.print(funnel)
    mix = Table(title="Channel mix (registrations)")
    mix.add_column("channel")
    mix.add_column("cards", justify="right")
    mix.add_column("share", justify="right")
    registered = sum(figures.channel_mix.values())
    for channel, count in figures.channel_mix.items():
        mix.add_row(channel, str(count), _pct(count / registered if registered else None))
    out.print(mix)
    shows = figures.no_shows
    out.print(
        f"Appointments: {figures.appointments} booked, {figures.cancelled} cancelled; "
        f"sessions before {shows.as_of}: {shows.past_appointments} due, "
        f"{shows.checked_in} checked in, {shows.no_shows} no-shows "
        f"(no-show rate {_pct(shows.rate)}). "
        f"Check-ins by credential: {figures.check_in_credentials or '-'}; "
        f"card uses by channel: {figures.usage_channels or '-'}."
    )


COMMANDS: dict[str, Callable[..., None]] = {
    "history": history,
    "as-of": as_of,
    "export": export,
    "stats": stats,
}


def register(app: typer.Typer) -> None:
    """Mount the analytics commands on a typer app (the main ``healthcard`` CLI)."""
    for name, command in COMMANDS.items():
        app.command(name)(command)


register(analytics_app)


if __name__ == "__main__":
    analytics_app()
