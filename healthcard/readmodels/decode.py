"""Stored events to the plain records the read models fold: only the topics they use.

Why not event models: a rebuild reads millions of events, and building a validated
pydantic model per event costs more than the whole fold. A projection needs a few
fields of a few topics, so it takes the stored state from the mapper's one decode
pipeline (``PydanticMapper.decode_states``: at-rest cipher, compressor, per-person
sealed fields -- only the ones the views show --, upcasting) and keeps those fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification

from healthcard.adapters.codec import PydanticMapper
from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels.model import DIAGNOSIS_STEP


class Topic:
    """Stored topics the read models fold (strings: no event class is imported)."""

    IDENTITY_COMPLETED = "healthcard.card.IdentityCompleted"
    PERSONAL_DATA_ERASED = "healthcard.card.PersonalDataErased"
    CARD_USED = "healthcard.card.Used"
    SESSION_PUBLISHED = "healthcard.session.Published"
    APPOINTMENT_MADE = "healthcard.session.AppointmentMade"
    APPOINTMENT_CANCELLED = "healthcard.session.AppointmentCancelled"
    CHECKED_IN = "healthcard.session.CheckedIn"


HANDLED_TOPICS: tuple[str, ...] = (
    Topic.IDENTITY_COMPLETED,
    Topic.PERSONAL_DATA_ERASED,
    Topic.CARD_USED,
    Topic.SESSION_PUBLISHED,
    Topic.APPOINTMENT_MADE,
    Topic.APPOINTMENT_CANCELLED,
    Topic.CHECKED_IN,
)
"""Every topic the booking and triage read models fold; others are never read."""

PERSONAL_FIELDS_USED: dict[str, tuple[str, ...]] = {Topic.IDENTITY_COMPLETED: ("name", "document")}
"""The sealed fields the read models need (masked); the others are left sealed."""

KEEP_ONLY: dict[str, tuple[str, str]] = {Topic.CARD_USED: ("step", DIAGNOSIS_STEP)}
"""Events of these topics matter only with this field value; others are dropped
right after parsing (most uses of a card are payment, dispensing...)."""

FIELDS_USED: dict[str, tuple[str, ...]] = {
    Topic.IDENTITY_COMPLETED: ("name", "document"),
    Topic.PERSONAL_DATA_ERASED: (),
    Topic.CARD_USED: ("step",),
    Topic.SESSION_PUBLISHED: ("department", "doctor", "day", "period", "capacity"),
    Topic.APPOINTMENT_MADE: ("appointment_id", "card_id"),
    Topic.APPOINTMENT_CANCELLED: ("appointment_id",),
    Topic.CHECKED_IN: ("appointment_id", "card_id", "credential"),
}
"""The fields the read models fold, besides ``timestamp``: a decoded state holds only
these (a rebuild holds and ships tens of thousands of states at a time)."""

ID_FIELDS: dict[str, tuple[str, ...]] = {
    Topic.APPOINTMENT_MADE: ("appointment_id", "card_id"),
    Topic.APPOINTMENT_CANCELLED: ("appointment_id",),
    Topic.CHECKED_IN: ("appointment_id", "card_id"),
}
"""UUID fields rewritten to 32 hex digits, the form of every id in the views (and the
form SQLite stores originator ids in, so reading them needs no conversion)."""

ERASED_KEY = "$erased"
"""Set in a decoded state when the subject's key was gone (personal data erased)."""

_CHINA_OFFSET = "+08:00"


class ViewEvent(NamedTuple):
    """One stored event as the read models see it."""

    position: int
    topic: str
    originator_id: str
    """32 lower-case hex digits (``UUID.hex``)."""
    state: dict[str, Any]


def china_time(timestamp: str) -> str:
    """An ISO timestamp in China Standard Time (the stored form of every view time)."""
    if timestamp.endswith(_CHINA_OFFSET):
        return timestamp
    return datetime.fromisoformat(timestamp).astimezone(CHINA_TZ).isoformat()


class _TopicUse(NamedTuple):
    personal: tuple[str, ...]
    keep: tuple[str, str] | None
    id_fields: tuple[str, ...]
    fields: tuple[str, ...]


_USES: dict[str, _TopicUse] = {
    topic: _TopicUse(
        PERSONAL_FIELDS_USED.get(topic, ()),
        KEEP_ONLY.get(topic),
        ID_FIELDS.get(topic, ()),
        FIELDS_USED[topic],
    )
    for topic in HANDLED_TOPICS
}


class EventDecoder:
    """Turns notifications of handled topics into ``ViewEvent`` records."""

    def __init__(self, mapper: PydanticMapper) -> None:
        self.mapper = mapper

    @classmethod
    def for_mapper(cls, mapper: PydanticMapper) -> EventDecoder:
        """A decoder over the application's mapper (kept for 0.1.0 callers)."""
        return cls(mapper)

    def decode(self, notifications: Iterable[Notification]) -> list[ViewEvent]:
        """Decode, skipping topics (and events) the read models do not use."""
        out: list[ViewEvent] = []
        append = out.append
        new = tuple.__new__
        uses = _USES
        handled = (n for n in notifications if n.topic in uses)
        for n, state, intact in self.mapper.decode_states(handled, PERSONAL_FIELDS_USED):
            topic = n.topic
            use = uses[topic]
            keep = use.keep
            if keep is not None and state.get(keep[0]) != keep[1]:
                continue
            used = {name: state[name] for name in use.fields}
            timestamp = state["timestamp"]
            used["timestamp"] = (
                timestamp if timestamp.endswith(_CHINA_OFFSET) else china_time(timestamp)
            )
            if not intact:
                used[ERASED_KEY] = True
            for name in use.id_fields:
                used[name] = used[name].replace("-", "")
            originator = n.originator_id
            append(
                new(
                    ViewEvent,
                    (n.id, topic, originator.hex if type(originator) is UUID else originator, used),
                )
            )
        return out
