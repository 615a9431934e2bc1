"""Streaming reads of the whole event log, in order, with filters.

Built on the one log reader (:mod:`healthcard.adapters.log_reader`: pages of
notifications, the topic filter in the SQL query, constant memory) and the mapper's
one decode pipeline (``PydanticMapper.decode_states``).

Two shapes come out:

- :meth:`LogReader.events` gives the event objects (pydantic models) with their
  position in the log, through the application's own mapper: the analyst's replay.
- :meth:`LogReader.records` gives each event's stored state as a JSON dict (at-rest
  decryption, decompression, per-person decryption and upcasting done, but no model
  validation): several times faster, for exports and statistics over the whole log.
  A test keeps both shapes equal for every event.

Filters (:class:`LogFilter`): a time range on the event's timestamp (``since``
inclusive, ``until`` exclusive), event types (classes, topics or class names) and a
card (its own events and every event naming it, appointments cancelled included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from healthcard.adapters.codec import PydanticMapper, validated_event
from healthcard.adapters.log_reader import DEFAULT_BATCH
from healthcard.adapters.log_reader import LogReader as BaseLogReader
from healthcard.domain.errors import InvalidInput
from healthcard.domain.events import catalog
from healthcard.domain.events.base import DomainEvent, UnknownTopic, resolve_topic, topic_of
from healthcard.domain.events.card import CardEvent
from healthcard.domain.events.session import AppointmentCancelled, AppointmentMade

EventType = str | type[DomainEvent]
Progress = Callable[[int], None]
"""Called after each batch with the position reached (a notification id)."""

APPOINTMENT_MADE = topic_of(AppointmentMade)
APPOINTMENT_CANCELLED = topic_of(AppointmentCancelled)


def _all_topics() -> dict[str, type[DomainEvent]]:
    return catalog.registered_topics()


def resolve_event_types(types: Iterable[EventType]) -> frozenset[str]:
    """Topics for event classes, topics (``healthcard.card.Registered``) or class names
    (``Registered``). Raises ``InvalidInput`` (field ``type``) naming the unknown ones."""
    topics = _all_topics()
    by_name: dict[str, set[str]] = {}
    for topic, cls in topics.items():
        by_name.setdefault(cls.__name__, set()).add(topic)
    found: set[str] = set()
    unknown: list[str] = []
    for item in types:
        if isinstance(item, type):
            found.add(topic_of(item))
        elif item in topics:
            found.add(item)
        elif item in by_name:
            found.update(by_name[item])
        else:
            unknown.append(item)
    if unknown:
        known = ", ".join(sorted(by_name))
        raise InvalidInput("type", f"unknown event type(s) {', '.join(unknown)}; known: {known}")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which events to read. Empty ``topics`` means all; ``None`` means no bound."""

    since: datetime | None = None
    until: datetime | None = None
    topics: frozenset[str] = frozenset()
    card_id: UUID | None = None

    def __post_init__(self) -> None:
        for name, bound in (("since", self.since), ("until", self.until)):
            if bound is not None and bound.tzinfo is None:
                raise InvalidInput(name, "time bounds must be timezone-aware")

    @classmethod
    def of(
        cls,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        types: Iterable[EventType] = (),
        card_id: UUID | None = None,
    ) -> LogFilter:
        return cls(since, until, resolve_event_types(types), card_id)

    def in_time(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event and its position (notification id) in the application's log."""

    position: int
    event: DomainEvent


@dataclass(slots=True)
class LogRecord:
    """One stored event as JSON: columns plus the decoded, upcast state."""

    position: int
    topic: str
    originator_id: UUID
    originator_version: int
    state: dict[str, Any]
    _timestamp: datetime | None = field(default=None, repr=False)

    @property
    def event_class(self) -> type[DomainEvent]:
        return resolve_topic(self.topic)

    @property
    def event_type(self) -> str:
        return self.event_class.__name__

    @property
    def timestamp(self) -> datetime:
        if self._timestamp is None:
            self._timestamp = datetime.fromisoformat(self.state["timestamp"])
        return self._timestamp

    @property
    def card_id(self) -> UUID | None:
        """The card the event is about: its originator for card events, else its
        ``card_id`` field (appointments, check-ins, account and document events)."""
        return card_of(self.topic, self.originator_id, self.state.get("card_id"))

    def to_event(self) -> DomainEvent:
        """The event model (validated as stored events are: trusted)."""
        return validated_event(
            self.event_class, self.originator_id, self.originator_version, dict(self.state)
        )


@cache
def is_card_topic(topic: str) -> bool:
    try:
        return issubclass(resolve_topic(topic), CardEvent)
    except UnknownTopic:
        return False


def card_of(topic: str, originator_id: UUID, card_field: object) -> UUID | None:
    if is_card_topic(topic):
        return originator_id
    if isinstance(card_field, UUID):
        return card_field
    if isinstance(card_field, str):
        return UUID(card_field)
    return None


class _CardTracker:
    """Decides whether an event concerns one card, remembering its appointments
    (a cancellation names the appointment, not the card)."""

    def __init__(self, card_id: UUID) -> None:
        self.card_id = card_id
        self.text = str(card_id)
        self.appointments: set[str] = set()

    def concerns(self, topic: str, originator_id: UUID, state: dict[str, Any]) -> bool:
        if originator_id == self.card_id:
            return True
        card = state.get("card_id")
        if card == self.text:
            if topic == APPOINTMENT_MADE:
                self.appointments.add(str(state["appointment_id"]))
            return True
        return (
            topic == APPOINTMENT_CANCELLED and str(state.get("appointment_id")) in self.appointments
        )


def decode_state(mapper: PydanticMapper, notification: Notification) -> dict[str, Any]:
    """The stored state of one notification as its class reads it, before model
    validation (the mapper's pipeline: decrypted, decompressed, personal fields
    opened, upcast)."""
    state, _ = mapper.decode_state(notification)
    return state


def originator_of(notification: Notification) -> UUID:
    originator_id = notification.originator_id
    return originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))


