"""Options every ``healthcard`` command shares: which log (``--db``), times, ``--json``.

Which log, for every command that reads one (``--db``):

1. ``--db FILE``: that SQLite file, as ``healthcard demo`` writes it (encrypted at
   rest with ``FILE.key`` when that file exists); it must exist;
2. no ``--db`` and ``PERSISTENCE_MODULE`` set: eventsourcing's environment variables
   (``PERSISTENCE_MODULE``, ``POSTGRES_*``, ``CIPHER_KEY`` ...);
3. otherwise the demo's file, ``healthcard-demo.sqlite3`` in the working folder.

Times (``--at``, ``--since``, ``--until``, ``TIME``) are ISO 8601; a time without an
offset is China Standard Time, and a date alone is its start (or its end, where the
command says so).

What the commands print is data, shown as written (:func:`console`, :func:`literal`);
a ``--db`` that SQLite cannot read ends with ``error: FILE is not a healthcard event
log`` and status 2, not a traceback (:func:`reports_unreadable_log`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.text import Text

from healthcard.adapters.persistence import local_sqlite_env
from healthcard.application import HealthCardApp
from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels import Projections, open_projections, views_path_for

DEMO_DB = Path("healthcard-demo.sqlite3")
"""The demo's event log, and the default ``--db`` of every command."""

EXIT_CANNOT_RUN: Final = 2
"""Exit status of a command that could not run (its log unreadable), as for bad options."""

SQLITE_MAX_INTEGER: Final = 2**63 - 1
"""The largest integer SQLite stores: a version or a batch size above it cannot be asked
of the log (the driver would overflow), so options that take one stop there."""

