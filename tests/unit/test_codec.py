"""The stored format: every event through ``PydanticMapper``, topics, and upcasting.

Why: events are the stored format, kept forever. A round trip that loses a field, a
topic that silently changes, or an upcaster chain that does not run (eventsourcing
issue #302: the documentation's example mapper drops ``class_version``) would all
corrupt old logs without any test of today's behaviour noticing. So: every
registered event class round-trips with orjson alone, with zlib, with AES and with
both; the stored state carries ``class_version``; topics are the declared strings
and their set is pinned here; old records are upcast on decode, and records that
cannot be decoded (newer version, unknown topic, corrupt bytes) raise
``MapperDeserialisationError`` and nothing else.
"""

from __future__ import annotations

import enum
import types
import typing
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid5

import orjson
import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import Environment
from pydantic import BaseModel

from healthcard.adapters.codec import OrjsonTranscoder, PydanticMapper
from healthcard.adapters.privacy.keystore import InMemoryKeyStore
from healthcard.adapters.privacy.sealing import PersonalDataCodec
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import StoreUnavailable
from healthcard.domain.events import base, catalog
from healthcard.domain.events.base import DomainEvent

PINNED_TOPICS = frozenset(
    {
        "healthcard.account.CardAdded",
        "healthcard.account.CardRemoved",
        "healthcard.account.Erased",
        "healthcard.account.Opened",
        "healthcard.card.Bound",
        "healthcard.card.Cancelled",
        "healthcard.card.Frozen",
        "healthcard.card.IdentityCompleted",
        "healthcard.card.PersonalDataErased",
        "healthcard.card.Registered",
        "healthcard.card.TokenAccepted",
        "healthcard.card.Unbound",
        "healthcard.card.Unfrozen",
        "healthcard.card.Used",
        "healthcard.document.Claimed",
        "healthcard.document.Released",
        "healthcard.session.AppointmentCancelled",
        "healthcard.session.AppointmentMade",
        "healthcard.session.CheckedIn",
        "healthcard.session.Published",
    }
)
"""Every topic the library stores. Adding one is a conscious change made here (and in
a new golden log); removing or renaming one breaks every log that holds it."""

NS = UUID("2f0b2b8e-9a3c-4c55-8f0e-6a1d2c3b4a59")
AT = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=CHINA_TZ)
AUDIT = Audit(
    actor="staff-001",
    channel=Channel.WINDOW,
    institution="H510100001",
    correlation_id=UUID("0b7c1f3e-2a4d-4d5e-8f60-718293a4b5c6"),
)
NAME = "王芳"

SAMPLES_BY_FIELD: dict[str, Any] = {
    "name": NAME,
    "phone": "+8613800138000",
    "identifier": "+8613800138000",
    "kind": "phone",
    "photo": {"sha256": "ab" * 32, "ref": "blob://photos/0001"},
    "volunteer": "vol-007",
    "document": {"type": "01", "number": "11010519491231002X"},
    "sex": "2",
    "birth_date": "1949-12-31",
    "main_index_id": "A1" * 32,
    "ehc_id": "B2" * 32,
    "capacity": 3,
    "nonce": "0123456789abcdef",
    "token_nonce": "fedcba9876543210",
    "key_id": 1,
}


def library_topics() -> dict[str, type[DomainEvent]]:
    """Registered topics whose classes the library defines (tests may add their own)."""
    return {
        topic: cls
        for topic, cls in catalog.registered_topics().items()
        if cls.__module__.startswith("healthcard.")
    }


def sample_value(name: str, annotation: Any) -> Any:
    """A valid JSON-typed value for a field (by name first, then by type)."""
    if name in SAMPLES_BY_FIELD:
        return SAMPLES_BY_FIELD[name]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return sample_value(name, typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return sample_value(name, inner[0])
    if annotation is UUID:
        return str(uuid5(NS, name))
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return list(annotation)[-1].value
        if issubclass(annotation, datetime):
            return AT.isoformat()
        if issubclass(annotation, date):
            return "2026-11-26"
        if issubclass(annotation, bool):
            return True
        if issubclass(annotation, int):
            return 1
        if issubclass(annotation, BaseModel):
            return {n: sample_value(n, f.annotation) for n, f in annotation.model_fields.items()}
    if annotation is datetime or "datetime" in str(annotation).lower():
        return AT.isoformat()
    return "code-1"


def sample_event(cls: type[DomainEvent], version: int = 3) -> DomainEvent:
    data: dict[str, Any] = {
        "originator_id": uuid5(NS, cls.__name__),
        "originator_version": version,
        "timestamp": AT,
        "audit": AUDIT,
    }
    for name, info in cls.model_fields.items():
        if name not in data:
            data[name] = sample_value(name, info.annotation)
    return cls.model_validate(data)


def _aes() -> AESCipher:
    return AESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(32)}))


