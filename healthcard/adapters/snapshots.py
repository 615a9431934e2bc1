"""Snapshots of health cards: a card's state at a version, sealed with the card's key.

Why: a card is used at every point of care, for decades; replaying all of its events
on every cold load grows with its history. A snapshot every ``interval`` events makes
a cold load read one snapshot and fewer than ``interval`` events after it.

Why a cache and not an event: the log stays the only truth. A snapshot is kept apart
(eventsourcing's snapshot table, never in the notification log), written after the
events it sums up have committed, and ignored whenever it cannot be trusted as it is:
an unknown ``LAYOUT`` (the card's state changed shape since), a key that is gone
(the card was erased), a ciphertext that does not open. Then the card is replayed
from its events, as without snapshots; nothing is upcast or migrated, ever.

Why sealed whole: a card's state holds the person's name, document, phone and the
accounts it was bound to. The whole state is encrypted with AES-GCM under the card's
own per-person key (the one that seals its events' personal fields), with the topic,
card id, version and layout as associated data, so an erasure, which deletes that key,
makes every snapshot of the card unreadable too, in backups as well
(``docs/privacy.md``).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import AggregateRecorder, Cipher, Compressor, StoredEvent
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from healthcard.adapters.privacy.keystore import KeyStore
from healthcard.domain.aggregate import Aggregate
from healthcard.domain.audit import Channel
from healthcard.domain.boundary import TRUSTED_CONTEXT
from healthcard.domain.card import HealthCard, Registration
from healthcard.domain.card_values import CardKind, CardStatus, IssuerMode, PhotoRef
from healthcard.domain.events.base import UnknownTopic, resolve_topic, topic_of
from healthcard.domain.identity import IdentityDocument, Sex
from healthcard.domain.relation import Relation

TOPIC: Final = "healthcard.snapshot.HealthCard"
"""The stored topic of a card snapshot (not an event topic: never in the log)."""

LAYOUT: Final = 1
"""The shape of ``CardState``. Bump it whenever the card's state changes shape: older
snapshots are then ignored (cards replay from their events and are snapshotted anew).
``tests/unit/test_snapshots.py`` pins the shape, so a change without a bump fails."""

NONCE_SIZE: Final = 12


class CardState(TypedDict):
    """Everything a ``HealthCard`` holds but its id, version and pending events."""

    _modified_on: datetime | None
    _recent_commands: list[tuple[UUID, str]]  # (command id, topic of its first event)
    status: CardStatus
    kind: CardKind
    issuer_mode: IssuerMode
    channel: Channel
    registered_at: datetime | None
    name: str | None
    phone: str | None
    photo: PhotoRef | None
    volunteer: str | None
    document: IdentityDocument | None
    sex: Sex | None
    birth_date: date | None
    verified_by: str | None
    main_index_id: str | None
    ehc_id: str | None
    accounts: dict[UUID, Relation]
    former_accounts: dict[UUID, Relation]
    own_accounts: dict[UUID, None]
    bound_accounts: dict[UUID, None]
    erased: bool
    registration: Registration | None
    accepted_nonces: dict[str, datetime]
    _prune_nonces_at: int
    tokens_revoked_before: datetime | None
    account_tokens_revoked_before: dict[UUID, datetime]


CARD_STATE: Final = TypeAdapter(CardState)
NOT_STATE: Final = frozenset({"_id", "_version", "_pending_events"})
"""Attributes of an aggregate that a snapshot's columns hold, or that it never holds."""


def state_of(card: HealthCard) -> bytes:
    """The card's state as JSON (plain: seal it before it leaves the process)."""
    state = {name: value for name, value in vars(card).items() if name not in NOT_STATE}
    state["_recent_commands"] = [
        (command_id, topic_of(first)) for command_id, first in card._recent_commands
    ]
    return CARD_STATE.dump_json(state)  # type: ignore[arg-type]


def card_from_state(card_id: UUID, version: int, data: bytes) -> HealthCard:
    """The card a ``state_of`` JSON describes, at ``version``.

    Raises:
        ValueError: the JSON is not a ``CardState`` of this layout (or names a topic
            this code does not know).
    """
    try:
        state: dict[str, Any] = dict(CARD_STATE.validate_json(data, context=TRUSTED_CONTEXT))
        recent = tuple(
            (command, resolve_topic(topic)) for command, topic in state.pop("_recent_commands")
        )
    except (ValidationError, UnknownTopic) as error:
        raise ValueError("not a card state of this layout") from error
    card = HealthCard.__new__(HealthCard)
    Aggregate.__init__(card, card_id)
    card.__dict__.update(state)
    card._recent_commands = recent
    card.version = version
    return card


class CardSnapshots:
    """Takes and reads sealed card snapshots in eventsourcing's snapshot table.

    ``compressor`` and ``cipher`` are the application's own (eventsourcing's
    ``COMPRESSOR_TOPIC`` and ``CIPHER_TOPIC``): the state is compressed before it is
    sealed, and the sealed bytes encrypted at rest like every stored event.
    """

    def __init__(
        self,
        recorder: AggregateRecorder,
        keystore: KeyStore,
        *,
        interval: int,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        self.recorder = recorder
        self.keystore = keystore
        self.interval = interval
        self._compressor = compressor
        self._cipher = cipher

    def due(self, card: HealthCard, new_events: int) -> bool:
        """Whether the ``new_events`` just saved took ``card`` past a multiple of the
        interval (one snapshot however many they were). Never for an erased card:
        its key is gone, and nothing personal is left to save replaying for."""
        every = self.interval
        return not card.erased and card.version // every > (card.version - new_events) // every

    def take(self, card: HealthCard) -> None:
        """Store the card's current state (its events must be committed already).

        Raises:
            SubjectErased: the card was erased meanwhile (nothing stored).
            eventsourcing's IntegrityError: a snapshot at this version exists.
        """
        plain = state_of(card)
        if self._compressor is not None:
            plain = self._compressor.compress(plain)
        key = self.keystore.key_for_writing(card.id)
        nonce = os.urandom(NONCE_SIZE)
        sealed = nonce + AESGCM(key).encrypt(nonce, plain, _aad(card.id, card.version))
        if self._cipher is not None:
            sealed = self._cipher.encrypt(sealed)
        self.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=card.id,
                    originator_version=card.version,
                    topic=f"{TOPIC}/{LAYOUT}",
                    state=sealed,
                )
            ]
        )

    def latest(self, card_id: UUID, version: int | None = None) -> HealthCard | None:
        """The card restored from its latest snapshot (at ``version`` or before, if
        given), or None: no snapshot, another layout, the key erased, or a snapshot
        that does not open (the events are the truth: replay them)."""
        found = self.recorder.select_events(card_id, lte=version, desc=True, limit=1)
        if not found:
            return None
        stored = found[0]
        if stored.topic != f"{TOPIC}/{LAYOUT}":
            return None
        key = self.keystore.key_for_reading(card_id)
        if key is None:
            return None
        sealed = stored.state
        try:
            if self._cipher is not None:
                sealed = self._cipher.decrypt(sealed)
            plain = AESGCM(key).decrypt(
                sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], _aad(card_id, stored.originator_version)
            )
            if self._compressor is not None:
                plain = self._compressor.decompress(plain)
            return card_from_state(card_id, stored.originator_version, plain)
        except (InvalidTag, ValueError):
            return None


def _aad(card_id: UUID, version: int) -> bytes:
    return f"{TOPIC}|{card_id}|{version}|{LAYOUT}".encode()
