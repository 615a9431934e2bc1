"""Analytics commands: ``history``, ``as-of``, ``export``, ``stats`` (they only read).

Mounted on the main command (``healthcard history ...``); ``app`` also runs them
standalone. Each opens the log read-only (``open_log(db, read_only=True)``) and
changes nothing; ``export`` writes only its ``--out`` file, checked before the log is
read (:mod:`healthcard.cli.outputs`). Which log, times and ``--json``:
:mod:`healthcard.cli.options`. Output: tables for people, ``--json`` for scripts (one
JSON document on stdout); progress bars go to stderr, on a terminal only, for work
that reads the whole log. Personal data is masked
unless ``--clear`` is given; ``export`` masks by the export's k rules and, with
``--pseudonymise``, also replaces the ids that would join the file to other data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from healthcard.analytics.export import ExportFormat, export_log, load_salt
from healthcard.analytics.funnel import STAGES, GroupBy, Stats, compute_stats
from healthcard.analytics.history import card_as_of_time, card_history, describe_card
from healthcard.analytics.log import LogFilter, LogReader, resolve_event_types
from healthcard.cli.errors import cannot_run, new_app
from healthcard.cli.options import (
    SQLITE_MAX_INTEGER,
    ClearOption,
    DbOption,
    JsonOption,
    console,
    literal,
    log_path,
    open_log,
    parse_day,
    parse_time,
    print_json,
)
from healthcard.cli.outputs import check_not_log_file, check_output_file, writing
from healthcard.cli.progress import progress
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import InvalidInput

SinceOption = Annotated[
    str | None,
    typer.Option(help="Only events at or after this time (ISO date or time; China time)."),
]
UntilOption = Annotated[
    str | None,
    typer.Option(help="Only events before this time (ISO date or time; China time)."),
]

app = new_app(help="Replay, export and count the event log.")
analytics_app = app
"""The 0.1.0 name of :data:`app`."""


def brief(data: dict[str, Any]) -> str:
    """``key=value`` pairs (None left out) that wrap at spaces in narrow terminals."""
    parts = []
    for key, value in data.items():
        if value is None:
            continue
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        parts.append(f"{key}={shown}")
    return " ".join(parts)


@app.command()
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
    """A card's history, oldest first: every event with its time, channel and data.

    Only reads: the log is opened read-only and left exactly as it was.
    """
    with (
        open_log(db, read_only=True) as health,
        progress("reading the log", enabled=related and not as_json) as bar,
    ):
        total = LogReader(health).max_position()
        entries = card_history(
            health, card, related=related, clear=clear, progress=lambda p: bar.reach(p, total)
        )
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


@app.command("as-of")
def as_of(
    card: Annotated[UUID, typer.Argument(help="The card's id.")],
    at: Annotated[
        str | None,
        typer.Argument(
            metavar="TIME",
            help="ISO time (China time unless an offset is given); a date means its end.",
        ),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option(help="A version instead of a time.", min=1, max=SQLITE_MAX_INTEGER),
    ] = None,
    db: DbOption = None,
    clear: ClearOption = False,
    as_json: JsonOption = False,
) -> None:
    """The state of a card as it was at a time (or at a version).

    Only reads: the log is opened read-only and left exactly as it was.
    """
    if (at is None) == (version is None):
        raise typer.BadParameter("give either TIME or --version")
    with open_log(db, read_only=True) as health:
        if at is not None:
            state = card_as_of_time(health, card, parse_time(at, end_of_day=True, param="TIME"))
        else:
            state = health.card_as_of(card, version or 1)
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


@app.command()
def export(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="File to write (replaced if it exists; its folder must exist). Never one "
            "of the log's own files.",
        ),
    ],
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
        int,
        typer.Option(help="Events per batch read and written.", min=1, max=SQLITE_MAX_INTEGER),
    ] = 5_000,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise",
            help="Replace card, appointment and correlation ids by pseudonyms under a salt "
            "drawn for this export only (two exports cannot be joined by them).",
        ),
    ] = False,
    salt_file: Annotated[
        Path | None,
        typer.Option(
            "--pseudonym-salt-file",
            help="Pseudonymise under the salt kept in this file (created, mode 0600, if "
            "missing), so that exports made with the same file can be joined.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Export the log, or a filtered slice, streaming (personal data masked by default).

    The log is only read (opened read-only). A path that cannot be written (a folder,
    a folder that does not exist, one of the log's own files) is refused before the
    log is read, in one line naming it.
    """
    if clear and (pseudonymise or salt_file is not None):
        raise InvalidInput("--pseudonymise", "pseudonyms are for masked exports, not --clear")
    _check_export_paths(out, salt_file, db)
    salt = None if salt_file is None else load_salt(salt_file)
    flt = LogFilter(
        since=None if since is None else parse_time(since, param="--since"),
        until=None if until is None else parse_time(until, param="--until"),
        topics=resolve_event_types(event_type or ()),
        card_id=card,
    )
    # A bar's label is rich markup: the file name in it is escaped to show as written.
    label = f"exporting to {escape(out.name)}"
    # The bar closes before a write error is printed, so that error is the one line.
    with (
        open_log(db, read_only=True) as health,
        writing(out, "--out"),
        progress(label, enabled=not as_json) as bar,
    ):
        total = LogReader(health).max_position()
        summary = export_log(
            health,
            out,
            fmt,
            flt,
            clear=clear,
            batch_size=batch_size,
            progress=lambda position: bar.reach(position, total),
            pseudonymise=pseudonymise,
            salt=salt,
        )
    result = {
        "path": str(summary.path),
        "format": summary.format.value,
        "rows": summary.rows,
        "masked": summary.masked,
        "pseudonymised": summary.pseudonymised,
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


def _check_export_paths(out: Path, salt_file: Path | None, db: Path | None) -> None:
    """Refuse what cannot be written, before the log is read: ``--out`` (a folder, in a
    missing folder, one of the log's files, the salt file) and a salt file to create."""
    check_output_file(out, "--out")
    log = log_path(db)
    check_not_log_file(out, log, "--out")
    if salt_file is None:
        return
    if salt_file.is_dir():
        cannot_run(f"cannot use {salt_file} (--pseudonym-salt-file): it is a directory")
    if not salt_file.exists():
        check_output_file(salt_file, "--pseudonym-salt-file")
    check_not_log_file(salt_file, log, "--pseudonym-salt-file")
    if os.path.realpath(salt_file) == os.path.realpath(out):
        cannot_run(f"cannot write {out} (--out): it is the salt file")


@app.command()
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
    channel mix and no-show rate.

    Only reads: the log is opened read-only and left exactly as it was.
    """
    with open_log(db, read_only=True) as health, progress("counting", enabled=not as_json) as bar:
        total = LogReader(health).max_position()
        figures = compute_stats(
            health,
            by=by,
            since=None if since is None else parse_time(since, param="--since"),
            until=None if until is None else parse_time(until, param="--until"),
            as_of=None if as_of_day is None else parse_day(as_of_day, param="--as-of"),
            progress=lambda position: bar.reach(position, total),
        )
    if as_json:
        print_json(figures.to_json())
        return
    render_stats(console(), figures)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_stats(out: Console, figures: Stats) -> None:
    """Tables of the funnel, the channel mix and the no-show figures.

    ``out`` may be any console (one that reads markup too): values from the log are
    given as :func:`~healthcard.cli.options.literal` text, shown as written.
    """
    funnel = Table(title="Funnel (cards; conversion from the previous stage)")
    funnel.add_column(figures.by.value if figures.by is not None else "group")
    for stage in STAGES:
        funnel.add_column(stage.replace("_", " "), justify="right")
    rows = figures.rows if figures.by is not None else []
    for row in [*rows, figures.total]:
        cells = [f"{row.counts[STAGES[0]]}"]
        cells += [f"{row.counts[s]} ({_pct(row.conversion(s))})" for s in STAGES[1:]]
        funnel.add_row(literal(row.group), *cells)
    out.print(funnel)
    mix = Table(title="Channel mix (registrations)")
    mix.add_column("channel")
    mix.add_column("cards", justify="right")
    mix.add_column("share", justify="right")
    registered = sum(figures.channel_mix.values())
    for channel, count in figures.channel_mix.items():
        mix.add_row(literal(channel), str(count), _pct(count / registered if registered else None))
    out.print(mix)
    shows = figures.no_shows
    out.print(
        literal(
            f"Appointments: {figures.appointments} booked, {figures.cancelled} cancelled; "
            f"sessions before {shows.as_of}: {shows.past_appointments} due, "
            f"{shows.checked_in} checked in, {shows.no_shows} no-shows "
            f"(no-show rate {_pct(shows.rate)}). "
            f"Check-ins by credential: {figures.check_in_credentials or '-'}; "
            f"card uses by channel: {figures.usage_channels or '-'}."
        )
    )


COMMANDS: dict[str, Callable[..., None]] = {
    "history": history,
    "as-of": as_of,
    "export": export,
    "stats": stats,
}


def register(parent: typer.Typer) -> None:
    """Mount the analytics commands on another typer app (0.1.0's way; the main
    command mounts :data:`app` like every other area)."""
    for name, command in COMMANDS.items():
        parent.command(name)(command)


if __name__ == "__main__":
    app()
