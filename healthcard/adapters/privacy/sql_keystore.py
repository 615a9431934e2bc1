"""Per-person keys in a table beside the events: SQLite or PostgreSQL, wrapped by a KEK.

Two tables, in the event store's SQLite file or PostgreSQL schema:

- ``healthcard_personal_keys(subject, key, erased_at, kek)``: one row per subject.
  ``key`` is the per-person key wrapped under KEK generation ``kek``, or the raw key
  when ``kek`` is NULL (test mode, or rows written by 0.1.0 before the first
  rotation); NULL once erased (the row stays as a tombstone, so "erased" differs from
  "missing"). A locator (``Locators``: the random stream a document or phone number
  leads to) is a row of the same table, wrapped the same way, deleted without a
  tombstone;
- ``healthcard_kek_generations(generation, state, created_at, retired_at, destroyed_at)``:
  which KEK generation is current (at most one, by a partial unique index), which are
  retired and when, which are destroyed.

Why the generation table guards every write: a key must never be written under a
generation that a rotation has retired (it would be lost when that generation is
destroyed). A new key is inserted with ``INSERT … SELECT … WHERE generation is
current`` (``FOR SHARE`` on PostgreSQL, so a rotation waits for it and the insert
re-checks after the rotation commits; SQLite runs one writer at a time), and a writer
whose generation is no longer current re-reads the current one and tries again.

Why SQLite ``secure_delete`` and a checked checkpoint: a deleted row otherwise stays
readable in free pages, and in the write-ahead log until a checkpoint empties it; a
checkpoint a reader blocks is reported (``KeysNotFlushed``), never taken as done.

Why a pool on PostgreSQL: a connection the server dropped (restart, failover,
``pg_terminate_backend``) is replaced on the next use, and an outage answers
``StoreUnavailable`` quickly instead of hanging or failing forever.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from healthcard.adapters.pg_pools import steady
from healthcard.adapters.privacy.kek import GenerationUnavailable, KeyEncryptionKey
from healthcard.adapters.privacy.key_protocol import (
    Generation,
    KeysNotFlushed,
    KeyStoreStatus,
    Rotation,
    SubjectErased,
    new_key,
    stream_of,
)
from healthcard.domain.errors import ConfigurationError, StoreUnavailable

MAX_CACHED_KEYS = 5_000
"""Bound of the key cache: a replay of a year touches every person once; keep memory flat."""
REWRAP_BATCH = 2_000
"""Keys re-wrapped per transaction during a rotation (a short lock at a time)."""
STALE_GENERATION_RETRIES = 5
BUSY_TIMEOUT_MS = 5_000
CHECKPOINT_WAIT_MS = 500
KEYS_TABLE = "healthcard_personal_keys"
GENERATIONS_TABLE = "healthcard_kek_generations"
STORE_NAME = "key store"


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


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _context(subject: UUID) -> bytes:
    """Associated data of a wrapped key: the row it belongs to."""
    return b"healthcard.personal-key|" + subject.bytes


class _SqlKeyStore:
    """The key store's logic over a dialect: statements, connections, the subject's form.

    Subclasses give ``_sql`` (statement name -> statement), ``_connection`` (a
    context manager for one statement or one transaction) and ``_param`` (how a
    subject is passed).
    """

    kind = "sql"
    _sql: dict[str, Any]

    def __init__(self, kek: KeyEncryptionKey | None, cache_ttl: float) -> None:
        self._kek = kek
        self._cache = _KeyCache(cache_ttl)
        self._current: str | None = None

    @property
    def statements(self) -> Mapping[str, str]:
        """The store's SQL by name, as run (for diagnostics and the rotation benchmark's
        baseline, which must read and write exactly as ``rotate`` does)."""
        return {name: str(statement) for name, statement in self._sql.items()}

    # -- dialect --------------------------------------------------------------------

    def _connection(self, *, transaction: bool = False) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _param(self, subject: UUID) -> Any:
        return subject

    def _subject(self, value: Any) -> UUID:
        return value if isinstance(value, UUID) else UUID(str(value))

    def _flush(self, conn: Any) -> None:
        """Hook: make sure no old page of the table keeps an erased key."""

    # -- set-up ---------------------------------------------------------------------

    def _start(self) -> None:
        """Register the KEK's newest generation as current in an empty table, then
        read which one is current (another process may have rotated)."""
        if self._kek is None:
            with self._connection() as conn:
                if conn.execute(self._sql["current"]).fetchone() is not None:
                    raise ConfigurationError(
                        "the key store's keys are wrapped under a key-encryption key, but "
                        "none is configured (HEALTHCARD_KEYS_DIR)",
                        field="kek",
                    )
            return
        generations = self._kek.generations()
        if not generations:
            raise ConfigurationError("the key-encryption key has no generation", field="kek")
        with self._connection() as conn:
            conn.execute(self._sql["register"], (generations[-1], _utc(datetime.now(UTC))))
        self._refresh_current()

    def _refresh_current(self) -> str:
        with self._connection() as conn:
            row = conn.execute(self._sql["current"]).fetchone()
        if row is None:
            raise ConfigurationError("the key store names no current KEK generation", field="kek")
        assert self._kek is not None  # noqa: S101 (only called with a KEK)
        if row[0] not in self._kek.generations():
            # Another process made it (a rotation): wrapping under it makes a file KEK
            # read its folder again; a KEK without it is the wrong one.
            try:
                self._kek.wrap(row[0], bytes(32), b"probe")
            except GenerationUnavailable:
                raise ConfigurationError(
                    f"the key-encryption key does not hold generation {row[0]}, which the "
                    "key store is wrapped under (wrong keys folder?)",
                    field="kek",
                ) from None
        self._current = str(row[0])
        return self._current

    # -- keys -----------------------------------------------------------------------

    def key_for_writing(self, subject: UUID) -> bytes:
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        key = self._stored_or_created(subject)
        self._cache[subject] = key
        return key

    def _stored_or_created(self, subject: UUID, created: bytes | None = None) -> bytes:
        """The subject's stored secret, or ``created`` (a new key by default) inserted
        under the current KEK generation (the first of racing writers wins, the others
        read it)."""
        created = created or new_key()
        param = self._param(subject)
        for _ in range(STALE_GENERATION_RETRIES):
            with self._connection() as conn:
                if self._kek is None:
                    inserted = conn.execute(self._sql["insert_raw"], (param, created)).rowcount
                else:
                    generation = self._current or self._refresh_current()
                    stored = self._kek.wrap(generation, created, _context(subject))
                    inserted = conn.execute(
                        self._sql["insert_wrapped"], (param, stored, generation)
                    ).rowcount
                row = (
                    None
                    if inserted == 1
                    else conn.execute(self._sql["select"], (param,)).fetchone()
                )
            if inserted == 1:
                return created
            if row is not None:
                if row[0] is None:
                    raise SubjectErased(subject)
                return self._open(subject, row[0], row[1])
            self._refresh_current()  # a rotation retired the generation: use the new one
        raise StoreUnavailable(STORE_NAME)

    def key_for_reading(self, subject: UUID) -> bytes | None:
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        with self._connection() as conn:
            row = conn.execute(self._sql["select"], (self._param(subject),)).fetchone()
        if row is None or row[0] is None:
            return None
        key = self._open(subject, row[0], row[1])
        self._cache[subject] = key
        return key

    def holds_key(self, subject: UUID) -> bool:
        with self._connection() as conn:
            row = conn.execute(self._sql["select"], (self._param(subject),)).fetchone()
        return row is not None and row[0] is not None

    def _open(self, subject: UUID, stored: Any, generation: str | None) -> bytes:
        if generation is None:
            return bytes(stored)
        if self._kek is None:
            raise ConfigurationError(
                "the key store holds keys wrapped under a key-encryption key, but none is "
                "configured (HEALTHCARD_KEYS_DIR)",
                field="kek",
            )
        return self._kek.unwrap(generation, bytes(stored), _context(subject))

    def erase(self, subject: UUID) -> bool:
        param = self._param(subject)
        self._cache.pop(subject)
        with self._connection() as conn:
            deleted = bool(conn.execute(self._sql["erase"], (param,)).rowcount > 0)
            if not deleted:
                conn.execute(self._sql["tombstone"], (param,))
        self._cache.pop(subject)
        return deleted

    def is_erased(self, subject: UUID) -> bool:
        with self._connection() as conn:
            row = conn.execute(self._sql["is_erased"], (self._param(subject),)).fetchone()
        return bool(row and row[0])

    # -- locators -------------------------------------------------------------------
    # Rows of the keys table whose secret names a stream: wrapped, re-wrapped and
    # copied like keys, never cached (another process may have moved one), deleted
    # without a tombstone.

    def locate(self, natural: UUID) -> UUID | None:
        with self._connection() as conn:
            row = conn.execute(self._sql["select"], (self._param(natural),)).fetchone()
        if row is None or row[0] is None:
            return None
        return stream_of(self._open(natural, row[0], row[1]))

    def locate_or_assign(self, natural: UUID, proposed: UUID) -> UUID:
        return stream_of(self._stored_or_created(natural, proposed.bytes))

    def forget(self, natural: UUID, stream: UUID) -> bool:
        param = self._param(natural)
        with self._connection(transaction=True) as conn:
            row = conn.execute(self._sql["select_for_update"], (param,)).fetchone()
            if row is None or row[0] is None:
                return False
            if stream_of(self._open(natural, row[0], row[1])) != stream:
                return False  # moved on meanwhile: it leads to another stream now
            conn.execute(self._sql["forget"], (param,))
        return True

    # -- operations -----------------------------------------------------------------

    def flush(self) -> None:
        with self._connection() as conn:
            self._flush(conn)

    def rotate(self, *, at: datetime, retention: timedelta) -> Rotation:
        """Make a new KEK generation current, re-wrap every live key under it (raw keys
        too), then destroy the retired generations whose window has ended and that
        wrap no key any more. Safe to interrupt and run again: a row it skipped (a
        SQLite ``VACUUM`` renumbering rows meanwhile) keeps its generation alive, never
        lost, until the next rotation."""
        if self._kek is None:
            return Rotation(generation=None)
        generation = self._kek.create()
        with self._connection(transaction=True) as conn:
            conn.execute(self._sql["retire"], (_utc(at),))
            conn.execute(self._sql["add_current"], (generation, _utc(datetime.now(UTC))))
        self._current = generation
        rewrapped = self._rewrap(generation)
        destroyed: list[str] = []
        kept: list[str] = []
        with self._connection() as conn:
            retired = conn.execute(self._sql["retired"]).fetchall()
        for name, retired_at in retired:
            if retired_at > _utc(at - retention) or not self._destroy(str(name), at):
                kept.append(str(name))
            else:
                destroyed.append(str(name))
        return Rotation(generation, rewrapped, tuple(destroyed), tuple(kept))

    def _rewrap(self, generation: str) -> int:
        assert self._kek is not None  # noqa: S101 (rotate checked)
        count = 0
        after: Any = None
        while True:
            with self._connection(transaction=True) as conn:
                state = conn.execute(self._sql["lock_generation"], (generation,)).fetchone()
                if state is None or state[0] != "current":
                    return count  # another rotation took over; it re-wraps the rest
                if after is None:
                    rows = conn.execute(self._sql["batch_first"], (generation, REWRAP_BATCH))
                else:
                    rows = conn.execute(self._sql["batch_next"], (generation, after, REWRAP_BATCH))
                batch = rows.fetchall()
                if not batch:
                    return count
                updates = []
                for _position, value, stored, old in batch:
                    subject = self._subject(value)
                    key = self._open(subject, stored, old)
                    wrapped = self._kek.wrap(generation, key, _context(subject))
                    updates.append((wrapped, generation, value, old))
                conn.executemany(self._sql["rewrap"], updates)
                count += len(updates)
                after = batch[-1][0]

    def _destroy(self, generation: str, at: datetime) -> bool:
        assert self._kek is not None  # noqa: S101 (rotate checked)
        with self._connection() as conn:
            remaining = conn.execute(self._sql["count_under"], (generation,)).fetchone()[0]
        if remaining:
            return False  # a rotation was interrupted: the next one re-wraps them first
        self._kek.destroy(generation)
        with self._connection() as conn:
            conn.execute(self._sql["mark_destroyed"], (_utc(at), generation))
        return True

    def status(self) -> KeyStoreStatus:
        with self._connection() as conn:
            live_wrapped, live_raw, erased = conn.execute(self._sql["counts"]).fetchone()
            generations = conn.execute(self._sql["generations"]).fetchall()
        return KeyStoreStatus(
            kind=self.kind,
            live_keys=int(live_wrapped or 0) + int(live_raw or 0),
            unwrapped_keys=int(live_raw or 0),
            erased=int(erased or 0),
            generations=tuple(Generation(*row) for row in generations),
        )

    def close(self) -> None:  # pragma: no cover
        raise NotImplementedError


# Statements in SQLite's form; PostgreSQL's differ where marked in PostgresKeyStore.
_STATEMENTS: dict[str, str] = {
    "create_keys": "CREATE TABLE IF NOT EXISTS {keys} ("
    " subject TEXT PRIMARY KEY, key BLOB, erased_at TEXT, kek TEXT)",
    "create_generations": "CREATE TABLE IF NOT EXISTS {gens} ("
    " generation TEXT PRIMARY KEY, state TEXT NOT NULL, created_at TEXT NOT NULL,"
    " retired_at TEXT, destroyed_at TEXT)",
    "one_current": "CREATE UNIQUE INDEX IF NOT EXISTS {gens_index} ON {gens} (state)"
    " WHERE state = 'current'",
    "insert_raw": "INSERT OR IGNORE INTO {keys} (subject, key) VALUES (?, ?)",
    "insert_wrapped": "INSERT OR IGNORE INTO {keys} (subject, key, kek)"
    " SELECT ?, ?, generation FROM {gens} WHERE generation = ? AND state = 'current'",
    "select": "SELECT key, kek FROM {keys} WHERE subject = ?",
    "select_for_update": "SELECT key, kek FROM {keys} WHERE subject = ?",
    "forget": "DELETE FROM {keys} WHERE subject = ?",
    "erase": "UPDATE {keys} SET key = NULL, kek = NULL,"
    " erased_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE subject = ? AND key IS NOT NULL",
    "tombstone": "INSERT OR IGNORE INTO {keys} (subject, key, erased_at)"
    " VALUES (?, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    "is_erased": "SELECT key IS NULL FROM {keys} WHERE subject = ?",
    "register": "INSERT OR IGNORE INTO {gens} (generation, state, created_at)"
    " SELECT ?, 'current', ? WHERE NOT EXISTS (SELECT 1 FROM {gens} WHERE state = 'current')",
    "current": "SELECT generation FROM {gens} WHERE state = 'current'",
    "retire": "UPDATE {gens} SET state = 'retired', retired_at = ? WHERE state = 'current'",
    "add_current": "INSERT INTO {gens} (generation, state, created_at) VALUES (?, 'current', ?)",
    "lock_generation": "SELECT state FROM {gens} WHERE generation = ?",
    # Pages in rowid order: the order rows lie in the file, so a batch rewrites few
    # pages (subject order touched a page per key: 4x the time, 35x the WAL).
    "batch_first": "SELECT rowid, subject, key, kek FROM {keys} WHERE key IS NOT NULL"
    " AND (kek IS NULL OR kek <> ?) ORDER BY rowid LIMIT ?",
    "batch_next": "SELECT rowid, subject, key, kek FROM {keys} WHERE key IS NOT NULL"
    " AND (kek IS NULL OR kek <> ?) AND rowid > ? ORDER BY rowid LIMIT ?",
    "rewrap": "UPDATE {keys} SET key = ?, kek = ? WHERE subject = ? AND key IS NOT NULL"
    " AND kek IS ?",
    "retired": "SELECT generation, retired_at FROM {gens} WHERE state = 'retired'"
    " ORDER BY retired_at",
    "count_under": "SELECT count(*) FROM {keys} WHERE kek = ? AND key IS NOT NULL",
    "mark_destroyed": "UPDATE {gens} SET state = 'destroyed', destroyed_at = ?"
    " WHERE generation = ?",
    "counts": "SELECT sum(CASE WHEN key IS NOT NULL AND kek IS NOT NULL THEN 1 ELSE 0 END),"
    " sum(CASE WHEN key IS NOT NULL AND kek IS NULL THEN 1 ELSE 0 END),"
    " sum(CASE WHEN key IS NULL THEN 1 ELSE 0 END) FROM {keys}",
    "generations": "SELECT generation, state, created_at, retired_at, destroyed_at"
    " FROM {gens} ORDER BY created_at",
}


class SqliteKeyStore(_SqlKeyStore):
    """The key tables in a SQLite file (the event store's file)."""

    kind = "sqlite"

    def __init__(
        self, path: str, *, kek: KeyEncryptionKey | None = None, cache_ttl: float = 5.0
    ) -> None:
        super().__init__(kek, cache_ttl)
        names = {
            "keys": KEYS_TABLE,
            "gens": GENERATIONS_TABLE,
            "gens_index": "healthcard_kek_one_current",
        }
        self._sql = {name: text.format(**names) for name, text in _STATEMENTS.items()}
        self._lock = threading.RLock()
        self._path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA secure_delete=ON")
        if path != ":memory:":
            # WAL (as eventsourcing uses): the events' own commit, which follows the
            # key's in the same WAL file, makes the key durable, so this connection
            # need not fsync on every new key (synchronous=NORMAL).
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._connection(transaction=True) as conn:
            conn.execute(self._sql["create_keys"])
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({KEYS_TABLE})")}
            if "kek" not in columns:  # a table made by 0.1.0
                conn.execute(f"ALTER TABLE {KEYS_TABLE} ADD COLUMN kek TEXT")
            conn.execute(self._sql["create_generations"])
            conn.execute(self._sql["one_current"])
        self._start()

    @contextmanager
    def _connection(self, *, transaction: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            with self._lock:
                if not transaction:
                    yield self._conn
                    return
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
        except sqlite3.OperationalError as error:
            # Another process held the file's write lock past the busy timeout: a
            # fault to retry, like a server that is away, not a bug.
            if "locked" in str(error) or "busy" in str(error):
                raise StoreUnavailable(STORE_NAME) from None
            raise

    def _param(self, subject: UUID) -> Any:
        return str(subject)

    def _flush(self, conn: Any) -> None:
        # Push the WAL into the main file and empty it: no old page keeps the key. A
        # reader holding an older snapshot blocks this (busy = 1): say so.
        # Wait briefly only: the erasure is recorded, and complete_erasures retries.
        conn.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        try:
            busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if busy:
            raise KeysNotFlushed(
                "a reader holds the SQLite file; its write-ahead log keeps old pages"
            )

    def close(self) -> None:
        self._conn.close()


class PostgresKeyStore(_SqlKeyStore):
    """The key tables in the application's PostgreSQL schema, through a connection pool."""

    kind = "postgres"

    def __init__(
        self,
        conninfo: Mapping[str, Any],
        schema: str = "",
        *,
        kek: KeyEncryptionKey | None = None,
        cache_ttl: float = 5.0,
        timeout: float = 2.0,
        create_tables: bool = True,
    ) -> None:
        import psycopg
        from psycopg import sql
        from psycopg_pool import ConnectionPool, PoolTimeout

        super().__init__(kek, cache_ttl)
        self._errors: tuple[type[BaseException], ...] = (
            psycopg.OperationalError,
            psycopg.InterfaceError,
            PoolTimeout,
        )

        def name(table: str) -> Any:
            return sql.Identifier(schema, table) if schema else sql.Identifier(table)

        postgres = dict(_STATEMENTS)
        postgres.update(
            {
                "create_keys": "CREATE TABLE IF NOT EXISTS {keys} ("
                " subject UUID PRIMARY KEY, key BYTEA, erased_at TIMESTAMPTZ, kek TEXT)",
                "add_kek": "ALTER TABLE {keys} ADD COLUMN IF NOT EXISTS kek TEXT",
                "insert_raw": "INSERT INTO {keys} (subject, key) VALUES (?, ?)"
                " ON CONFLICT (subject) DO NOTHING",
                "insert_wrapped": "INSERT INTO {keys} (subject, key, kek)"
                " SELECT ?, ?, generation FROM {gens} WHERE generation = ? AND state = 'current'"
                " FOR SHARE ON CONFLICT (subject) DO NOTHING",
                "erase": "UPDATE {keys} SET key = NULL, kek = NULL, erased_at = now()"
                " WHERE subject = ? AND key IS NOT NULL",
                "tombstone": "INSERT INTO {keys} (subject, key, erased_at)"
                " VALUES (?, NULL, now()) ON CONFLICT (subject) DO NOTHING",
                "register": "INSERT INTO {gens} (generation, state, created_at)"
                " SELECT ?, 'current', ? WHERE NOT EXISTS"
                " (SELECT 1 FROM {gens} WHERE state = 'current') ON CONFLICT DO NOTHING",
                "lock_generation": "SELECT state FROM {gens} WHERE generation = ? FOR SHARE",
                "select_for_update": "SELECT key, kek FROM {keys} WHERE subject = ? FOR UPDATE",
                "batch_first": "SELECT subject, subject, key, kek FROM {keys}"
                " WHERE key IS NOT NULL AND (kek IS NULL OR kek <> ?) ORDER BY subject LIMIT ?",
                "batch_next": "SELECT subject, subject, key, kek FROM {keys}"
                " WHERE key IS NOT NULL AND (kek IS NULL OR kek <> ?) AND subject > ?"
                " ORDER BY subject LIMIT ?",
                "rewrap": "UPDATE {keys} SET key = ?, kek = ? WHERE subject = ?"
                " AND key IS NOT NULL AND kek IS NOT DISTINCT FROM ?",
                "vacuum": "VACUUM {keys}",
                "lock_schema": "SELECT pg_advisory_xact_lock(hashtext('healthcard_personal_keys'))",
                "tables_exist": "SELECT to_regclass(?) IS NOT NULL AND to_regclass(?) IS NOT NULL",
            }
        )
        self._sql = {
            key: sql.SQL(text.replace("?", "%s")).format(
                keys=name(KEYS_TABLE),
                gens=name(GENERATIONS_TABLE),
                gens_index=sql.Identifier("healthcard_kek_one_current"),
            )
            for key, text in postgres.items()
        }
        self._pool = steady(ConnectionPool)(
            kwargs={**conninfo, "autocommit": True},
            min_size=1,
            max_size=4,
            timeout=timeout,
            check=_check_if_idle,
            reset=_mark_returned,
            open=False,
            name="healthcard-keys",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
            with self._pool.connection() as conn:
                # Rendered once: composing identifiers on every statement costs CPU.
                self._sql = {key: statement.as_string(conn) for key, statement in self._sql.items()}
            if create_tables:
                self._create_tables()
            else:
                self._require_tables(schema)
            self._start()
        except self._errors:
            self._pool.close()
            raise StoreUnavailable(STORE_NAME) from None
        except BaseException:
            self._pool.close()
            raise

    def _create_tables(self) -> None:
        with self._connection(transaction=True) as conn:
            # One process at a time creates the tables (many may start together).
            for step in (
                "lock_schema",
                "create_keys",
                "add_kek",
                "create_generations",
                "one_current",
            ):
                conn.execute(self._sql[step])

    def _require_tables(self, schema: str) -> None:
        """Without DDL (``CREATE_TABLE`` off: a role that may not create or alter
        tables), check the tables are there and say which command makes them."""
        names = [f"{schema}.{t}" if schema else t for t in (KEYS_TABLE, GENERATIONS_TABLE)]
        with self._connection() as conn:
            found = conn.execute(self._sql["tables_exist"], names).fetchone()
        if not (found and found[0]):
            raise ConfigurationError(
                "the key store has no tables and CREATE_TABLE is off: "
                "run `healthcard db init` once first",
                field="CREATE_TABLE",
            )

    @contextmanager
    def _connection(self, *, transaction: bool = False) -> Iterator[Any]:
        try:
            with self._pool.connection() as conn:
                if transaction:
                    with conn.transaction():
                        yield _Psycopg(conn)
                else:
                    yield _Psycopg(conn)
        except self._errors:
            raise StoreUnavailable(STORE_NAME) from None

    def flush(self) -> None:
        """VACUUM the keys table: dead row versions holding erased keys leave the heap
        (the WAL and older copies are the KEK rotation's job)."""
        with self._connection() as conn:
            conn.execute(self._sql["vacuum"])

    def close(self) -> None:
        self._pool.close()


IDLE_CHECK_SECONDS = 1.0
"""A pooled connection idle longer than this is checked before use (one round trip)."""


def _mark_returned(conn: Any) -> None:
    """Pool ``reset`` callback: remember when the connection was last handed back."""
    _RETURNED[conn] = time.monotonic()


def _check_if_idle(conn: Any) -> None:
    """Pool ``check`` callback: check a connection only if it sat idle.

    Why not check every checkout (``ConnectionPool.check_connection``): that is one
    round trip per key lookup, ~40% more CPU per command. A connection in constant use
    that the server dropped fails once, typed (``StoreUnavailable``), and the pool
    discards it; one idle through an outage or a restart is checked and replaced here.
    """
    from psycopg_pool import ConnectionPool

    returned = _RETURNED.get(conn)
    if returned is None or time.monotonic() - returned > IDLE_CHECK_SECONDS:
        ConnectionPool.check_connection(conn)


_RETURNED: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


class _Psycopg:
    """A psycopg connection with ``executemany`` (psycopg has it on cursors only)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, statement: Any, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(statement, params)

    def executemany(self, statement: Any, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(statement, rows)


__all__ = ["MAX_CACHED_KEYS", "PostgresKeyStore", "SqliteKeyStore"]