class LogReader:
    """The analysts' reader: the one log reader (:class:`healthcard.adapters.log_reader.
    LogReader`) with filters, giving records or events in log order (constant memory)."""

    def __init__(self, app: Application[UUID], *, batch_size: int = DEFAULT_BATCH) -> None:
        self.log = BaseLogReader(app, batch_size=batch_size)
        self.app = app
        self.mapper = self.log.mapper
        self.batch_size = batch_size

    def max_position(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.log.head()

    def notifications(
        self,
        topics: Sequence[str] = (),
        *,
        start: int = 1,
        stop: int | None = None,
        progress: Progress | None = None,
    ) -> Iterator[Notification]:
        """Stored notifications from ``start`` to ``stop`` (inclusive), page by page;
        ``progress`` gets the position reached after each page."""
        for page in self.log.pages(after=start - 1, until=stop, topics=topics):
            yield from page.notifications
            if progress is not None and page.notifications:
                progress(page.notifications[-1].id)

    def _matching(
        self, flt: LogFilter, start: int, stop: int | None, progress: Progress | None
    ) -> Iterator[Notification]:
        """Notifications of the filter's topics; a card filter also reads appointments,
        to know which cancellations are the card's."""
        topics = set(flt.topics)
        if flt.card_id is not None and APPOINTMENT_CANCELLED in topics:
            topics.add(APPOINTMENT_MADE)
        return self.notifications(sorted(topics), start=start, stop=stop, progress=progress)

    def records(
        self,
        flt: LogFilter | None = None,
        *,
        start: int = 1,
        stop: int | None = None,
        progress: Progress | None = None,
    ) -> Iterator[LogRecord]:
        """Matching events as JSON records, in log order."""
        flt = flt if flt is not None else LogFilter()
        tracker = _CardTracker(flt.card_id) if flt.card_id is not None else None
        timed = flt.since is not None or flt.until is not None
        mapper = self.mapper
        for notification in self._matching(flt, start, stop, progress):
            state = decode_state(mapper, notification)
            originator_id = originator_of(notification)
            topic = notification.topic
            if tracker is not None and not tracker.concerns(topic, originator_id, state):
                continue
            if flt.topics and topic not in flt.topics:
                continue
            record = LogRecord(
                notification.id, topic, originator_id, notification.originator_version, state
            )
            if timed and not flt.in_time(record.timestamp):
                continue
            yield record

    def events(
        self,
        flt: LogFilter | None = None,
        *,
        start: int = 1,
        stop: int | None = None,
        progress: Progress | None = None,
    ) -> Iterator[LoggedEvent]:
        """Matching events as event models with their positions, in log order."""
        flt = flt if flt is not None else LogFilter()
        tracker = _CardTracker(flt.card_id) if flt.card_id is not None else None
        for notification in self._matching(flt, start, stop, progress):
            decoded = self.mapper.to_domain_event(notification)
            if not isinstance(decoded, DomainEvent):
                raise TypeError(f"not a healthcard event at position {notification.id}")
            if tracker is not None and not tracker.concerns(
                notification.topic, decoded.originator_id, _card_fields(decoded)
            ):
                continue
            if flt.topics and notification.topic not in flt.topics:
                continue
            if not flt.in_time(decoded.timestamp):
                continue
            yield LoggedEvent(notification.id, decoded)


def _card_fields(event: DomainEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("card_id", "appointment_id"):
        value = getattr(event, name, None)
        if value is not None:
            fields[name] = str(value)
    return fields


def iter_events(
    app: Application[UUID],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    types: Iterable[EventType] = (),
    card_id: UUID | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> Iterator[LoggedEvent]:
    """Shortcut: ``LogReader(app).events(LogFilter.of(...))``."""
    flt = LogFilter.of(since=since, until=until, types=types, card_id=card_id)
    return LogReader(app, batch_size=batch_size).events(flt)