MAPPERS = {
    "orjson": lambda: PydanticMapper(transcoder=OrjsonTranscoder()),
    "zlib": lambda: PydanticMapper(transcoder=OrjsonTranscoder(), compressor=ZlibCompressor()),
    "aes": lambda: PydanticMapper(transcoder=OrjsonTranscoder(), cipher=_aes()),
    "zlib+aes": lambda: PydanticMapper(
        transcoder=OrjsonTranscoder(), compressor=ZlibCompressor(), cipher=_aes()
    ),
}


# -- topics ---------------------------------------------------------------------------------


def test_registered_topics_are_pinned() -> None:
    """Fails on any added, removed or renamed topic: update PINNED_TOPICS on purpose."""
    registered = set(library_topics())
    assert registered - PINNED_TOPICS == set(), "new topics: pin them and add a golden log"
    assert PINNED_TOPICS - registered == set(), "topics removed or renamed: old logs break"


@pytest.mark.parametrize("topic", sorted(PINNED_TOPICS))
def test_topic_is_the_declared_string(topic: str) -> None:
    cls = base.resolve_topic(topic)
    assert cls.__dict__["TOPIC"] == topic
    assert base.topic_of(cls) == topic
    assert PydanticMapper(OrjsonTranscoder()).to_stored_event(sample_event(cls)).topic == topic


def test_a_topic_cannot_be_taken_by_another_class() -> None:
    with pytest.raises(ValueError, match="already registered"):

        class Impostor(DomainEvent):  # registering the class is the point
            TOPIC = "healthcard.card.Registered"


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("mapper_name", sorted(MAPPERS))
@pytest.mark.parametrize("topic", sorted(PINNED_TOPICS))
def test_every_event_round_trips(topic: str, mapper_name: str) -> None:
    mapper = MAPPERS[mapper_name]()
    original = sample_event(base.resolve_topic(topic))
    stored = mapper.to_stored_event(original)
    assert stored.originator_id == original.originator_id
    assert stored.originator_version == original.originator_version
    assert isinstance(stored.state, bytes)
    decoded = mapper.to_domain_event(stored)
    assert type(decoded) is type(original)
    assert decoded == original
    assert decoded.model_dump() == original.model_dump()


@pytest.mark.parametrize("topic", sorted(PINNED_TOPICS))
def test_stored_state_holds_class_version_and_no_columns(topic: str) -> None:
    cls = base.resolve_topic(topic)
    stored = PydanticMapper(OrjsonTranscoder()).to_stored_event(sample_event(cls))
    state = orjson.loads(stored.state)
    assert state["class_version"] == cls.class_version
    assert "originator_id" not in state
    assert "originator_version" not in state
    assert set(state) == (set(cls.model_fields) - {"originator_id", "originator_version"}) | {
        "class_version"
    }


def test_compression_and_encryption_are_applied() -> None:
    cls = base.resolve_topic("healthcard.card.Registered")
    event = sample_event(cls)
    plain = PydanticMapper(OrjsonTranscoder()).to_stored_event(event).state
    zipped = MAPPERS["zlib"]().to_stored_event(event).state
    assert zlib.decompress(zipped) == plain
    sealed = MAPPERS["zlib+aes"]().to_stored_event(event).state
    assert NAME.encode() in plain
    for text in (NAME.encode(), b"class_version", b"staff-001"):
        assert text not in sealed
    with pytest.raises(zlib.error):
        zlib.decompress(sealed)


def test_a_key_decrypts_only_its_own_events() -> None:
    event = sample_event(base.resolve_topic("healthcard.card.Registered"))
    stored = MAPPERS["aes"]().to_stored_event(event)
    with pytest.raises(MapperDeserialisationError):
        MAPPERS["aes"]().to_domain_event(stored)  # another random key


class KeyStoreDown:
    """A key store whose database is away: every call is ``StoreUnavailable``."""

    def __getattr__(self, name: str) -> Any:
        def unavailable(*args: object) -> None:
            raise StoreUnavailable("key store")

        return unavailable


