"""The base event model and the topic registry.

Why explicit topics: eventsourcing derives a topic from the module path, which would
tie every stored event to where a class happens to live. Here each event class
declares ``TOPIC`` once; moving or renaming the class never changes the stored log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from healthcard.domain.audit import Audit

_REGISTRY: dict[str, type[DomainEvent]] = {}


class UnknownTopic(LookupError):
    """A stored event names a topic no class is registered for."""


class DomainEvent(BaseModel):
    """Base of all events: identity in the log, time, and audit metadata.

    ``class_version`` is stored with each event; when a class evolves, bump it and
    add ``upcast_vN_vN1(state: dict) -> None`` (static) for each step.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    TOPIC: ClassVar[str] = ""
    class_version: ClassVar[int] = 1

    originator_id: UUID
    originator_version: int
    timestamp: AwareDatetime
    audit: Audit

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        topic = cls.__dict__.get("TOPIC")
        if topic:
            register_topic(topic, cls)

    @property
    def at(self) -> datetime:
        """Alias of ``timestamp`` that reads better in domain code."""
        return self.timestamp


Upcaster = Callable[[dict[str, Any]], None]
"""An ``upcast_vN_vN1`` step: rewrites a stored state of version N to version N+1."""


def upcast_unchanged(state: dict[str, Any]) -> None:
    """The upcaster of a version that changed how a value is stored, not what it reads
    as (a reference now sealed with a person's key, where the older version stored it
    in clear): decoding opens either form to the same value. The version still moves
    on, so a release that predates it refuses the newer records instead of misreading
    them."""


def register_topic(topic: str, cls: type[DomainEvent]) -> None:
    """Register ``cls`` under ``topic``; also use it to keep an old topic resolving
    after a class is replaced (register the old topic for the new class)."""
    existing = _REGISTRY.get(topic)
    same_class = existing is not None and (existing.__module__, existing.__qualname__) == (
        cls.__module__,
        cls.__qualname__,
    )  # the same class defined again (a module reload) may take its topic back
    if existing is not None and existing is not cls and not same_class:
        raise ValueError(f"topic {topic!r} is already registered to {existing.__qualname__}")
    _REGISTRY[topic] = cls


def resolve_topic(topic: str) -> type[DomainEvent]:
    """The event class stored under ``topic``."""
    try:
        return _REGISTRY[topic]
    except KeyError:
        raise UnknownTopic(f"no event class is registered for topic {topic!r}") from None


def topic_of(cls: type[DomainEvent]) -> str:
    """The stored topic of an event class (its declared ``TOPIC``)."""
    topic = cls.__dict__.get("TOPIC")
    if not topic:
        raise UnknownTopic(f"{cls.__qualname__} declares no TOPIC")
    return str(topic)


def registered_topics() -> dict[str, type[DomainEvent]]:
    """A copy of the registry (for docs, tests and exports)."""
    return dict(_REGISTRY)
