"""A small event-sourced aggregate root that works with eventsourcing's Application.

Why not ``eventsourcing.domain.Aggregate``: its created events store the aggregate
class's import path (``originator_topic``), tying the log to code layout, and its
declarative ``@event`` classes are generated at import time. Here events are
explicit pydantic models with stable topics, and state changes live in ``@applies``
handlers on the aggregate. The class satisfies what ``Application.save`` and
``Repository.get(projector_func=...)`` need: ``id``, ``version``,
``collect_events()`` and a projector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

from healthcard.domain.audit import Audit
from healthcard.domain.boundary import TRUSTED_CONTEXT
from healthcard.domain.errors import CommandIdReused
from healthcard.domain.events.base import DomainEvent

E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[Any, Any], None]

REMEMBERED_COMMANDS = 64
"""How many of its latest commands an aggregate recognises (``Aggregate.took``).

A retry after an ambiguous commit comes while the store is coming back, so few other
commands reach the same card or session in between; bookings, the busiest commands
on a session, are recognised by their derived appointment id whatever the count.
"""


def applies(
    event_class: type[DomainEvent],
) -> Callable[[Callable[[Any, E], None]], Callable[[Any, E], None]]:
    """Mark a method as the state change for ``event_class``."""

    def mark(method: Callable[[Any, E], None]) -> Callable[[Any, E], None]:
        method.__applies__ = event_class  # type: ignore[attr-defined]
        return method

    return mark


CONTAINERS = (dict, list, set)
"""The mutable values aggregate state may hold, flat: of immutable values only."""


class EventHistoryError(RuntimeError):
    """Events do not form a valid history for the aggregate (a bug or a corrupt log)."""


class WrongAggregateType(EventHistoryError):
    """The id belongs to another kind of aggregate (its first event is not one of ours).

    Why distinct: a caller passing a card id where a session id is expected is a
    client mistake ("not found"), not a corrupt log.
    """


class Aggregate:
    """Base class: holds id, version and pending events; routes events to handlers."""

    _handlers: ClassVar[dict[type[DomainEvent], Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers = dict(cls._handlers)
        for value in cls.__dict__.values():
            event_class = getattr(value, "__applies__", None)
            if event_class is not None:
                handlers[event_class] = value
        cls._handlers = handlers

    def __init__(self, aggregate_id: UUID) -> None:
        self._id = aggregate_id
        self._version = 0
        self._modified_on: datetime | None = None
        self._pending_events: list[DomainEvent] = []
        # The latest commands and the first event each wrote here. A tuple: shared, not
        # copied, by every cached get (__deepcopy__).
        self._recent_commands: tuple[tuple[UUID, type[DomainEvent]], ...] = ()

    @property
    def id(self) -> UUID:
        return self._id

    @property
    def version(self) -> int:
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        self._version = value

    @property
    def modified_on(self) -> datetime | None:
        return self._modified_on

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        """A fast deep copy for the repository's aggregate cache.

        Why: eventsourcing deep-copies a cached aggregate on every ``get`` so a failed
        command cannot corrupt the cache, and ``copy.deepcopy`` walks every frozen
        value too (8 ms for a session of 10,000 appointments). State here is immutable
        values (str, UUID, enums, dates, tuples, frozen dataclasses and pydantic
        models), held directly or in flat dicts, lists and sets of such values
        (``CONTAINERS``; ``tests/unit/test_aggregate_state.py`` keeps every aggregate
        to it): copying the containers, at C speed, is a deep copy.
        """
        clone = type(self).__new__(type(self))
        clone.__dict__.update(
            {
                name: value.copy() if isinstance(value, CONTAINERS) else value
                for name, value in self.__dict__.items()
            }
        )
        return clone

    def took(self, command_id: UUID, first: type[DomainEvent]) -> bool:
        """Whether the command ``command_id`` is among this aggregate's latest (see
        ``REMEMBERED_COMMANDS``), its first event here a ``first``.

        Why: a command retried after its first attempt was saved must hear that
        result again, not a refusal of the change it made itself.

        Raises:
            CommandIdReused: the id wrote another kind of event here.
        """
        for taken, event_class in self._recent_commands:
            if taken == command_id:
                if event_class is not first:
                    raise CommandIdReused()
                return True
        return False

    def collect_events(self) -> list[DomainEvent]:
        """Hand over the pending events (``Application.save`` calls this)."""
        events, self._pending_events = self._pending_events, []
        return events

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._pending_events)

    def _trigger(self, event_class: type[E], *, audit: Audit, at: datetime, **fields: Any) -> E:
        # Values come from validated commands: check shapes, not rules, again.
        event = event_class.model_validate(
            {
                "originator_id": self._id,
                "originator_version": self._version + 1,
                "timestamp": at,
                "audit": audit,
                **fields,
            },
            context=TRUSTED_CONTEXT,
        )
        self._apply(event)
        self._pending_events.append(event)
        return event

    def _apply(self, event: DomainEvent) -> None:
        if event.originator_id != self._id or event.originator_version != self._version + 1:
            raise EventHistoryError(
                f"event v{event.originator_version} of {event.originator_id} does not follow "
                f"v{self._version} of {self._id}"
            )
        try:
            handler = self._handlers[type(event)]
        except KeyError:
            raise EventHistoryError(
                f"{type(self).__name__} has no handler for {type(event).__name__}"
            ) from None
        handler(self, event)
        self._version = event.originator_version
        self._modified_on = event.timestamp
        command_id = event.audit.command_id
        recent = self._recent_commands
        if command_id is not None and (not recent or recent[-1][0] != command_id):
            self._recent_commands = (*recent[1 - REMEMBERED_COMMANDS :], (command_id, type(event)))

    @classmethod
    def project(cls, aggregate: Self | None, events: Iterable[Any]) -> Self | None:
        """Projector for ``Repository.get``: fold events into (a copy of) the aggregate."""
        for event in events:
            if aggregate is None:
                if type(event) not in cls._handlers:
                    raise WrongAggregateType(f"{event.originator_id} is not a {cls.__name__}")
                aggregate = cls.__new__(cls)
                Aggregate.__init__(aggregate, event.originator_id)
                aggregate._blank()
            aggregate._apply(event)
        return aggregate

    def _blank(self) -> None:
        """Set the state a new aggregate has before its first event."""
