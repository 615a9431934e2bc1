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

from collections.abc import Collection
from typing import Any, NamedTuple
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


class _TopicFacts(NamedTuple):
    """What decoding needs of a topic's class (its ``class_version`` is read each time)."""

    cls: type[DomainEvent]
    personal: bool


class PydanticMapper(Mapper[UUID]):
    """Maps pydantic ``DomainEvent`` models to stored events and back.

    Encoding: event -> JSON state (with ``class_version``) -> personal fields sealed
    with the subject's key -> bytes -> compressed -> encrypted at rest.

    Decoding is :meth:`decode_state`, the one pipeline every reader of the log uses
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

    def decode_state(
        self,
        topic: str,
        originator_id: UUID | str,
        data: bytes,
        *,
        personal_fields: Collection[str] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """A stored event's state as its class reads it now, and whether it is intact.

        ``intact`` is False when the subject's key was erased (its personal fields
        then hold placeholders). ``personal_fields`` limits which sealed fields are
        opened (each one costs a decryption; a reader that needs a few passes their
        names); a state stored by an older class version has every field opened,
        since its upcasters may read any of them. The state holds no
        ``class_version`` afterwards.
        """
        facts = self._facts.get(topic) or self._learn(topic)
        if self.cipher is not None:
            data = self.cipher.decrypt(data)
        if self.compressor is not None:
            data = self.compressor.decompress(data)
        state: dict[str, Any] = self.transcoder.decode(data)
        stored_version = state.pop(CLASS_VERSION_KEY, 1)
        current = stored_version == facts.cls.class_version
        intact = True
        if facts.personal and self.personal is not None:
            subject = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
            names = personal_fields if current else None
            intact = self.personal.open(facts.cls, topic, subject, state, names)
        if not current:
            state[CLASS_VERSION_KEY] = stored_version
            state = upcast(facts.cls, state)
        return state, intact

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
            state, _ = self.decode_state(stored_event.topic, originator_id, stored_event.state)
            return validated_event(
                resolve_topic(stored_event.topic),
                originator_id,
                stored_event.originator_version,
                state,
            )
        except Exception as exc:
            raise MapperDeserialisationError(
                f"cannot decode stored event v{stored_event.originator_version} of "
                f"{stored_event.originator_id} with topic {stored_event.topic!r}: "
                f"{type(exc).__name__}"
            ) from exc