def test_a_key_store_outage_while_decoding_is_an_outage_not_a_broken_record() -> None:
    """A caller must be able to tell "retry shortly" from "this record cannot be read"."""
    writer = PydanticMapper(transcoder=OrjsonTranscoder())
    writer.personal = PersonalDataCodec(InMemoryKeyStore())
    stored = writer.to_stored_event(sample_event(base.resolve_topic("healthcard.card.Registered")))
    reader = PydanticMapper(transcoder=OrjsonTranscoder())
    reader.personal = PersonalDataCodec(KeyStoreDown())  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        reader.to_domain_event(stored)


# -- upcasting ---------------------------------------------------------------------------------

NOTE_V2 = "tests.codec.NoteV2"
NOTE_V3 = "tests.codec.NoteV3"


@pytest.fixture(scope="module")
def note_classes() -> Iterator[tuple[type[DomainEvent], type[DomainEvent]]]:
    """Test-only event classes at versions 2 and 3, unregistered afterwards.

    v1 stored ``text``; v2 added ``priority`` (old notes: 0); v3 renamed ``text`` to
    ``body`` and added ``tags`` (old notes: ["legacy"]).
    """

    class NoteV2(DomainEvent):
        TOPIC = NOTE_V2
        class_version: ClassVar[int] = 2

        text: str
        priority: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["priority"] = 0

    class NoteV3(DomainEvent):
        TOPIC = NOTE_V3
        class_version: ClassVar[int] = 3

        body: str
        priority: int
        tags: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["priority"] = 0

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["body"] = state.pop("text")
            state["tags"] = ["legacy"]

    try:
        yield NoteV2, NoteV3
    finally:
        # Private on purpose: test classes must not stay in the process-wide registry,
        # where tests that list every topic would see them.
        base._REGISTRY.pop(NOTE_V2, None)
        base._REGISTRY.pop(NOTE_V3, None)


ORIGIN = UUID("5d2c7a58-4f1e-4b8a-9c3d-2e1f0a9b8c7d")


def stored(topic: str, state: dict[str, Any] | bytes, version: int = 1) -> StoredEvent:
    """A record as a database row holds it: ids, topic, raw bytes."""
    data = state if isinstance(state, bytes) else orjson.dumps(state)
    return StoredEvent(originator_id=ORIGIN, originator_version=version, topic=topic, state=data)


def v1_state(**extra: Any) -> dict[str, Any]:
    return {
        "timestamp": AT.isoformat(),
        "audit": AUDIT.model_dump(mode="json"),
        "text": "take the blue pill",
        **extra,
    }


def test_a_v1_record_is_upcast_to_v2(note_classes: tuple[type[DomainEvent], ...]) -> None:
    note_v2, _ = note_classes
    for state in (v1_state(), v1_state(class_version=1)):  # absent means version 1
        event = PydanticMapper(OrjsonTranscoder()).to_domain_event(stored(NOTE_V2, state, 4))
        assert type(event) is note_v2
        assert event.model_dump(include={"text", "priority"}) == {
            "text": "take the blue pill",
            "priority": 0,
        }
        assert event.originator_id == ORIGIN
        assert event.originator_version == 4


def test_a_v1_record_runs_the_whole_chain(note_classes: tuple[type[DomainEvent], ...]) -> None:
    _, note_v3 = note_classes
    event = PydanticMapper(OrjsonTranscoder()).to_domain_event(
        stored(NOTE_V3, v1_state(class_version=1))
    )
    assert type(event) is note_v3
    assert event.model_dump(include={"body", "priority", "tags"}) == {
        "body": "take the blue pill",
        "priority": 0,
        "tags": ["legacy"],
    }


def test_a_v2_record_runs_only_the_later_steps(
    note_classes: tuple[type[DomainEvent], ...],
) -> None:
    event = PydanticMapper(OrjsonTranscoder()).to_domain_event(
        stored(NOTE_V3, v1_state(class_version=2, priority=7))
    )
    assert event.model_dump(include={"body", "priority", "tags"}) == {
        "body": "take the blue pill",
        "priority": 7,  # stored in v2: the v1->v2 step must not run again
        "tags": ["legacy"],
    }


@pytest.mark.parametrize("mapper_name", sorted(MAPPERS))
def test_current_version_round_trips_without_upcasting(
    note_classes: tuple[type[DomainEvent], ...], mapper_name: str
) -> None:
    _, note_v3 = note_classes
    event = note_v3(
        originator_id=ORIGIN,
        originator_version=1,
        timestamp=AT,
        audit=AUDIT,
        body="b",
        priority=2,
        tags=["x"],
    )
    mapper = MAPPERS[mapper_name]()
    record = mapper.to_stored_event(event)
    assert record.topic == NOTE_V3
    assert mapper.to_domain_event(record) == event
    if mapper_name == "orjson":
        assert orjson.loads(record.state)["class_version"] == 3


