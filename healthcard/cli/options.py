"""Options every ``healthcard`` command shares: which log (``--db``), times, ``--json``.

Which log, for every command that reads one (``--db``):

1. ``--db FILE``: that SQLite file, as ``healthcard demo`` writes it (encrypted at
   rest with ``FILE.key`` when that file exists); it must exist and be a healthcard
   event log (:func:`~healthcard.cli.logfiles.log_problem`);
2. no ``--db`` and ``PERSISTENCE_MODULE`` set: eventsourcing's environment variables
   (``PERSISTENCE_MODULE``, ``POSTGRES_*``, ``CIPHER_KEY`` ...);
3. otherwise the demo's file, ``healthcard-demo.sqlite3`` in the working folder.

Times (``--at``, ``--since``, ``--until``, ``TIME``) are ISO 8601; a time without an
offset is China Standard Time, and a date alone is its start (or its end, where the
command says so).

Commands that only read open the log read-only (``open_log(db, read_only=True)``,
``open_views(db, read_only=True)``): SQLite through a ``mode=ro`` URI, no table
created, a key store that cannot write; the file, its ``-wal`` and everything beside
it stay as they were. (That is for SQLite files; with PostgreSQL, run readers under a
role that may only read.)

What the commands print is data, shown as written (:func:`console`, :func:`literal`).
A ``--db`` that cannot be the log (missing, a folder, not a database, a database
without the log's tables) ends with one line, ``error: ...`` naming the file, and
status 2, never a traceback (:func:`event_store_env`, :func:`reports_unreadable_log`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from eventsourcing.utils import Environment
from rich.console import Console
from rich.text import Text

from healthcard.adapters.persistence import (
    READ_ONLY_SQLITE,
    ReadOnlySQLiteFactory,
    local_sqlite_env,
    read_only_sqlite_env,
    read_only_sqlite_uri,
)
from healthcard.adapters.privacy.kek import KeyEncryptionKey
from healthcard.application import HealthCardApp
from healthcard.application import keys as keys_folder
from healthcard.cli.errors import EXIT_CANNOT_RUN, cannot_run
from healthcard.cli.logfiles import (
    SQLITE_HEADER,
    ReadOnlyKeyStore,
    is_sqlite_file,
    log_problem,
    views_problem,
)
from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels import Projections, open_projections, views_path_for
from healthcard.readmodels.connect import VIEWS_NAME
from healthcard.readmodels.store_sqlite import SqliteViewStore

DEMO_DB = Path("healthcard-demo.sqlite3")
"""The demo's event log, and the default ``--db`` of every command."""

