"""What a per-person key store is: its protocols, its errors and the reports it gives.

Why apart from the stores: the in-memory, SQLite and PostgreSQL stores, a KMS adapter
and the service that erases and rotates all speak this language, and none of them
should need another's code to do so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE_BITS = 256


class SubjectErased(LookupError):
    """The subject's key was deleted on an erasure request: its personal data is gone."""

    def __init__(self, subject: UUID) -> None:
        super().__init__(f"personal data of {subject} was erased")
        self.subject = subject


class KeysNotFlushed(RuntimeError):
    """Erased keys are deleted from the table but an old copy is still in live storage
    (a SQLite reader holds a snapshot, so the write-ahead log could not be emptied).
    Flushing again later (``complete_erasures``) finishes the job."""


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


@runtime_checkable
class Locators(Protocol):
    """Where an aggregate found by a natural key lives now: a random stream id kept
    beside the keys, per natural key (a keyed hash of a document or a phone number).

    Why in the key store: a locator is as secret as a key (it joins a document to the
    streams that name its card) and must go the way a key goes: wrapped under the KEK,
    deleted on erasure, unreadable in every older copy once the KEK generation of that
    copy is destroyed. Unlike a key it leaves no tombstone: the natural key may be
    registered again, and a tombstone would say that this person was erased.
    """

    def locate(self, natural: UUID) -> UUID | None:
        """The stream ``natural`` leads to now, ``None`` if none was assigned."""
        ...

    def locate_or_assign(self, natural: UUID, proposed: UUID) -> UUID:
        """The stream ``natural`` leads to; on first use ``proposed`` (a new random id):
        every caller racing for the first one gets the same stream."""
        ...

    def forget(self, natural: UUID, stream: UUID) -> bool:
        """Delete the locator if it still leads to ``stream``; True if it did."""
        ...


def stream_of(secret: bytes) -> UUID:
    """The stream id a locator's stored secret names."""
    return UUID(bytes=secret)


@dataclass(frozen=True, slots=True)
class Generation:
    """One generation of the key-encryption key, as the key store records it."""

    generation: str
    state: str
    """``current`` (wraps new keys), ``retired`` (kept for the backup window) or ``destroyed``."""
    created_at: str
    """When the store first used it (the machine's clock, UTC)."""
    retired_at: str | None = None
    """The rotation's time (the application's clock): the backup window starts here."""
    destroyed_at: str | None = None


@dataclass(frozen=True, slots=True)
class Rotation:
    """What one rotation did: the new generation, how many keys it re-wrapped, which
    retired generations it destroyed and which it kept (inside the retention window,
    or still wrapping keys)."""

    generation: str | None
    """The new current generation; ``None`` when the store does not wrap keys."""
    rewrapped: int = 0
    destroyed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyStoreStatus:
    """What an operator may see of a key store: counts and generations, never a key."""

    kind: str
    live_keys: int
    """Rows that hold a key or a locator (locators are wrapped and rotated like keys)."""
    unwrapped_keys: int
    """Live keys stored without a key-encryption key (test mode, or before the first
    rotation of a store made by an older release)."""
    erased: int
    generations: tuple[Generation, ...] = field(default=())


@runtime_checkable
class ManagedKeyStore(KeyStore, Protocol):
    """A key store that can say what it still holds, flush and rotate (the built-in
    stores). A KMS behind the plain ``KeyStore`` protocol does these itself."""

    def holds_key(self, subject: UUID) -> bool:
        """True while the subject's key exists (not erased, not absent)."""
        ...

    def flush(self) -> None:
        """Make erased keys gone from live storage; ``KeysNotFlushed`` if it cannot yet."""
        ...

    def rotate(self, *, at: datetime, retention: timedelta) -> Rotation:
        """Wrap every live key under a new KEK generation and destroy the generations
        retired at least ``retention`` before ``at`` (their keys all re-wrapped)."""
        ...

    def status(self) -> KeyStoreStatus: ...


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_SIZE_BITS)


__all__ = [
    "Generation",
    "KeyStore",
    "KeyStoreStatus",
    "KeysNotFlushed",
    "Locators",
    "ManagedKeyStore",
    "Rotation",
    "SubjectErased",
    "new_key",
    "stream_of",
]
