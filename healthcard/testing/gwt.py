"""Given/when/then for aggregates: past events, one command, the events it records or
the error it raises.

Why: an event-sourced rule is best stated the way the log sees it, "given these facts,
when this is asked, then these facts are recorded (or this error, and nothing)". The
helper builds the aggregate from the given events with the aggregate's own projector
(as the repository does), runs the command on it, and compares what it recorded::

    card = stream(card_id, audit=AUDIT, at=NOW)
    (
        given(card(Registered, name="王芳", issuer_mode=IssuerMode.PRODUCTION))
        .when(lambda c: c.freeze("lost_phone", audit=AUDIT, at=NOW))
        .then(expect(Frozen, reason="lost_phone"))
    )
    given(card(Registered, ...), card(Cancelled, reason="x")).when(...).then(CardNotActive)

A refusal must record nothing: ``then(SomeError)`` also checks that no event is
pending and the version did not move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast, overload
from uuid import UUID

from healthcard.domain.aggregate import Aggregate
from healthcard.domain.audit import Audit
from healthcard.domain.card import HealthCard
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import CardEvent

A = TypeVar("A", bound=Aggregate)
A_co = TypeVar("A_co", bound=Aggregate, covariant=True)
E = TypeVar("E", bound=DomainEvent)


class ScenarioFailed(AssertionError):
    """The aggregate did not record (or refuse) what the scenario says."""


# -- building given events --------------------------------------------------------------


class EventStream:
    """Builds the events of one aggregate with consecutive versions and times.

    ``stream(card_id, audit=..., at=...)`` then ``s(Registered, name=...)``: each call
    makes the next version, ``tick`` later than the previous one (unless ``at`` is
    given for that event), so scenarios stay short and valid.
    """

    def __init__(
        self,
        aggregate_id: UUID,
        *,
        audit: Audit,
        at: datetime,
        tick: timedelta = timedelta(seconds=1),
        version: int = 0,
    ) -> None:
        self.aggregate_id = aggregate_id
        self.audit = audit
        self.next_at = at
        self.tick = tick
        self.version = version

    def __call__(
        self,
        event_class: type[E],
        *,
        at: datetime | None = None,
        audit: Audit | None = None,
        **fields: Any,
    ) -> E:
        self.version += 1
        when = at if at is not None else self.next_at
        self.next_at = when + self.tick
        return event_class(
            originator_id=self.aggregate_id,
            originator_version=self.version,
            timestamp=when,
            audit=audit if audit is not None else self.audit,
            **fields,
        )


def stream(
    aggregate_id: UUID, *, audit: Audit, at: datetime, tick: timedelta = timedelta(seconds=1)
) -> EventStream:
    """An :class:`EventStream` starting at version 1."""
    return EventStream(aggregate_id, audit=audit, at=at, tick=tick)


# -- expectations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """An expected event: its class and the fields that matter (others are ignored)."""

    event_class: type[DomainEvent]
    fields: dict[str, Any] = field(default_factory=dict)

    def mismatch(self, actual: DomainEvent) -> str | None:
        if type(actual) is not self.event_class:
            return f"expected {self.event_class.__name__}, got {type(actual).__name__}"
        wrong = [
            name for name, value in self.fields.items() if getattr(actual, name, _MISSING) != value
        ]
        if wrong:
            return f"{self.event_class.__name__}: fields differ: {', '.join(sorted(wrong))}"
        return None


_MISSING = object()


def expect(event_class: type[DomainEvent], **fields: Any) -> Expect:
    """An event of ``event_class`` whose listed fields have these values."""
    return Expect(event_class, fields)


def _mismatch(expected: DomainEvent | Expect, actual: DomainEvent) -> str | None:
    if isinstance(expected, Expect):
        return expected.mismatch(actual)
    if expected == actual:
        return None
    if type(expected) is not type(actual):
        return f"expected {type(expected).__name__}, got {type(actual).__name__}"
    wrong = [
        name
        for name in type(expected).model_fields
        if getattr(expected, name) != getattr(actual, name)
    ]
    return f"{type(expected).__name__}: fields differ: {', '.join(sorted(wrong))}"


# -- the scenario ------------------------------------------------------------------------


def aggregate_class_for(event: DomainEvent) -> type[Aggregate]:
    """The aggregate class that has a handler for ``event`` (searched among subclasses)."""
    pending: list[type[Aggregate]] = list(Aggregate.__subclasses__())
    while pending:
        cls = pending.pop(0)  # breadth first: the library's own classes before subclasses
        if type(event) in cls.__dict__.get("_handlers", {}):
            return cls
        pending.extend(cls.__subclasses__())
    raise LookupError(f"no aggregate class handles {type(event).__name__}")


@dataclass(frozen=True)
class Outcome(Generic[A_co]):
    """What happened when the command ran: new events or an error, and the aggregate."""

    aggregate: A_co | None
    version_before: int
    events: list[DomainEvent]
    error: BaseException | None
    result: object = None

    @overload
    def then(self, error: type[BaseException], /, *, code: str | None = None) -> Outcome[A_co]: ...

    @overload
    def then(self, *expected: DomainEvent | Expect) -> Outcome[A_co]: ...

    def then(self, *expected: Any, code: str | None = None) -> Outcome[A_co]:
        """The command recorded exactly ``expected`` (in order), or raised the error class."""
        if len(expected) == 1 and isinstance(expected[0], type):
            return self.then_error(expected[0], code=code)
        if self.error is not None:
            raise ScenarioFailed(
                f"expected {len(expected)} event(s), but the command raised "
                f"{type(self.error).__name__}: {self.error}"
            ) from self.error
        return self.then_events(list(expected))

    def then_events(self, expected: Sequence[DomainEvent | Expect]) -> Outcome[A_co]:
        got = [type(e).__name__ for e in self.events]
        if len(got) != len(expected):
            raise ScenarioFailed(f"expected {len(expected)} event(s), got {len(got)}: {got}")
        problems = [p for e, a in zip(expected, self.events, strict=True) if (p := _mismatch(e, a))]
        if problems:
            raise ScenarioFailed("; ".join(problems))
        for offset, actual in enumerate(self.events, start=1):
            if actual.originator_version != self.version_before + offset:
                raise ScenarioFailed(f"{type(actual).__name__} has a version out of sequence")
        return self

    def then_error(self, error: type[BaseException], *, code: str | None = None) -> Outcome[A_co]:
        """The command raised ``error`` (a subclass is fine) and recorded nothing."""
        if self.error is None:
            names = [type(e).__name__ for e in self.events]
            raise ScenarioFailed(f"expected {error.__name__}, but the command recorded {names}")
        if not isinstance(self.error, error):
            raise ScenarioFailed(
                f"expected {error.__name__}, got {type(self.error).__name__}: {self.error}"
            ) from self.error
        actual_code = getattr(self.error, "code", None)
        if code is not None and actual_code != code:
            raise ScenarioFailed(f"expected code {code!r}, got {actual_code!r}")
        if self.aggregate is not None and (
            self.aggregate.pending_events or self.aggregate.version != self.version_before
        ):
            raise ScenarioFailed(f"{error.__name__} raised, but the aggregate recorded changes")
        return self

    def then_nothing(self) -> Outcome[A_co]:
        """The command succeeded and recorded no event (an idempotent no-op)."""
        return self.then()

    def then_state(self, check: Callable[[A_co], object]) -> Outcome[A_co]:
        """Run ``check`` on the aggregate afterwards (write ``assert`` inside, or return
        a falsy value to fail)."""
        if self.aggregate is None:
            raise ScenarioFailed("there is no aggregate to check")
        if check(self.aggregate) is False:
            raise ScenarioFailed("the state check returned False")
        return self


class Given(Generic[A_co]):
    """Past events of one aggregate, folded with its projector."""

    def __init__(self, aggregate_class: type[A_co], events: Sequence[DomainEvent]) -> None:
        self.aggregate_class = aggregate_class
        self.events = list(events)

    def build(self) -> A_co | None:
        """A fresh aggregate from the given events (None when there are none)."""
        return self.aggregate_class.project(None, self.events)

    def when(self, action: Callable[[A_co], object]) -> Outcome[A_co]:
        """Run ``action`` on the aggregate built from the given events."""
        aggregate = self.build()
        if aggregate is None:
            raise ScenarioFailed("given no events: use when_new() to create an aggregate")
        aggregate.collect_events()
        before = aggregate.version
        try:
            result = action(aggregate)
        except Exception as error:  # the outcome under test
            return Outcome(aggregate, before, aggregate.collect_events(), error)
        return Outcome(aggregate, before, aggregate.collect_events(), None, result)

    def when_new(self, create: Callable[[], A_co]) -> Outcome[A_co]:
        """Run a creation command (a class method) that returns a new aggregate."""
        try:
            created = create()
        except Exception as error:  # the outcome under test
            return Outcome(None, 0, [], error)
        return Outcome(created, 0, created.collect_events(), None, created)


@overload
def given(*events: DomainEvent, aggregate: type[A]) -> Given[A]: ...


@overload
def given(*events: CardEvent) -> Given[HealthCard]: ...


@overload
def given(*events: DomainEvent) -> Given[Aggregate]: ...


def given(*events: DomainEvent, aggregate: type[Aggregate] | None = None) -> Given[Any]:
    """Start a scenario from past events (the aggregate class is found from the first
    event when not given; ``given(aggregate=HealthCard)`` starts from nothing)."""
    if aggregate is None:
        if not events:
            raise ValueError("given(): pass events, or aggregate= to start from nothing")
        aggregate = aggregate_class_for(events[0])
    return Given(cast(type[Any], aggregate), events)


__all__ = [
    "EventStream",
    "Expect",
    "Given",
    "Outcome",
    "ScenarioFailed",
    "aggregate_class_for",
    "expect",
    "given",
    "stream",
]
