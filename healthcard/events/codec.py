"""The pydantic mapper and orjson transcoder that store events (eventsourcing 9.5
ships neither).

Stored state is the JSON of the event without ``originator_id`` and
``originator_version`` (those are columns), plus ``class_version``. On decode the
``upcast_vN_vN1`` chain of the class runs before pydantic validates the state:
the documentation's example mapper drops ``class_version`` and so silently skips
upcasting (eventsourcing issue #302); this one does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    Transcoding,
)

from healthcard.domain.boundary import TRUSTED_CONTEXT
from healthcard.events.base import DomainEvent, resolve_topic, topic_of

if TYPE_CHECKING:
    from healthcard.privacy.personal_data import PersonalDataCodec

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
    """Rebuild an event from its stored topic, columns and (decoded) state."""
    cls = resolve_topic(topic)
    state = upcast(cls, state)
    state["originator_id"] = originator_id
    state["originator_version"] = version
    return cls.model_validate(state, context=TRUSTED_CONTEXT)


class PydanticMapper(Mapper[UUID]):
    """Maps pydantic ``DomainEvent`` models to stored events and back.

    With ``personal`` set (the application sets it), fields marked ``Personal`` are
    sealed with the key of the event's subject before transcoding, and opened (or
    replaced by placeholders after erasure) before upcasting.
    """

    personal: PersonalDataCodec | None = None

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

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        try:
            data = stored_event.state
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state = self.transcoder.decode(data)
            originator_id = stored_event.originator_id
            if not isinstance(originator_id, UUID):
                originator_id = UUID(str(originator_id))
            if self.personal is not None:
                self.personal.open(
                    resolve_topic(stored_event.topic), stored_event.topic, originator_id, state
                )
            return event_from_state(
                stored_event.topic, originator_id, stored_event.originator_version, state
            )
        except Exception as exc:
            raise MapperDeserialisationError(
                f"cannot decode stored event v{stored_event.originator_version} of "
                f"{stored_event.originator_id} with topic {stored_event.topic!r}: "
                f"{type(exc).__name__}"
            ) from exc
