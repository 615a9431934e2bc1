"""The pydantic mapper and orjson transcoder that store events (eventsourcing 9.5
ships neither).

Stored state is the JSON of the event without ``originator_id`` and
``originator_version`` (those are columns), plus ``class_version``. On decode the
``upcast_vN_vN1`` chain of the class runs before pydantic validates the state:
the documentation's example mapper drops ``class_version`` and so silently skips
upcasting (eventsourcing issue #302); this one does not.

Why here, in ``adapters``: the stored format is a persistence concern; the event
models themselves (``healthcard.domain.events``) are the contract it encodes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    Transcoding,
)

from healthcard.adapters.privacy.sealing import PersonalDataCodec
from healthcard.domain.boundary import TRUSTED_CONTEXT
from healthcard.domain.errors import StoreUnavailable
from healthcard.domain.events.base import DomainEvent, resolve_topic, topic_of
from healthcard.domain.personal import personal_fields as personal_fields_of

CLASS_VERSION_KEY = "class_version"
_COLUMNS = {"originator_id", "originator_version"}


class OrjsonTranscoder(Transcoder):
    """JSON bytes with orjson; pydantic has already turned values into JSON types."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)

    def register(self, transcoding: Transcoding) -> None:
        raise TypeError("OrjsonTranscoder takes no transcodings: use pydantic models")


def event_state(event: DomainEvent) -> dict[str, Any]:
    """The stored state of an event: JSON types, with its class version."""
    state = event.model_dump(mode="json", exclude=_COLUMNS)
    state[CLASS_VERSION_KEY] = type(event).class_version
    return state


def upcast(cls: type[DomainEvent], state: dict[str, Any]) -> dict[str, Any]:
    """Run ``upcast_vN_vN1`` steps from the stored version to the class version."""
    version = int(state.pop(CLASS_VERSION_KEY, 1))
    if version > cls.class_version:
        raise ValueError(
            f"stored class_version {version} is newer than {cls.__qualname__} "
            f"v{cls.class_version}: upgrade the library"
        )
    while version < cls.class_version:
        getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
        version += 1
    return state


def event_from_state(
    topic: str, originator_id: UUID, version: int, state: dict[str, Any]
) -> DomainEvent:
    """Rebuild an event from its stored topic, columns and a *stored* state (one that
    still carries its ``class_version``: it is upcast here first)."""
    cls = resolve_topic(topic)
    return validated_event(cls, originator_id, version, upcast(cls, state))


def validated_event(
    cls: type[DomainEvent], originator_id: UUID, version: int, state: dict[str, Any]
) -> DomainEvent:
    """The event of ``cls`` from a state already in its current shape (upcast)."""
    state["originator_id"] = originator_id
    state["originator_version"] = version
    return cls.model_validate(state, context=TRUSTED_CONTEXT)


class StoredRecord(Protocol):
    """A stored event as recorders hand it out (``StoredEvent``, ``Notification``)."""

    @property
    def topic(self) -> str: ...

    @property
    def originator_id(self) -> UUID | str: ...

    @property
    def state(self) -> bytes: ...


S = TypeVar("S", bound=StoredRecord)


class _TopicFacts(NamedTuple):
    """What decoding needs of a topic's class (its ``class_version`` is read each time)."""

    cls: type[DomainEvent]
    personal: bool


