"""Stored events to the plain records the read models fold: only the topics they use.

Why not the application's mapper: a rebuild reads millions of events, and building
a validated pydantic model per event costs more than the whole fold. A projection
needs a few fields of a few topics, so it decodes the stored JSON itself, through
the same pipeline the mapper uses (at-rest cipher, compressor, per-person sealed
fields, then ``upcast`` when a stored ``class_version`` is older than the class).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import orjson
from eventsourcing.persistence import Cipher, Compressor, Mapper, Notification

from healthcard.domain.clinic_values import CHINA_TZ
from healthcard.domain.personal import personal_fields
from healthcard.events.base import DomainEvent, UnknownTopic, resolve_topic
from healthcard.events.codec import CLASS_VERSION_KEY, upcast
from healthcard.projections.model import DIAGNOSIS_STEP


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


class PersonalOpener(Protocol):
    """What the application's personal-data codec offers (``PydanticMapper.personal``)."""

    def open(
        self, cls: type[DomainEvent], topic: str, subject: UUID, state: dict[str, Any]
    ) -> bool: ...


class _TopicInfo(NamedTuple):
    cls: type[DomainEvent] | None
    class_version: int
    personal: bool
    keep: tuple[str, str] | None
    id_fields: tuple[str, ...]
    fields: tuple[str, ...]


def china_time(timestamp: str) -> str:
    """An ISO timestamp in China Standard Time (the stored form of every view time)."""
    if timestamp.endswith(_CHINA_OFFSET):
        return timestamp
    return datetime.fromisoformat(timestamp).astimezone(CHINA_TZ).isoformat()


class EventDecoder:
    """Turns notifications of handled topics into ``ViewEvent`` records."""

    def __init__(
        self,
        *,
        cipher: Cipher | None = None,
        compressor: Compressor | None = None,
        personal: PersonalOpener | None = None,
    ) -> None:
        self.cipher = cipher
        self.compressor = compressor
        self.personal = personal
        self._topics: dict[str, _TopicInfo] = {}

    @classmethod
    def for_mapper(cls, mapper: Mapper[UUID]) -> EventDecoder:
        """A decoder that undoes exactly what the application's mapper did."""
        personal: PersonalOpener | None = getattr(mapper, "personal", None)
        return cls(cipher=mapper.cipher, compressor=mapper.compressor, personal=personal)

    def decode(self, notifications: Iterable[Notification]) -> list[ViewEvent]:
        """Decode, skipping topics (and events) the read models do not use."""
        out: list[ViewEvent] = []
        append = out.append
        new = tuple.__new__
        loads = orjson.loads
        topics = self._topics
        cipher = self.cipher
        compressor = self.compressor
        for n in notifications:
            topic = n.topic
            info = topics.get(topic)
            if info is None:
                if topic not in HANDLED_TOPICS:
                    continue
                info = topics[topic] = _topic_info(topic)
            data = n.state
            if cipher is not None:
                data = cipher.decrypt(data)
            if compressor is not None:
                data = compressor.decompress(data)
            state: dict[str, Any] = loads(data)
            if info.cls is not None:
                old = state.get(CLASS_VERSION_KEY, 1) != info.class_version
                if info.personal and self.personal is not None:
                    self._open(info.cls, topic, n.originator_id, state, every_field=old)
                if old:
                    state = upcast(info.cls, state)
            if info.keep is not None and state.get(info.keep[0]) != info.keep[1]:
                continue
            used = {name: state[name] for name in info.fields}
            timestamp = state["timestamp"]
            used["timestamp"] = (
                timestamp if timestamp.endswith(_CHINA_OFFSET) else china_time(timestamp)
            )
            if ERASED_KEY in state:
                used[ERASED_KEY] = True
            for name in info.id_fields:
                used[name] = used[name].replace("-", "")
            originator = n.originator_id
            append(
                new(
                    ViewEvent,
                    (
                        n.id,
                        topic,
                        originator.hex if type(originator) is UUID else originator,
                        used,
                    ),
                )
            )
        return out

    def _open(
        self,
        cls: type[DomainEvent],
        topic: str,
        subject: UUID | str,
        state: dict[str, Any],
        *,
        every_field: bool,
    ) -> None:
        """Unseal the fields the read models use (each one costs a decryption), or
        every field before an upcaster runs (it may read any of them)."""
        if self.personal is None:
            return
        names = state if every_field else PERSONAL_FIELDS_USED.get(topic, ())
        used = {name: state[name] for name in names if name in state}
        if not isinstance(subject, UUID):
            subject = UUID(str(subject))
        if not self.personal.open(cls, topic, subject, used):
            state[ERASED_KEY] = True
        state.update(used)


def _topic_info(topic: str) -> _TopicInfo:
    """Class facts of a handled topic; a topic with no class yet decodes as version 1."""
    keep = KEEP_ONLY.get(topic)
    ids = ID_FIELDS.get(topic, ())
    fields = FIELDS_USED[topic]
    try:
        cls = resolve_topic(topic)
    except UnknownTopic:
        return _TopicInfo(None, 1, False, keep, ids, fields)
    return _TopicInfo(cls, cls.class_version, bool(personal_fields(cls)), keep, ids, fields)
