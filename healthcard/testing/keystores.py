"""Key stores on a database a test owns, opened as several processes would open them.

Why in the kit: tests of the built-in stores, of a KMS adapter beside them, and of the
application's erasure and rotation all need "another process on the same database"
(a second store object, no cache) and a look at the rows as the database holds them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthcard.adapters.privacy.kek import KeyEncryptionKey
from healthcard.adapters.privacy.keystore import PostgresKeyStore, SqliteKeyStore
from healthcard.adapters.privacy.sql_keystore import KEYS_TABLE
from healthcard.testing.postgres import PostgresServer

Store = SqliteKeyStore | PostgresKeyStore
OpenStore = Callable[..., Store]


class KeyStoreBackend:
    """Opens key stores on one database (``open(kek=None, **options)``, uncached unless
    ``cache_ttl`` is given) and
    reads its keys table directly (``rows()``: subject, stored key, KEK generation).
    ``close()`` closes every store it opened."""

    def __init__(self, opener: Callable[..., Store], rows: Callable[[], list[tuple[Any, ...]]]):
        self._opener = opener
        self.rows = rows
        self._opened: list[Store] = []

    def open(self, kek: KeyEncryptionKey | None = None, **options: Any) -> Store:
        store = self._opener(kek, **options)
        self._opened.append(store)
        return store

    def close(self) -> None:
        for store in self._opened:
            store.close()
        self._opened.clear()


def sqlite_backend(path: Path) -> KeyStoreBackend:
    """Key stores on the SQLite file ``path``."""

    def open_sqlite(kek: KeyEncryptionKey | None, **options: Any) -> Store:
        return SqliteKeyStore(str(path), kek=kek, **{"cache_ttl": 0.0, **options})

    def rows() -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return list(conn.execute(f"SELECT subject, key, kek FROM {KEYS_TABLE}"))  # noqa: S608

    return KeyStoreBackend(open_sqlite, rows)


def postgres_backend(server: PostgresServer, schema: str) -> KeyStoreBackend:
    """Key stores in ``schema`` of the test server's database."""

    def open_postgres(kek: KeyEncryptionKey | None, **options: Any) -> Store:
        options = {"cache_ttl": 0.0, **options}
        return PostgresKeyStore(server.conninfo(), schema, kek=kek, **options)

    def rows() -> list[tuple[Any, ...]]:
        with server.connect() as conn:
            table = f"{schema}.{KEYS_TABLE}"
            return list(conn.execute(f"SELECT subject, key, kek FROM {table}"))  # noqa: S608

    return KeyStoreBackend(open_postgres, rows)


__all__ = ["KeyStoreBackend", "OpenStore", "Store", "postgres_backend", "sqlite_backend"]