SQLITE_HEADER: Final = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file (an empty file is one too)."""

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite event log (as `healthcard demo` writes it). Default: eventsourcing's "
        f"environment variables when PERSISTENCE_MODULE is set, else {DEMO_DB}.",
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
ClearOption = Annotated[
    bool,
    typer.Option("--clear", help="Show personal data in clear (masked by default)."),
]


def event_store_env(db: Path | None) -> dict[str, str] | None:
    """The eventsourcing settings ``--db`` names (``None``: the process environment's)."""
    if db is None and os.environ.get("PERSISTENCE_MODULE"):
        return None
    path = db if db is not None else DEMO_DB
    if not path.is_file():
        raise typer.BadParameter(f"no event log at {path}", param_hint="--db")
    return local_sqlite_env(path)


def _log_path(db: Path | None) -> Path | None:
    """The SQLite file ``--db`` (or the environment, or the default) names, if any."""
    if db is not None:
        return db
    if not os.environ.get("PERSISTENCE_MODULE"):
        return DEMO_DB
    name = os.environ.get("SQLITE_DBNAME")
    return Path(name) if name and name != ":memory:" else None


NOT_A_DATABASE: Final = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
"""SQLite's codes for a file that is no database, or a damaged one. Other errors (a
locked database, a full disk) are not the file's fault and keep their traceback."""


def _not_a_database(error: BaseException) -> bool:
    """Whether ``error`` is SQLite refusing the file itself, directly or as the cause
    of eventsourcing's own ``DatabaseError``/``OperationalError``."""
    seen: BaseException | None = error
    for _ in range(8):  # a chain of causes, never a long one
        if seen is None:
            return False
        if isinstance(seen, sqlite3.DatabaseError):
            return getattr(seen, "sqlite_errorname", None) in NOT_A_DATABASE
        if seen.__cause__ is not None:
            seen = seen.__cause__
        else:
            seen = None if seen.__suppress_context__ else seen.__context__
    return False


def _is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` starts as an SQLite database does (damage inside not looked at)."""
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return header in (b"", SQLITE_HEADER)


def unreadable_log_message(db: Path | None) -> str:
    """What to tell the operator when SQLite cannot read the log or its views.

    The file to blame is the first one that is not an SQLite database: the log, else
    the read models beside it; a file that looks like SQLite but is damaged inside
    is blamed on the log, the file the operator named.
    """
    path = _log_path(db)
    if path is None:
        return "the event store is not a healthcard event log"
    views = views_path_for(path)
    if _is_sqlite_file(path) and views.exists() and not _is_sqlite_file(views):
        return f"{views} is not a healthcard read-model file"
    return f"{path} is not a healthcard event log"


@contextmanager
def reports_unreadable_log(db: Path | None) -> Iterator[None]:
    """Turn SQLite's refusal of the log (a text file, a damaged database given as
    ``--db``) into ``error: FILE is not a healthcard event log`` and status 2.

    Why here and not in the library: opening a file that is not a database fails deep
    inside eventsourcing's SQLite module, as ``sqlite3.DatabaseError`` or as
    eventsourcing's own ``DatabaseError`` raised from it, and a library caller wants
    that exception. An operator wants one line naming the file. Only SQLite's "not a
    database" and "damaged" errors are caught, so a refusal (``error[code]``), a
    locked database or a bug still shows as itself.
    """
    try:
        yield
    except Exception as error:
        if not _not_a_database(error):
            raise
        typer.echo(f"error: {unreadable_log_message(db)}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from None


@contextmanager
def open_log(db: Path | None) -> Iterator[HealthCardApp]:
    """The application over the chosen log, closed afterwards (for reading)."""
    env = event_store_env(db)
    with reports_unreadable_log(db):
        app = HealthCardApp(env)
        try:
            yield app
        finally:
            app.close()


@contextmanager
def open_views(db: Path | None) -> Iterator[Projections]:
    """The chosen log and its read models (SQLite: the views file beside the log),
    closed afterwards."""
    env = event_store_env(db)
    with reports_unreadable_log(db), open_projections(env) as projections:
        yield projections


def parse_time(text: str, *, end_of_day: bool = False, param: str = "--at") -> datetime:
    """An aware time from ISO text; a date alone is its start (or end) in China time,
    a time without offset is China time."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time.min, CHINA_TZ)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            "not an ISO date or time (e.g. 2026-11-25 or 2026-11-25T08:00:30+08:00)",
            param_hint=param,
        ) from None
    moment = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA_TZ)
    try:
        # Commands compare times in UTC and show them in China time: a moment that
        # either cannot express (year 1 at +14:00, year 9999 at -14:00) is refused
        # here rather than overflowing in the middle of a command.
        moment.astimezone(UTC)
        moment.astimezone(CHINA_TZ)
    except OverflowError:
        raise typer.BadParameter(
            "out of range: a time falls within the years 1 to 9999 in UTC and in China time",
            param_hint=param,
        ) from None
    return moment


def parse_day(text: str, *, param: str = "--date") -> date:
    """A calendar day, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint=param) from None


def utf8_text(value: str) -> str:
    """Typer callback: refuse a text argument that is not UTF-8.

    Why: the shell hands over bytes, and Python keeps bytes that are not UTF-8 as
    lone surrogates, which SQLite cannot bind and no terminal can print; such a value
    can match nothing, so it is a usage error rather than a traceback.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise typer.BadParameter("not UTF-8 text") from None
    return value


def print_json(data: Any) -> None:
    """One JSON document on stdout (UTF-8 text, ids and times as strings)."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def console(*, stderr: bool = False) -> Console:
    """The console tables and lines are printed on: no markup, no emoji codes, no
    highlighting.

    Why: everything the commands print is data -- a department or a reason someone
    typed, an actor or doctor code, a file name, anything read from the log -- and it
    must show as written. With markup on, ``[red]`` in a value would turn the rest
    red, ``[erased]`` would vanish and ``[/x]`` would crash rich; with emoji codes on,
    the doctor ``dr:smile:`` would lose its name. No command styles text of its own,
    so turning both off changes nothing else.
    """
    return Console(highlight=False, markup=False, emoji=False, stderr=stderr)


def literal(value: object) -> Text:
    """``value`` as rich text that no console reads as markup or emoji codes.

    For tables and lines that may be printed on another console than :func:`console`
    (a caller's, a notebook's, which reads markup): a ``Text`` cell is shown as
    written whatever the console's settings.
    """
    return Text(str(value))


__all__ = [
    "DEMO_DB",
    "EXIT_CANNOT_RUN",
    "SQLITE_HEADER",
    "SQLITE_MAX_INTEGER",
    "ClearOption",
    "DbOption",
    "JsonOption",
    "console",
    "event_store_env",
    "literal",
    "open_log",
    "open_views",
    "parse_day",
    "parse_time",
    "print_json",
    "reports_unreadable_log",
    "unreadable_log_message",
    "utf8_text",
]
