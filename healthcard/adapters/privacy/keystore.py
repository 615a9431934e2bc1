"""Per-person data keys, held apart from the events, so erasure is one deletion.

A *subject* is the aggregate whose events hold the person's data (a card, an
account). Its 256-bit AES key lives in a key store: a table of its own in the same
SQLite file or PostgreSQL database as the events (or, through the ``KeyStore``
protocol, an app's KMS). Erasing deletes the key and leaves a tombstone, so a
decoder can tell "erased" from "missing" (a bug).

Why SQLite ``secure_delete``: a deleted row otherwise stays readable in free pages
of the file until they are reused.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE_BITS = 256
MAX_CACHED_KEYS = 5_000
"""Bound of the key cache: a replay of a year touches every person once; keep memory flat."""


class SubjectErased(LookupError):
    """The subject's key was deleted on an erasure request: its personal data is gone."""

    def __init__(self, subject: UUID) -> None:
        super().__init__(f"personal data of {subject} was erased")
        self.subject = subject


@runtime_checkable
class KeyStore(Protocol):
    """Where per-person keys live. Implement it to keep keys in a KMS."""

    def key_for_writing(self, subject: UUID) -> bytes:
        """The subject's key, created on first use; raises ``SubjectErased`` after erasure."""
        ...

    def key_for_reading(self, subject: UUID) -> bytes | None:
        """The subject's key, ``None`` when erased (or never created)."""
        ...

    def erase(self, subject: UUID) -> bool:
        """Delete the key and leave a tombstone; True if a key was deleted."""
        ...

    def is_erased(self, subject: UUID) -> bool: ...

    def close(self) -> None: ...


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_SIZE_BITS)


class InMemoryKeyStore:
    """Keys in a dict: for in-memory applications and tests."""

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes] = {}
        self._erased: set[UUID] = set()
        self._lock = threading.Lock()

    def key_for_writing(self, subject: UUID) -> bytes:
        with self._lock:
            if subject in self._erased:
                raise SubjectErased(subject)
            return self._keys.setdefault(subject, new_key())

    def key_for_reading(self, subject: UUID) -> bytes | None:
        return self._keys.get(subject)

    def erase(self, subject: UUID) -> bool:
        with self._lock:
            self._erased.add(subject)
            return self._keys.pop(subject, None) is not None

    def is_erased(self, subject: UUID) -> bool:
        return subject in self._erased

    def close(self) -> None:
        return None


