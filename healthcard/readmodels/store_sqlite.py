"""The views in a SQLite file of their own, beside the event store.

A ``TrackingRecorder`` subclass (eventsourcing's pattern): the tracking table and
the view tables share one file, so a batch and its position commit together.
Writes take ``BEGIN IMMEDIATE`` so the position check and the update are one
serialised step; WAL lets readers keep querying while a batch or a whole rebuild
is written. Tables are rowid tables with the id as a unique key: inserting random
UUIDs measured a third cheaper than ``WITHOUT ROWID`` tables keyed by them.
``synchronous=NORMAL`` is the WAL setting that loses at most the last
transactions on power loss (they are re-read from the log), never consistency.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteTrackingRecorder

from healthcard.readmodels.schema import Table
from healthcard.readmodels.sql_dialect import Cursor
from healthcard.readmodels.store_sql import SqlViewStore

NORMAL_CACHE_KIB = 8_192
BULK_CACHE_KIB = 32_768


class SqliteViewStore(SqlViewStore, SQLiteTrackingRecorder):
    """Booking and triage tables, versioned, with tracking, in one SQLite file."""

    cache_kib = NORMAL_CACHE_KIB
    synchronous = "NORMAL"

    def create_table(self) -> None:
        try:
            super().create_table()
        except IntegrityError:  # another process created the tracking table just now
            super().create_table()
        self._create_meta()

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """While a rebuild writes: a bigger page cache (kept within the RSS budget) and
        ``synchronous=OFF`` (no fsync at WAL checkpoints). The trade-off: an OS crash or
        power loss during a rebuild can damage the views file, which is derived data:
        delete it and catch up again. A crash of the process itself loses nothing."""
        self.cache_kib, self.synchronous = BULK_CACHE_KIB, "OFF"
        try:
            yield
        finally:
            self.cache_kib, self.synchronous = NORMAL_CACHE_KIB, "NORMAL"

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self.datastore.get_connection(commit=True) as conn:
            curs = conn.cursor().sqlite_cursor
            curs.row_factory = None
            curs.execute(f"PRAGMA synchronous={self.synchronous}")
            curs.execute(f"PRAGMA cache_size=-{int(self.cache_kib)}")
            curs.execute("BEGIN IMMEDIATE")
            try:
                yield curs
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self.datastore.get_connection(commit=False) as conn:
            curs = conn.cursor().sqlite_cursor
            curs.row_factory = None
            curs.execute("BEGIN")
            try:
                yield curs
            finally:
                conn.rollback()

    def _track(self, curs: Cursor, tracking: Tracking) -> None:
        if not isinstance(curs, sqlite3.Cursor):  # pragma: no cover (our own cursors)
            raise TypeError("expected a sqlite3 cursor")
        self._insert_tracking(SQLiteCursor(curs), tracking)

    def _q(self, sql: str) -> str:
        return sql

    def _name(self, table: str) -> str:
        return table

    def _ddl_type(self, kind: str) -> str:
        return "INTEGER" if kind == "int" else "TEXT"

    def _in_keys(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"  # noqa: S608

    def _keys_param(self, keys: Collection[str]) -> Any:
        return orjson.dumps(list(keys)).decode()

    def _upsert_sql(self, table: Table, name: str) -> str:
        return f"INSERT OR REPLACE INTO {name} VALUES ({', '.join('?' * len(table.columns))})"  # noqa: S608

    def _tracking_table(self) -> str:
        return "tracking"

    def _is_missing_table(self, error: Exception) -> bool:
        return "no such table" in str(error)

    def _tables(self, c: Cursor) -> set[str]:
        c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(row[0]) for row in c.fetchall()}

    def _columns(self, c: Cursor, table: str) -> set[str]:
        c.execute(f"PRAGMA table_info({table})")
        return {str(row[1]) for row in c.fetchall()}

    def _lock_versions(self, c: Cursor) -> None:
        """Nothing to do: every write transaction here is ``BEGIN IMMEDIATE``."""

    def _now_sql(self) -> str:
        return "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"

    def _storage_bytes(self, c: Cursor) -> int:
        """The views file and its write-ahead log, as the file system counts them."""
        c.execute("PRAGMA database_list")
        path = next((str(row[2]) for row in c.fetchall() if row[1] == "main"), "")
        if not path:
            return 0  # in memory
        return sum(os.path.getsize(name) for name in (path, f"{path}-wal") if os.path.exists(name))

    def compact(self) -> bool:
        """``VACUUM``, then a ``TRUNCATE`` checkpoint: the file shrinks to its live pages.

        Why both: dropping tables only adds their pages to the file's free list; VACUUM
        rewrites the file without them, but in WAL mode it writes the new pages to the
        write-ahead log, and only a checkpoint moves them into (and truncates) the file.
        The rewrite costs about as much I/O as the live data and as much temporary
        space. A reader holding an older snapshot can delay the checkpoint: False then,
        and the file shrinks at a later checkpoint (the next ``gc``, or a writer's).
        """
        with self.datastore.get_connection(commit=True) as conn:
            curs = conn.cursor().sqlite_cursor
            curs.row_factory = None
            curs.execute("VACUUM")
            curs.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = int(curs.fetchone()[0])
        return busy == 0
