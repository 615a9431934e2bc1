"""The views in PostgreSQL, in the event store's schema (or one named by
``CLINICVIEWS_POSTGRES_*``).

A ``TrackingRecorder`` subclass: each batch locks the version's tracking row
(``FOR UPDATE``), checks the position, writes the rows and the new position in
one transaction, so concurrent workers can never apply a batch twice. Reads run
``REPEATABLE READ`` so the served version and its tables come from one snapshot.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg.rows import tuple_row

from healthcard.readmodels.schema import VERSIONS_TABLE, Table
from healthcard.readmodels.sql_dialect import Cursor
from healthcard.readmodels.store_sql import SqlViewStore


class PostgresViewStore(SqlViewStore, PostgresTrackingRecorder):
    """Booking and triage tables, versioned, with tracking, in PostgreSQL."""

    share_lock = " FOR SHARE"
    update_lock = " FOR UPDATE"

    def create_table(self) -> None:
        try:
            super().create_table()
        except IntegrityError:  # another process created the tracking table just now
            super().create_table()
        self._create_meta()

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self.datastore.get_connection() as conn, conn.transaction():
            yield conn.cursor(row_factory=tuple_row)

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
            curs = conn.cursor(row_factory=tuple_row)
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield curs

    def _track(self, curs: Cursor, tracking: Tracking) -> None:
        self._insert_tracking(cast(Any, curs), tracking)

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _name(self, table: str) -> str:
        return f'"{self.datastore.schema}".{table}'

    def _ddl_type(self, kind: str) -> str:
        return "bigint" if kind == "int" else "text"

    def _in_keys(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def _keys_param(self, keys: Collection[str]) -> Any:
        return list(keys)

    def _upsert_sql(self, table: Table, name: str) -> str:
        updates = ", ".join(
            f"{column} = EXCLUDED.{column}"
            for column in table.column_names
            if column not in table.key
        )
        return self._q(
            f"INSERT INTO {name} VALUES ({', '.join('?' * len(table.columns))}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"
        )

    def _tracking_table(self) -> str:
        return f'"{self.datastore.schema}"."{self.tracking_table_name}"'

    def _is_missing_table(self, error: Exception) -> bool:
        return isinstance(error.__cause__, psycopg.errors.UndefinedTable)

    def _tables(self, c: Cursor) -> set[str]:
        c.execute(
            self._q("SELECT table_name FROM information_schema.tables WHERE table_schema = ?"),
            (self.datastore.schema,),
        )
        return {str(row[0]) for row in c.fetchall()}

    def _columns(self, c: Cursor, table: str) -> set[str]:
        c.execute(
            self._q(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?"
            ),
            (self.datastore.schema, table),
        )
        return {str(row[0]) for row in c.fetchall()}

    def _now_sql(self) -> str:
        return (
            "to_char(clock_timestamp() AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')'
        )

    def _storage_bytes(self, c: Cursor) -> int:
        """The views' tables with their indexes and TOAST (``pg_total_relation_size``).
        A dropped table's files are deleted at commit, so its space is back at once."""
        c.execute(
            self._q(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ? AND c.relkind = 'r'"
            ),
            (self.datastore.schema,),
        )
        return sum(int(size) for name, size in c.fetchall() if str(name).startswith("views_"))

    def _lock_versions(self, c: Cursor) -> None:
        c.execute(f"LOCK TABLE {self._name(VERSIONS_TABLE)} IN SHARE ROW EXCLUSIVE MODE")
