"""The files a command is pointed at: what they must be, and opening them read-only.

Why checks before opening: SQLite opens almost anything. A missing path becomes a
new database, a 0-byte file or somebody else's database gains the log's tables, and
a text file fails deep inside eventsourcing. So a command looks first, and names the
file in one line when it is not what it must be (:func:`log_problem`,
:func:`views_problem`): a missing path, a folder, a file that cannot be read, a file
that is no SQLite database, a database without the tables of a healthcard log. The
looking itself is read-only and creates nothing (a ``file:`` URI with ``mode=ro``,
:func:`~healthcard.adapters.persistence.read_only_sqlite_uri`).

Why a key store of its own (:class:`ReadOnlyKeyStore`): the per-person keys live in
the log's file, and the library's :class:`SqliteKeyStore` writes on opening (it
creates its tables, switches the file to WAL, records the key-encryption key's
generation). A command that only reads hands the application this one instead,
which reads keys through the same read-only URI and refuses every write.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Collection, Mapping
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, NoReturn
from uuid import UUID

from healthcard.adapters.persistence import read_only_sqlite_uri
from healthcard.adapters.privacy.kek import KeyEncryptionKey
from healthcard.adapters.privacy.keystore import Rotation, SqliteKeyStore
from healthcard.adapters.privacy.sql_keystore import (
    BUSY_TIMEOUT_MS,
    GENERATIONS_TABLE,
    KEYS_TABLE,
)
from healthcard.readmodels.schema import META_TABLE, VERSIONS_TABLE

SQLITE_HEADER: Final = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file that holds anything."""

EVENTS_TABLE: Final = "stored_events"
"""eventsourcing's table of the events (``SQLiteApplicationRecorder``'s default name)."""

EVENT_LOG: Final = "healthcard event log"
READ_MODELS: Final = "healthcard read-model file"

_NOT_A_DATABASE: Final = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` starts as an SQLite database does, or is empty (SQLite takes
    an empty file for an empty database); damage inside is not looked at."""
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return header in (b"", SQLITE_HEADER)


def _tables(path: Path) -> dict[str, set[str]]:
    """Every table of the database at ``path`` with its columns, read without a write."""
    uri = read_only_sqlite_uri(path)
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = [row[0] for row in tables]
        columns = "SELECT name FROM pragma_table_info(?)"
        return {name: {row[0] for row in conn.execute(columns, (name,))} for name in names}


def _database(
    path: Path, kind: str, missing: str, required: Collection[str]
) -> dict[str, set[str]] | str:
    """The tables (and their columns) of the SQLite file at ``path``, or why it is not
    a ``kind`` holding the ``required`` tables (``missing`` when it does not exist)."""
    if not path.exists():
        return missing
    if path.is_dir():
        return f"{path} is a directory, not a {kind}"
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        return f"cannot read {path}: {error.strerror}"
    if header != SQLITE_HEADER:  # an empty file included: it holds no log
        return f"{path} is not a {kind}"
    try:
        tables = _tables(path)
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorname", None) in _NOT_A_DATABASE:
            return f"{path} is not a {kind}"
        return f"cannot read {path}: {error}"
    if not set(required) <= set(tables):
        return f"{path} is not a {kind}"
    return tables


def log_problem(path: Path, *, read_only: bool = False) -> str | None:
    """Why ``path`` is not an event log a command can open; ``None`` when it is one.

    A log has eventsourcing's events table. A command that only reads needs the key
    tables of this version as well (it cannot add them): a log of 0.1.0 lacks the key
    table's ``kek`` column and the generations table, which any writing command adds.
    """
    missing = f"no event log at {path} (it does not exist)"
    tables = _database(path, EVENT_LOG, missing, {EVENTS_TABLE})
    if isinstance(tables, str):
        return tables
    current_keys = "kek" in tables.get(KEYS_TABLE, set()) and GENERATIONS_TABLE in tables
    if read_only and not current_keys:
        return (
            f"{path} has no key tables of this healthcard version (written by 0.1.0?): "
            "a command that writes, such as `healthcard privacy complete-erasures`, adds them"
        )
    return None


def views_problem(path: Path) -> str | None:
    """Why ``path`` is not a read-model file a command can read; ``None`` when it is one."""
    missing = (
        f"no read models at {path} (it does not exist): "
        "`healthcard projections catch-up` builds them"
    )
    tables = _database(path, READ_MODELS, missing, {META_TABLE, VERSIONS_TABLE})
    return tables if isinstance(tables, str) else None


class ReadOnlyStore(RuntimeError):
    """Something tried to write to a store opened for reading only (a bug of the command)."""


@functools.cache
def _statements() -> Mapping[str, str]:
    """The SQLite key store's statements, from a store in memory (nothing on disk)."""
    template = SqliteKeyStore(":memory:")
    try:
        return dict(template.statements)
    finally:
        template.close()


class ReadOnlyKeyStore(SqliteKeyStore):
    """The per-person keys of a SQLite log, read through a read-only ``file:`` URI.

    Reading is the library's own (``key_for_reading``, ``holds_key``, ``is_erased``,
    ``locate``, ``status``, unwrapping under ``kek``), with the library's statements.
    What differs is the opening: ``SqliteKeyStore.__init__`` creates the tables,
    switches the file to WAL and records the KEK's generation, so it is not called;
    the connection is set up here, read-only, with the fields the reading methods
    use. Every method that would write raises :class:`ReadOnlyStore`.

    This leans on ``SqliteKeyStore``'s internals (``_sql``, ``_conn``, ``_lock``): the
    library could offer the same as ``SqliteKeyStore(path, read_only=True)``.
    """

    def __init__(
        self, uri: str, *, kek: KeyEncryptionKey | None = None, cache_ttl: float = 5.0
    ) -> None:
        super(SqliteKeyStore, self).__init__(kek, cache_ttl)
        self._sql = dict(_statements())
        self._lock = threading.RLock()
        self._path = uri
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _refuse(self) -> NoReturn:
        raise ReadOnlyStore(f"the key store of {self._path} is open for reading only")

    def key_for_writing(self, subject: UUID) -> bytes:
        self._refuse()

    def erase(self, subject: UUID) -> bool:
        self._refuse()

    def locate_or_assign(self, natural: UUID, proposed: UUID) -> UUID:
        self._refuse()

    def forget(self, natural: UUID, stream: UUID) -> bool:
        self._refuse()

    def flush(self) -> None:
        self._refuse()

    def rotate(self, *, at: datetime, retention: timedelta) -> Rotation:
        self._refuse()


__all__ = [
    "EVENTS_TABLE",
    "EVENT_LOG",
    "READ_MODELS",
    "SQLITE_HEADER",
    "ReadOnlyKeyStore",
    "ReadOnlyStore",
    "is_sqlite_file",
    "log_problem",
    "views_problem",
]
