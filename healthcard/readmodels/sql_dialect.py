"""The SQL dialect seam of the view stores: what differs between SQLite and PostgreSQL.

Why a seam: the tables, the batches and the queries are the same SQL on both; only
transactions, placeholders, names, key lists, upserts and locks differ, and those
are the abstract methods here (``store_sqlite.py``, ``store_postgres.py``).

SQL text is composed only from the table names of ``schema.py`` and integer version
numbers (hence the ``noqa: S608`` marks); every value is a bound parameter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eventsourcing.persistence import Tracking

from healthcard.readmodels.schema import CURRENT_VERSION, META_TABLE, Table, table_name


class Cursor(Protocol):
    """The DB-API cursor subset both drivers offer (sqlite3, psycopg)."""

    def execute(self, sql: str, params: Any = ..., /) -> object: ...

    def executemany(self, sql: str, params_seq: Iterable[Any], /) -> object: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class SqlDialect(ABC):
    """Statements and transactions in one backend's dialect."""

    share_lock: str = ""
    """Appended to a read that must wait for a concurrent swap (``FOR SHARE``)."""
    update_lock: str = ""
    """Appended to the read of the tracking row a batch moves (``FOR UPDATE``)."""

    # -- dialect hooks ---------------------------------------------------------------

    @abstractmethod
    def _write(self) -> AbstractContextManager[Cursor]:
        """A write transaction (serialised with other writers of the views)."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Cursor]:
        """A read transaction with one snapshot for all its statements."""

    @abstractmethod
    def _track(self, curs: Cursor, tracking: Tracking) -> None:
        """Record the tracking position in the current transaction."""

    @abstractmethod
    def _q(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in the driver's style."""

    @abstractmethod
    def _name(self, table: str) -> str:
        """The qualified name of a table."""

    @abstractmethod
    def _ddl_type(self, kind: str) -> str: ...

    @abstractmethod
    def _in_keys(self, column: str) -> str:
        """``column`` is one of a list given as a single parameter."""

    @abstractmethod
    def _keys_param(self, keys: Collection[str]) -> Any: ...

    @abstractmethod
    def _upsert_sql(self, table: Table, name: str) -> str: ...

    @abstractmethod
    def _tracking_table(self) -> str: ...

    @abstractmethod
    def _is_missing_table(self, error: Exception) -> bool: ...

    @abstractmethod
    def _tables(self, c: Cursor) -> set[str]:
        """Names (unqualified) of the tables where the views live."""

    @abstractmethod
    def _columns(self, c: Cursor, table: str) -> set[str]:
        """Column names of a table (empty if it does not exist)."""

    @abstractmethod
    def _now_sql(self) -> str:
        """An SQL expression: the database's current time, as ISO text in UTC."""

    @abstractmethod
    def _storage_bytes(self, c: Cursor) -> int:
        """Bytes the views take in storage."""

    @abstractmethod
    def _lock_versions(self, c: Cursor) -> None:
        """Serialise the transactions that create or drop versions.

        Why: they read the versions and the tables in separate statements, and a
        concurrent creation committing in between would otherwise show tables without
        their version (so look like leftovers) or give two builds the same number.
        """

    # -- shared helpers ---------------------------------------------------------------

    def _t(self, version: int, table: Table) -> str:
        return self._name(table_name(version, table.name))

    def _current(self, c: Cursor, *, lock: bool = False) -> int | None:
        c.execute(
            self._q(f"SELECT value FROM {self._name(META_TABLE)} WHERE name = ?")  # noqa: S608
            + (self.share_lock if lock else ""),
            (CURRENT_VERSION,),
        )
        row = c.fetchone()
        return None if row is None else int(row[0])