class _KeyCache:
    """Keys read from a database, kept for ``ttl`` seconds.

    Keys never change, they only vanish. This process forgets a key at once when it
    erases it; another process (a projection worker, another app server) stops
    using it within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self._entries: dict[UUID, tuple[bytes, float]] = {}
        self._ttl = ttl

    def get(self, subject: UUID) -> bytes | None:
        entry = self._entries.get(subject)
        if entry is None:
            return None
        if time.monotonic() - entry[1] > self._ttl:
            self._entries.pop(subject, None)
            return None
        return entry[0]

    def __setitem__(self, subject: UUID, key: bytes) -> None:
        if len(self._entries) >= MAX_CACHED_KEYS:
            self._entries.clear()
        self._entries[subject] = (key, time.monotonic())

    def pop(self, subject: UUID) -> None:
        self._entries.pop(subject, None)


class _SqlKeyStore:
    """Base of the database key stores: the table's statements, behind a short cache.

    Subclasses give ``_sql`` (statements ``insert``, ``select``, ``erase``,
    ``tombstone``, ``is_erased``, each taking the subject and, for ``insert``, the
    key), the connection, and how a subject is passed (``_subject``).
    """

    _sql: dict[str, Any]
    _conn: Any

    def __init__(self, cache_ttl: float = 5.0) -> None:
        self._cache = _KeyCache(cache_ttl)
        self._db_lock = threading.Lock()

    def _subject(self, subject: UUID) -> Any:
        return subject

    def _after_erase(self) -> None:
        """Hook: make sure no old page of the table keeps the key."""

    def key_for_writing(self, subject: UUID) -> bytes:
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        created = new_key()
        param = self._subject(subject)
        with self._db_lock:
            inserted = self._conn.execute(self._sql["insert"], (param, created)).rowcount
            row = (
                (created,)
                if inserted == 1
                else self._conn.execute(self._sql["select"], (param,)).fetchone()
            )
        if row is None or row[0] is None:
            raise SubjectErased(subject)
        key = bytes(row[0])
        self._cache[subject] = key
        return key

    def key_for_reading(self, subject: UUID) -> bytes | None:
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        with self._db_lock:
            row = self._conn.execute(self._sql["select"], (self._subject(subject),)).fetchone()
        if row is None or row[0] is None:
            return None
        key = bytes(row[0])
        self._cache[subject] = key
        return key

    def erase(self, subject: UUID) -> bool:
        param = self._subject(subject)
        with self._db_lock:
            deleted = bool(self._conn.execute(self._sql["erase"], (param,)).rowcount > 0)
            if not deleted:
                self._conn.execute(self._sql["tombstone"], (param,))
            self._after_erase()
        self._cache.pop(subject)
        return deleted

    def is_erased(self, subject: UUID) -> bool:
        with self._db_lock:
            row = self._conn.execute(self._sql["is_erased"], (self._subject(subject),)).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self._conn.close()


_SQLITE_STATEMENTS: dict[str, str] = {
    "insert": "INSERT OR IGNORE INTO healthcard_personal_keys (subject, key) VALUES (?, ?)",
    "select": "SELECT key FROM healthcard_personal_keys WHERE subject = ?",
    "erase": "UPDATE healthcard_personal_keys SET key = NULL, "
    "erased_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
    "WHERE subject = ? AND key IS NOT NULL",
    "tombstone": "INSERT OR IGNORE INTO healthcard_personal_keys (subject, key, erased_at) "
    "VALUES (?, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    "is_erased": "SELECT key IS NULL FROM healthcard_personal_keys WHERE subject = ?",
}


class SqliteKeyStore(_SqlKeyStore):
    """Table ``healthcard_personal_keys`` in a SQLite file (the event store's file)."""

    def __init__(self, path: str, *, cache_ttl: float = 5.0) -> None:
        super().__init__(cache_ttl)
        self._sql = dict(_SQLITE_STATEMENTS)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute("PRAGMA secure_delete=ON")
        if path != ":memory:":
            # WAL (as eventsourcing uses): the events' own commit, which follows the
            # key's in the same WAL file, makes the key durable, so this connection
            # need not fsync on every new key (synchronous=NORMAL).
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS healthcard_personal_keys ("
            " subject TEXT PRIMARY KEY, key BLOB, erased_at TEXT)"
        )

    def _subject(self, subject: UUID) -> Any:
        return str(subject)

    def _after_erase(self) -> None:
        # Push the WAL into the main file and drop it: no old page keeps the key.
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class PostgresKeyStore(_SqlKeyStore):
    """Table ``healthcard_personal_keys`` in the application's PostgreSQL schema."""

    def __init__(
        self, conninfo: Mapping[str, Any], schema: str = "", *, cache_ttl: float = 5.0
    ) -> None:
        import psycopg
        from psycopg import sql

        super().__init__(cache_ttl)
        table = (
            sql.Identifier(schema, "healthcard_personal_keys")
            if schema
            else sql.Identifier("healthcard_personal_keys")
        )
        self._sql = {
            name: sql.SQL(text).format(table=table)
            for name, text in {
                "create": "CREATE TABLE IF NOT EXISTS {table} ("
                " subject UUID PRIMARY KEY, key BYTEA, erased_at TIMESTAMPTZ)",
                "insert": "INSERT INTO {table} (subject, key) VALUES (%s, %s) "
                "ON CONFLICT (subject) DO NOTHING",
                "select": "SELECT key FROM {table} WHERE subject = %s",
                "erase": "UPDATE {table} SET key = NULL, erased_at = now() "
                "WHERE subject = %s AND key IS NOT NULL",
                "tombstone": "INSERT INTO {table} (subject, key, erased_at) "
                "VALUES (%s, NULL, now()) ON CONFLICT (subject) DO NOTHING",
                "is_erased": "SELECT key IS NULL FROM {table} WHERE subject = %s",
            }.items()
        }
        self._conn = psycopg.connect(**conninfo, autocommit=True)
        self._conn.execute(self._sql["create"])


def keystore_from_env(env: Mapping[str, str]) -> KeyStore:
    """The key store beside the event store that ``env`` configures."""
    module = env.get("PERSISTENCE_MODULE", "eventsourcing.popo")
    if module.endswith("sqlite"):
        path = env.get("SQLITE_DBNAME", "")
        if not path or ":memory:" in path or "mode=memory" in path:
            return InMemoryKeyStore()
        return SqliteKeyStore(path)
    if module.endswith("postgres"):
        conninfo: dict[str, Any] = {
            "dbname": env.get("POSTGRES_DBNAME", ""),
            "host": env.get("POSTGRES_HOST", "127.0.0.1"),
            "port": int(env.get("POSTGRES_PORT", "5432")),
            "user": env.get("POSTGRES_USER", ""),
        }
        if env.get("POSTGRES_PASSWORD"):
            conninfo["password"] = env["POSTGRES_PASSWORD"]
        return PostgresKeyStore(conninfo, env.get("POSTGRES_SCHEMA", ""))
    return InMemoryKeyStore()


__all__ = [
    "InMemoryKeyStore",
    "KeyStore",
    "PostgresKeyStore",
    "SqliteKeyStore",
    "SubjectErased",
    "keystore_from_env",
    "new_key",
]