def test_a_newer_stored_version_is_refused(note_classes: tuple[type[DomainEvent], ...]) -> None:
    state = {**v1_state(class_version=4), "body": "b", "priority": 1, "tags": []}
    with pytest.raises(MapperDeserialisationError, match="ValueError"):
        PydanticMapper(OrjsonTranscoder()).to_domain_event(stored(NOTE_V3, state))


def test_an_unknown_topic_is_refused() -> None:
    with pytest.raises(MapperDeserialisationError, match="UnknownTopic"):
        PydanticMapper(OrjsonTranscoder()).to_domain_event(
            stored("healthcard.card.NeverWasAnEvent", v1_state())
        )


CORRUPT = {
    "not json": b"\x00\x01not json at all",
    "truncated": orjson.dumps(v1_state())[:-7],
    "empty": b"",
    "a list": b"[1, 2, 3]",
    "a string": b'"state"',
    "missing field": orjson.dumps({"timestamp": AT.isoformat(), "reason": "x"}),
    "wrong type": orjson.dumps({**v1_state(), "reason": {"nested": True}}),
    "naive time": orjson.dumps(
        {"timestamp": "2026-11-25T08:00:00", "audit": AUDIT.model_dump(mode="json"), "reason": "x"}
    ),
    "extra field": orjson.dumps({**v1_state(), "reason": "x"}),
    "bad class_version": orjson.dumps({**v1_state(), "reason": "x", "class_version": "two"}),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_bytes_are_refused(case: str) -> None:
    record = stored("healthcard.card.Frozen", CORRUPT[case])
    with pytest.raises(MapperDeserialisationError) as excinfo:
        PydanticMapper(OrjsonTranscoder()).to_domain_event(record)
    assert "take the blue pill" not in str(excinfo.value)


def test_the_frozen_baseline_decodes() -> None:
    """Control for the corrupt cases: the same shape, intact, decodes."""
    state = {"timestamp": AT.isoformat(), "audit": AUDIT.model_dump(mode="json"), "reason": "x"}
    event = PydanticMapper(OrjsonTranscoder()).to_domain_event(
        stored("healthcard.card.Frozen", state)
    )
    assert base.topic_of(type(event)) == "healthcard.card.Frozen"


@pytest.mark.parametrize("mapper_name", ["zlib", "aes", "zlib+aes"])
def test_damaged_compressed_or_encrypted_bytes_are_refused(mapper_name: str) -> None:
    mapper = MAPPERS[mapper_name]()
    record = mapper.to_stored_event(sample_event(base.resolve_topic("healthcard.card.Registered")))
    damaged = bytearray(record.state)
    damaged[len(damaged) // 2] ^= 0xFF
    for state in (bytes(damaged), record.state[:10], b"", b"garbage bytes"):
        with pytest.raises(MapperDeserialisationError) as excinfo:
            mapper.to_domain_event(
                StoredEvent(record.originator_id, record.originator_version, record.topic, state)
            )
        assert NAME not in str(excinfo.value)


def test_a_decoding_error_never_shows_personal_data() -> None:
    """The name is in the stored state; a failed validation must not print it."""
    state = {
        **orjson.loads(
            PydanticMapper(OrjsonTranscoder())
            .to_stored_event(sample_event(base.resolve_topic("healthcard.card.Registered")))
            .state
        ),
        "issuer_mode": "not-a-mode",
    }
    with pytest.raises(MapperDeserialisationError) as excinfo:
        PydanticMapper(OrjsonTranscoder()).to_domain_event(
            stored("healthcard.card.Registered", state)
        )
    assert NAME not in str(excinfo.value)
    assert "+8613800138000" not in str(excinfo.value)


def test_a_topic_cannot_be_taken_by_another_class_with_the_same_name() -> None:
    from healthcard.domain.events.base import register_topic, resolve_topic
    from healthcard.domain.events.card import Registered

    impostor = type("Registered", (DomainEvent,), {"__module__": "tests.elsewhere"})
    with pytest.raises(ValueError, match="already registered"):
        register_topic(Registered.TOPIC, impostor)
    assert resolve_topic(Registered.TOPIC) is Registered