class PydanticMapper(Mapper[UUID]):
    """Maps pydantic ``DomainEvent`` models to stored events and back.

    Encoding: event -> JSON state (with ``class_version``) -> personal fields sealed
    with the subject's key -> bytes -> compressed -> encrypted at rest.

    Decoding is :meth:`decode_states`, the one pipeline every reader of the log uses
    (the repository through :meth:`to_domain_event`, analytics, the read models):
    decrypt -> decompress -> JSON -> open personal fields (or placeholders once the
    subject was erased) -> upcast to the class's current version.

    ``personal`` is set by the application once its key store is known.
    """

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        *,
        personal: PersonalDataCodec | None = None,
    ) -> None:
        super().__init__(transcoder, compressor, cipher)
        self.personal = personal
        self._facts: dict[str, _TopicFacts] = {}
        # orjson itself when the transcoder is ours: one call less per decoded event.
        self._loads: Callable[[bytes], Any] = (
            orjson.loads if isinstance(transcoder, OrjsonTranscoder) else transcoder.decode
        )

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if not isinstance(domain_event, DomainEvent):
            raise TypeError(f"not a healthcard event: {type(domain_event).__qualname__}")
        state = event_state(domain_event)
        if self.personal is not None:
            self.personal.seal(type(domain_event), domain_event.originator_id, state)
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic_of(type(domain_event)),
            state=data,
        )

    def decode_states(
        self,
        stored: Iterable[S],
        personal_fields: Mapping[str, Collection[str]] | None = None,
    ) -> Iterator[tuple[S, dict[str, Any], bool]]:
        """The one decode pipeline: each stored event's state as its class reads it now.

        Yields ``(stored event, state, intact)`` in order; ``intact`` is False when the
        subject's key was erased (its personal fields then hold placeholders); the state
        holds no ``class_version`` any more. ``personal_fields`` (topic -> field names)
        limits which sealed fields are opened, each costing a decryption: a reader that
        shows a few passes them, and fields of topics it does not name stay sealed. A
        state stored by an older class version has every field opened, since its
        upcasters may read any of them.

        Why a batch: readers of the whole log (a rebuild, an export) decode millions
        of events, and a loop with its lookups bound once costs less per event than a
        call per event (measured against 0.1.0's inlined read-model decoder in
        ``docs/performance.md``); the one-event form is :meth:`decode_state`.
        """
        facts_of = self._facts
        learn = self._learn
        cipher = self.cipher
        compressor = self.compressor
        loads = self._loads
        personal = self.personal
        limit = personal_fields is not None
        wanted = personal_fields or {}
        for record in stored:
            topic = record.topic
            facts = facts_of.get(topic) or learn(topic)
            data = record.state
            if cipher is not None:
                data = cipher.decrypt(data)
            if compressor is not None:
                data = compressor.decompress(data)
            state: dict[str, Any] = loads(data)
            stored_version = state.pop(CLASS_VERSION_KEY, 1)
            current = stored_version == facts.cls.class_version
            intact = True
            if facts.personal and personal is not None:
                originator = record.originator_id
                subject = originator if isinstance(originator, UUID) else UUID(str(originator))
                names = wanted.get(topic, ()) if limit and current else None
                intact = personal.open(facts.cls, topic, subject, state, names)
            if not current:
                state[CLASS_VERSION_KEY] = stored_version
                state = upcast(facts.cls, state)
            yield record, state, intact

    def decode_state(self, stored: StoredEvent) -> tuple[dict[str, Any], bool]:
        """One stored event's state and whether it is intact (see :meth:`decode_states`)."""
        for _, state, intact in self.decode_states((stored,)):
            return state, intact
        raise AssertionError("unreachable")  # pragma: no cover

    def _learn(self, topic: str) -> _TopicFacts:
        cls = resolve_topic(topic)
        facts = _TopicFacts(cls, bool(personal_fields_of(cls)))
        self._facts[topic] = facts
        return facts

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        try:
            originator_id = stored_event.originator_id
            if not isinstance(originator_id, UUID):
                originator_id = UUID(str(originator_id))
            state, _ = self.decode_state(stored_event)
            return validated_event(
                resolve_topic(stored_event.topic),
                originator_id,
                stored_event.originator_version,
                state,
            )
        except StoreUnavailable:
            raise  # the key store is down: a fault to retry, not an undecodable record
        except Exception as exc:
            raise MapperDeserialisationError(
                f"cannot decode stored event v{stored_event.originator_version} of "
                f"{stored_event.originator_id} with topic {stored_event.topic!r}: "
                f"{type(exc).__name__}"
            ) from exc
