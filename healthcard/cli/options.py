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
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from healthcard.adapters.persistence import local_sqlite_env
from healthcard.application import HealthCardApp
from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels import Projections, open_projections

DEMO_DB = Path("healthcard-demo.sqlite3")
"""The demo's event log, and the default ``--db`` of every command."""

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


@contextmanager
def open_log(db: Path | None) -> Iterator[HealthCardApp]:
    """The application over the chosen log, closed afterwards (for reading)."""
    app = HealthCardApp(event_store_env(db))
    try:
        yield app
    finally:
        app.close()


def open_views(db: Path | None) -> Projections:
    """The chosen log and its read models (SQLite: the views file beside the log)."""
    return open_projections(event_store_env(db))


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
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA_TZ)


def parse_day(text: str, *, param: str = "--date") -> date:
    """A calendar day, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint=param) from None


def print_json(data: Any) -> None:
    """One JSON document on stdout (UTF-8 text, ids and times as strings)."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def console(*, stderr: bool = False) -> Console:
    """The console tables are printed on (no highlighting: data, not code)."""
    return Console(highlight=False, stderr=stderr)


__all__ = [
    "DEMO_DB",
    "ClearOption",
    "DbOption",
    "JsonOption",
    "console",
    "event_store_env",
    "open_log",
    "open_views",
    "parse_day",
    "parse_time",
    "print_json",
]
