"""Per-person data keys, held apart from the events, so erasure is one deletion.

A *subject* is the aggregate whose events hold the person's data (a card, an
account). Its 256-bit AES key lives in a key store: tables of their own in the same
SQLite file or PostgreSQL database as the events (:mod:`.sql_keystore`), wrapped under
a key-encryption key kept outside the database (:mod:`.kek`), or, through the
``KeyStore`` protocol, an app's KMS. Erasing deletes the key and leaves a tombstone,
so a decoder can tell "erased" from "missing" (a bug).

This module is the one to import from: the protocols and reports
(:mod:`.key_protocol`), the stores, and :func:`keystore_from_env`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID

from healthcard.adapters.privacy.kek import KeyEncryptionKey
from healthcard.adapters.privacy.key_protocol import (
    KEY_SIZE_BITS,
    Generation,
    KeysNotFlushed,
    KeyStore,
    KeyStoreStatus,
    Locators,
    ManagedKeyStore,
    Rotation,
    SubjectErased,
    new_key,
    stream_of,
)
from healthcard.adapters.privacy.sql_keystore import (
    MAX_CACHED_KEYS,
    PostgresKeyStore,
    SqliteKeyStore,
)
from healthcard.adapters.schema_lock import creates_tables, postgres_conninfo


class InMemoryKeyStore:
    """Keys in a dict: for in-memory applications and tests (nothing to wrap or flush)."""

    kind = "memory"

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes] = {}
        self._erased: set[UUID] = set()
        self._locators: dict[UUID, UUID] = {}
        self._lock = threading.Lock()

    def key_for_writing(self, subject: UUID) -> bytes:
        with self._lock:
            if subject in self._erased:
                raise SubjectErased(subject)
            return self._keys.setdefault(subject, new_key())

    def key_for_reading(self, subject: UUID) -> bytes | None:
        return self._keys.get(subject)

    def holds_key(self, subject: UUID) -> bool:
        return subject in self._keys

    def erase(self, subject: UUID) -> bool:
        with self._lock:
            self._erased.add(subject)
            return self._keys.pop(subject, None) is not None

    def is_erased(self, subject: UUID) -> bool:
        return subject in self._erased

    def flush(self) -> None:
        return None

    def locate(self, natural: UUID) -> UUID | None:
        return self._locators.get(natural)

    def locate_or_assign(self, natural: UUID, proposed: UUID) -> UUID:
        with self._lock:
            return self._locators.setdefault(natural, proposed)

    def forget(self, natural: UUID, stream: UUID) -> bool:
        with self._lock:
            if self._locators.get(natural) != stream:
                return False
            del self._locators[natural]
            return True

    def rotate(self, *, at: datetime, retention: timedelta) -> Rotation:
        return Rotation(generation=None)

    def status(self) -> KeyStoreStatus:
        return KeyStoreStatus(
            kind=self.kind,
            live_keys=len(self._keys),
            unwrapped_keys=len(self._keys),
            erased=len(self._erased),
        )

    def close(self) -> None:
        return None


def keystore_from_env(
    env: Mapping[str, str], *, kek: KeyEncryptionKey | None = None
) -> ManagedKeyStore:
    """The key store beside the event store that ``env`` configures (in memory for an
    in-memory event store), wrapping keys under ``kek`` when one is given."""
    module = env.get("PERSISTENCE_MODULE", "eventsourcing.popo")
    if module.endswith("sqlite"):
        path = env.get("SQLITE_DBNAME", "")
        if not path or ":memory:" in path or "mode=memory" in path:
            return InMemoryKeyStore()
        return SqliteKeyStore(path, kek=kek)
    if module.endswith("postgres"):
        conninfo = postgres_conninfo(env)
        return PostgresKeyStore(
            conninfo, env.get("POSTGRES_SCHEMA", ""), kek=kek, create_tables=creates_tables(env)
        )
    return InMemoryKeyStore()


__all__ = [
    "KEY_SIZE_BITS",
    "MAX_CACHED_KEYS",
    "Generation",
    "InMemoryKeyStore",
    "KeyStore",
    "KeyStoreStatus",
    "KeysNotFlushed",
    "Locators",
    "ManagedKeyStore",
    "PostgresKeyStore",
    "Rotation",
    "SqliteKeyStore",
    "SubjectErased",
    "keystore_from_env",
    "new_key",
    "stream_of",
]
