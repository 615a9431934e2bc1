"""Finishing erasures and rotating the key-encryption key: the operator's side of
crypto-shredding.

Why the log decides what is pending: an erasure is *recorded* first (the card's
``PersonalDataErased``, the accounts' ``AccountErased``, saved atomically) and its
keys destroyed afterwards, in another store. Anything can fail between the two (an
outage, a kill, a SQLite reader keeping old pages), so the recorded events are the
truth: every subject they name whose key still exists is a pending erasure, and
:func:`complete_erasures` destroys those keys (again and again, idempotent) before it
flushes the store and rotates the KEK.

Why the rotation belongs to the same run: a destroyed key is gone from the live table,
but every copy of the database made before (dead tuples, WAL archives, replicas,
dumps, file copies) still holds it, wrapped under the KEK generation of that time.
Re-wrapping every live key under a new generation and destroying the old one, once
the backup-retention window has passed, makes those copies unable to open any key
erased before the rotation (``docs/privacy.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.application import Application

from healthcard.adapters.log_reader import LogReader
from healthcard.adapters.privacy.keystore import (
    KeysNotFlushed,
    KeyStore,
    ManagedKeyStore,
    Rotation,
)
from healthcard.domain.errors import ErasureIncomplete, StoreUnavailable
from healthcard.domain.events.account import AccountErased
from healthcard.domain.events.base import topic_of
from healthcard.domain.events.card import PersonalDataErased

ERASURE_TOPICS = (topic_of(PersonalDataErased), topic_of(AccountErased))


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What :func:`complete_erasures` did (ids only: nothing personal)."""

    completed: tuple[UUID, ...]
    """Subjects (cards, accounts) whose keys were still there and are destroyed now."""
    rotation: Rotation
    """The KEK rotation (``generation`` is None when keys are not wrapped)."""


def recorded_erasures(app: Application[UUID]) -> list[UUID]:
    """Every subject the log records as erased (cards, then accounts, in log order)."""
    seen: dict[UUID, None] = {}
    for notification in LogReader(app).notifications(topics=ERASURE_TOPICS):
        seen.setdefault(UUID(str(notification.originator_id)), None)
    return list(seen)


def pending_erasures(app: Application[UUID], keystore: KeyStore) -> list[UUID]:
    """The recorded erasures whose keys still exist: they are not complete yet."""
    return [subject for subject in recorded_erasures(app) if _holds(keystore, subject)]


Before = Callable[[Sequence[UUID]], None]
"""What must happen to erased subjects while their keys still exist (the service deletes
the locators that led to their streams)."""


def destroy_keys(
    keystore: KeyStore, card_id: UUID, subjects: Sequence[UUID], *, before: Before | None = None
) -> None:
    """Destroy the keys of an erasure that is recorded (after ``before``), then flush
    the store; any failure is ``ErasureIncomplete`` (the recorded events keep it
    pending, nothing is lost, :func:`complete_erasures` finishes it)."""
    with _incomplete_on_failure(card_id):
        if before is not None:
            before(subjects)
        for subject in subjects:
            keystore.erase(subject)
        if isinstance(keystore, ManagedKeyStore):
            keystore.flush()


def complete_erasures(
    app: Application[UUID],
    keystore: KeyStore,
    *,
    at: datetime,
    retention: timedelta,
    before: Before | None = None,
) -> ErasureReport:
    """Destroy the keys of every pending erasure, rotate the KEK, flush the store.

    Raises ``ErasureIncomplete`` when a key cannot be destroyed or the store cannot be
    flushed yet, ``StoreUnavailable`` when the store cannot even be read; running it
    again later finishes the job (every step is idempotent).
    """
    pending = pending_erasures(app, keystore)
    with _incomplete_on_failure(None):
        if before is not None and pending:
            before(pending)
        for subject in pending:
            keystore.erase(subject)
        if not isinstance(keystore, ManagedKeyStore):
            return ErasureReport(tuple(pending), Rotation(generation=None))
        rotation = keystore.rotate(at=at, retention=retention)
        keystore.flush()
    return ErasureReport(tuple(pending), rotation)


@contextmanager
def _incomplete_on_failure(card_id: UUID | None) -> Iterator[None]:
    """Any failure of the key store after an erasure is recorded: ``ErasureIncomplete``."""
    try:
        yield
    except KeysNotFlushed as error:
        raise ErasureIncomplete(str(error), card_id=card_id) from error
    except StoreUnavailable as error:
        raise ErasureIncomplete("the key store is unavailable", card_id=card_id) from error
    except Exception as error:
        raise ErasureIncomplete(
            f"the key store failed ({type(error).__name__})", card_id=card_id
        ) from error


def _holds(keystore: KeyStore, subject: UUID) -> bool:
    if isinstance(keystore, ManagedKeyStore):
        return keystore.holds_key(subject)
    return keystore.key_for_reading(subject) is not None


__all__ = [
    "ERASURE_TOPICS",
    "ErasureReport",
    "complete_erasures",
    "destroy_keys",
    "pending_erasures",
    "recorded_erasures",
]