SQLITE_MAX_INTEGER: Final = 2**63 - 1
"""The largest integer SQLite stores: a version or a batch size above it cannot be asked
of the log (the driver would overflow), so options that take one stop there."""

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite event log, as `healthcard demo` writes it (it must exist; commands "
        "that only read open it read-only). Default: eventsourcing's "
        f"environment variables when PERSISTENCE_MODULE is set, else {DEMO_DB}.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
ClearOption = Annotated[
    bool,
    typer.Option("--clear", help="Show personal data in clear (masked by default)."),
]


def event_store_env(db: Path | None, *, read_only: bool = False) -> dict[str, str] | None:
    """The eventsourcing settings ``--db`` names (``None``: the process environment's).

    The file must be an event log already: a command other than ``demo`` never starts
    one, so a missing path, a folder or a file without the log's tables ends the
    command with one line naming it (status 2). ``read_only``: settings that open the
    file read-only (:func:`~healthcard.adapters.persistence.read_only_sqlite_env`),
    also when the environment names the SQLite file.
    """
    path: Path | None
    if db is None and os.environ.get("PERSISTENCE_MODULE"):
        path = _environment_sqlite_file() if read_only else None
        if path is None:
            return None
    else:
        path = db if db is not None else DEMO_DB
    problem = log_problem(path, read_only=read_only)
    if problem is not None:
        cannot_run(problem)
    return read_only_sqlite_env(path) if read_only else local_sqlite_env(path)


def _environment_sqlite_file() -> Path | None:
    """The SQLite file eventsourcing's environment variables name, if they name one."""
    if not os.environ.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        return None
    name = os.environ.get("SQLITE_DBNAME", "")
    if not name or name.startswith("file:") or ":memory:" in name or "mode=memory" in name:
        return None
    return Path(name)


def log_path(db: Path | None) -> Path | None:
    """The SQLite file ``--db`` (or the environment, or the default) names, if any
    (``None``: the environment names another store, PostgreSQL say)."""
    if db is not None:
        return db
    if not os.environ.get("PERSISTENCE_MODULE"):
        return DEMO_DB
    return _environment_sqlite_file()


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


def unreadable_log_message(db: Path | None) -> str:
    """What to tell the operator when SQLite cannot read the log or its views.

    The file to blame is the first one that is not an SQLite database: the log, else
    the read models beside it; a file that looks like SQLite but is damaged inside
    is blamed on the log, the file the operator named.
    """
    path = log_path(db)
    if path is None:
        return "the event store is not a healthcard event log"
    views = views_path_for(path)
    if is_sqlite_file(path) and views.exists() and not is_sqlite_file(views):
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
def open_log(db: Path | None, *, read_only: bool = False) -> Iterator[HealthCardApp]:
    """The application over the chosen log, closed afterwards.

    ``read_only`` for a command that only reads: a SQLite log is opened read-only
    with a key store that cannot write (:func:`read_only_application`), so the
    command leaves the file and everything beside it as it found them.
    """
    env = event_store_env(db, read_only=read_only)
    with reports_unreadable_log(db), read_only_application(env) as app:
        yield app


@contextmanager
def read_only_application(env: Mapping[str, str] | None) -> Iterator[HealthCardApp]:
    """The application over ``env``, closed afterwards; on a read-only SQLite env
    (:func:`event_store_env` with ``read_only``) with a :class:`ReadOnlyKeyStore` on
    the same file, unwrapping keys under the configured key-encryption key."""
    with ExitStack() as stack:
        if env is None or env.get("PERSISTENCE_MODULE") != READ_ONLY_SQLITE:
            app = HealthCardApp(None if env is None else dict(env))
        else:
            kek = configured_kek(env)
            keystore = ReadOnlyKeyStore(env["SQLITE_DBNAME"], kek=kek)
            stack.callback(keystore.close)  # given to the app, so not closed by it
            app = HealthCardApp(dict(env), keystore=keystore, kek=kek)
        stack.callback(app.close)
        yield app


def configured_kek(env: Mapping[str, str]) -> KeyEncryptionKey | None:
    """The key-encryption key an application on ``env`` would use (the keys folder's,
    ``HEALTHCARD_KEYS_DIR``), read the way the application reads its settings."""
    settings = Environment(HealthCardApp.name, {**HealthCardApp.env, **os.environ, **env})
    folder = settings.get(keys_folder.ENV_KEYS_DIR, "")
    return keys_folder.load(Path(folder)).kek if folder else None


@contextmanager
def open_views(db: Path | None, *, read_only: bool = False) -> Iterator[Projections]:
    """The chosen log and its read models (SQLite: the views file beside the log),
    closed afterwards.

    ``read_only`` for a command that only reads the views: the log as
    :func:`open_log` opens it, the views file read-only with no table created; it
    must exist (``healthcard projections catch-up`` makes it). Catching up is then
    refused by SQLite: a command that folds events opens without ``read_only``.
    """
    env = event_store_env(db, read_only=read_only)
    path = log_path(db)
    if env is None or env.get("PERSISTENCE_MODULE") != READ_ONLY_SQLITE or path is None:
        with reports_unreadable_log(db), open_projections(env) as projections:
            yield projections
        return
    views = views_path_for(path)
    problem = views_problem(views)
    if problem is not None:
        cannot_run(problem)
    # Ids as the 32 hex digits stored, as the read models' own reader opens the log.
    reader = {**env, "ORIGINATOR_ID_TYPE": "text"}
    with reports_unreadable_log(db), read_only_application(reader) as app:
        factory = ReadOnlySQLiteFactory(
            Environment(VIEWS_NAME, {"SQLITE_DBNAME": read_only_sqlite_uri(views)})
        )
        with Projections(app, _view_store(factory, app.name), factory, False, reader) as views_:
            yield views_


def _view_store(factory: ReadOnlySQLiteFactory, app_name: str) -> SqliteViewStore:
    """The view store on ``factory``'s connections (closing the factory on failure)."""
    try:
        store = factory.tracking_recorder(SqliteViewStore)
    except BaseException:
        factory.close()
        raise
    if not isinstance(store, SqliteViewStore):  # pragma: no cover (asked for that class)
        factory.close()
        raise TypeError("expected a SqliteViewStore")
    store.app_name = app_name
    return store


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
    "configured_kek",
    "console",
    "event_store_env",
    "literal",
    "log_path",
    "open_log",
    "open_views",
    "parse_day",
    "parse_time",
    "print_json",
    "read_only_application",
    "reports_unreadable_log",
    "unreadable_log_message",
    "utf8_text",
]
