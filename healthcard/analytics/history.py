"""A card's history, and the card as it was at a time.

The card at a *version* is the application's (``HealthCardApp.card_as_of(card_id,
version)``, the repository's own replay). The *time* variant has no repository
equivalent: the card as of time *t* is the fold of its events recorded at or before
*t* (events of one aggregate are recorded in time order); a property test says it
equals ``card_as_of`` at the version reached by then.

The card's own events come from the event store by id (an indexed read). Events of
other aggregates that name the card (appointments, check-ins, accounts, document
claims) are only found by reading the log, so ``card_history(related=True)``
streams the whole log once.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import takewhile
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from healthcard.adapters.privacy.masking import (
    MASK,
    mask_document_number,
    mask_name,
    mask_phone,
    mask_state,
    originator_is_keyed,
)
from healthcard.analytics.log import LogFilter, LogReader, Progress
from healthcard.application import HealthCardApp
from healthcard.domain.card import HealthCard
from healthcard.domain.errors import CardNotFound, InvalidInput
from healthcard.domain.events.base import DomainEvent, topic_of
from healthcard.domain.events.card import CardEvent


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event of a card's history, ready to show (personal data masked by default)."""

    position: int | None
    """Order in the whole log (known when the history was read from the log)."""
    version: int | None
    """The card's version after this event (None for other aggregates' events)."""
    timestamp: datetime
    event_type: str
    topic: str
    originator_id: UUID | None
    """The aggregate's id; ``None`` in a masked history when it is a keyed hash of a
    document or account (a document claim's, an account's)."""
    channel: str
    actor: str
    institution: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "version": self.version,
            "timestamp": self.timestamp.isoformat(),
            "event_type": self.event_type,
            "topic": self.topic,
            "originator_id": None if self.originator_id is None else str(self.originator_id),
            "channel": self.channel,
            "actor": self.actor,
            "institution": self.institution,
            "data": self.data,
        }


def entry_for(
    event: DomainEvent, *, card_id: UUID, position: int | None = None, clear: bool = False
) -> HistoryEntry:
    data = event.model_dump(
        mode="json", exclude={"originator_id", "originator_version", "timestamp", "audit"}
    )
    originator: UUID | None = event.originator_id
    if not clear:
        data = mask_state(type(event), data)
        if originator_is_keyed(type(event)):
            originator = None
    own = event.originator_id == card_id
    return HistoryEntry(
        position=position,
        version=event.originator_version if own else None,
        timestamp=event.timestamp,
        event_type=type(event).__name__,
        topic=topic_of(type(event)),
        originator_id=originator,
        channel=event.audit.channel.value,
        actor=event.audit.actor,
        institution=event.audit.institution,
        data=data,
    )


def card_events(
    app: Application[UUID], card_id: UUID, *, up_to_version: int | None = None
) -> list[DomainEvent]:
    """The card's own events in version order (up to ``up_to_version``, inclusive)."""
    events: list[DomainEvent] = []
    for event in app.repository.event_store.get(card_id, lte=up_to_version):
        if not isinstance(event, DomainEvent):
            raise TypeError(f"not a healthcard event in the history of {card_id}")
        events.append(event)
    return events


def card_history(
    app: Application[UUID],
    card_id: UUID,
    *,
    related: bool = False,
    clear: bool = False,
    progress: Progress | None = None,
) -> list[HistoryEntry]:
    """The card's history, oldest first. ``related=True`` adds the events of other
    aggregates that name the card (reads the whole log). Raises ``CardNotFound``."""
    if related:
        logged = LogReader(app).events(LogFilter(card_id=card_id), progress=progress)
        entries = [
            entry_for(item.event, card_id=card_id, position=item.position, clear=clear)
            for item in logged
        ]
        if not any(entry.version is not None for entry in entries):
            raise CardNotFound(card_id)
        return entries
    events = card_events(app, card_id)
    _require_card(card_id, events)
    return [entry_for(event, card_id=card_id, clear=clear) for event in events]


def _require_card(card_id: UUID, events: list[DomainEvent]) -> None:
    _fold(card_id, events[:1])


def _fold(card_id: UUID, events: Iterable[DomainEvent]) -> HealthCard:
    """Fold a card's events; ``CardNotFound`` when there are none or the id is not a card's
    (a corrupt history still raises ``EventHistoryError``)."""
    history = list(events)
    if not history or not isinstance(history[0], CardEvent):
        raise CardNotFound(card_id)
    card = HealthCard.project(None, history)
    if card is None:  # pragma: no cover - a non-empty history always folds to a card
        raise CardNotFound(card_id)
    return card


def card_as_of_version(app: HealthCardApp, card_id: UUID, version: int) -> HealthCard:
    """Deprecated: ``app.card_as_of(card_id, version)`` is the one way to get the card
    at a version (this alias goes in 1.0)."""
    warnings.warn(
        "card_as_of_version(app, card, v) is deprecated: use app.card_as_of(card, v)",
        DeprecationWarning,
        stacklevel=2,
    )
    return app.card_as_of(card_id, version)


def card_as_of_time(app: Application[UUID], card_id: UUID, at: datetime) -> HealthCard:
    """The card as it was at ``at`` (its events recorded at or before ``at``).

    Raises ``CardNotFound`` when the card did not exist yet (or never did).
    """
    if at.tzinfo is None:
        raise InvalidInput("at", "must be timezone-aware")
    events = card_events(app, card_id)
    return _fold(card_id, takewhile(lambda event: event.timestamp <= at, events))


def version_at(app: Application[UUID], card_id: UUID, at: datetime) -> int:
    """The card's version at ``at`` (0 when it did not exist yet)."""
    return sum(1 for _ in takewhile(lambda e: e.timestamp <= at, card_events(app, card_id)))


def describe_card(card: HealthCard, *, clear: bool = False) -> dict[str, Any]:
    """A JSON-friendly view of a card's state (personal data masked unless ``clear``).

    Masked, the EHC ID is starred entirely and the accounts the card is bound to are
    numbered (``#1``, ``#2`` in binding order) instead of named by their ids, which
    are keyed hashes of the phone or open id; their relations stay.
    """
    document = card.document
    number = None if document is None else document.number
    name, phone = card.name, card.phone
    birth = None if card.birth_date is None else card.birth_date.isoformat()
    if not clear:
        number = None if number is None else mask_document_number(number)
        name = None if name is None else mask_name(name)
        phone = None if phone is None else mask_phone(phone)
        birth = None if birth is None else birth[:4] + "-**-**"
    return {
        "card_id": str(card.id),
        "version": card.version,
        "as_of": None if card.modified_on is None else card.modified_on.isoformat(),
        "status": card.status.value,
        "kind": card.kind.value,
        "issuer_mode": card.issuer_mode.value,
        "channel": card.channel.value,
        "registered_at": None if card.registered_at is None else card.registered_at.isoformat(),
        "name": name,
        "phone": phone,
        "document_type": None if document is None else document.type.value,
        "document_number": number,
        "sex": None if card.sex is None else card.sex.value,
        "birth_date": birth,
        "verified_by": card.verified_by,
        "ehc_id": card.ehc_id if clear or card.ehc_id is None else MASK * 3,
        "accounts": {
            (str(account) if clear else f"#{number}"): relation.value
            for number, (account, relation) in enumerate(card.accounts.items(), start=1)
        },
        "erased": bool(getattr(card, "erased", False)),
    }


__all__ = [
    "HistoryEntry",
    "card_as_of_time",
    "card_as_of_version",
    "card_events",
    "card_history",
    "describe_card",
    "entry_for",
    "version_at",
]
