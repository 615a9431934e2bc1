"""Per-person sealing of personal fields in the codec, and the key stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.codec import OrjsonTranscoder, PydanticMapper
from healthcard.adapters.privacy.keystore import (
    InMemoryKeyStore,
    KeyStore,
    PostgresKeyStore,
    SqliteKeyStore,
    SubjectErased,
)
from healthcard.adapters.privacy.sealing import SEALED, PersonalDataCodec
from healthcard.domain.audit import Audit
from healthcard.domain.events.card import IdentityCompleted, Registered
from healthcard.domain.personal import personal_fields
from healthcard.testing.leaks import (
    Persona,
)
from healthcard.testing.postgres import PostgresServer, traces_of_registration


def _mapper(keystore: KeyStore) -> PydanticMapper:
    mapper = PydanticMapper(transcoder=OrjsonTranscoder())
    mapper.personal = PersonalDataCodec(keystore)
    return mapper


def _registered(card_id: UUID, audit: Audit) -> Registered:
    return Registered(
        originator_id=card_id,
        originator_version=1,
        timestamp=FakeClock()(),
        audit=audit,
        issuer_mode="production",
        name="王小明",
        phone="+8613812345678",
    )


def test_personal_fields_are_sealed_and_the_rest_stays_readable(audit: Audit) -> None:
    mapper = _mapper(InMemoryKeyStore())
    event = _registered(uuid4(), audit)
    stored = mapper.to_stored_event(event)
    state = orjson.loads(stored.state)
    assert set(personal_fields(Registered)) >= {"name", "phone"}
    assert SEALED in state["name"]
    assert SEALED in state["phone"]
    assert state["issuer_mode"] == "production"
    assert state["audit"]["actor"] == audit.actor
    assert state["photo"] is None  # absent values are not sealed
    assert mapper.to_domain_event(stored) == event


def test_every_personal_field_of_identity_completed_is_sealed() -> None:
    assert personal_fields(IdentityCompleted) == {
        "document",
        "name",
        "birth_date",
        "main_index_id",
        "ehc_id",
    }


def test_a_sealed_value_cannot_be_moved_to_another_card(audit: Audit) -> None:
    keystore = InMemoryKeyStore()
    mapper = _mapper(keystore)
    first, second = uuid4(), uuid4()
    stored_first = mapper.to_stored_event(_registered(first, audit))
    stored_second = mapper.to_stored_event(_registered(second, audit))
    # Give the second card's key to the first too: the associated data still differs.
    keystore._keys[first] = keystore._keys[second]
    forged = orjson.loads(stored_second.state)
    forged["name"] = orjson.loads(stored_first.state)["name"]
    tampered = StoredEvent(
        originator_id=second,
        originator_version=1,
        topic=stored_second.topic,
        state=orjson.dumps(forged),
    )
    with pytest.raises(MapperDeserialisationError):
        mapper.to_domain_event(tampered)


def test_after_erasure_events_decode_with_placeholders(audit: Audit) -> None:
    keystore = InMemoryKeyStore()
    mapper = _mapper(keystore)
    card_id = uuid4()
    stored = mapper.to_stored_event(_registered(card_id, audit))
    assert keystore.erase(card_id) is True
    decoded = mapper.to_domain_event(stored)
    assert isinstance(decoded, Registered)
    assert decoded.name == "[erased]"
    assert decoded.phone is None
    assert decoded.audit == audit
    assert decoded.originator_id == card_id
    with pytest.raises(SubjectErased):
        mapper.to_stored_event(_registered(card_id, audit))


def _stores(tmp_path: Path) -> list[KeyStore]:
    return [InMemoryKeyStore(), SqliteKeyStore(str(tmp_path / "keys.sqlite3"))]


def _check_store(store: KeyStore) -> None:
    subject = uuid4()
    assert store.key_for_reading(subject) is None
    key = store.key_for_writing(subject)
    assert len(key) == 32
    assert store.key_for_writing(subject) == key
    assert store.key_for_reading(subject) == key
    assert not store.is_erased(subject)
    assert store.erase(subject) is True
    assert store.key_for_reading(subject) is None
    assert store.is_erased(subject)
    assert store.erase(subject) is False
    with pytest.raises(SubjectErased):
        store.key_for_writing(subject)
    never = uuid4()
    assert store.erase(never) is False
    assert store.is_erased(never)


def test_memory_and_sqlite_key_stores(tmp_path: Path) -> None:
    for store in _stores(tmp_path):
        _check_store(store)
        store.close()


def test_sqlite_key_store_survives_reopening_and_shares_erasure(tmp_path: Path) -> None:
    path = str(tmp_path / "keys.sqlite3")
    one, two = SqliteKeyStore(path), SqliteKeyStore(path, cache_ttl=0.0)
    subject = uuid4()
    key = one.key_for_writing(subject)
    assert two.key_for_reading(subject) == key
    one.erase(subject)
    # Another process's cache expires (ttl 0 here): it no longer reads the erased key.
    assert two.key_for_reading(subject) is None
    reopened = SqliteKeyStore(path)
    assert reopened.key_for_reading(subject) is None
    for store in (one, two, reopened):
        store.close()


def test_postgres_key_store(pg_server: PostgresServer, pg_schema: str) -> None:
    conninfo = pg_server.conninfo()
    store = PostgresKeyStore(conninfo, pg_schema)
    _check_store(store)
    store.close()


@pytest.fixture
def own_pg(pg_server: PostgresServer) -> Iterator[PostgresServer]:
    """A database of this test's own (pageinspect goes in it), dropped afterwards."""
    with pg_server.own_database() as server:
        yield server


@pytest.mark.postgres
@pytest.mark.parametrize(
    "compressor", ["", "eventsourcing.compressor:ZlibCompressor"], ids=["plain", "zlib"]
)
def test_postgres_holds_personal_fields_only_sealed(
    own_pg: PostgresServer, audit: Audit, compressor: str
) -> None:
    """The events' state is bytea (and zlib-compressed with ``COMPRESSOR_TOPIC``): the
    searches decode it, in the dump, the heap pages and the WAL written meanwhile
    (guarded in ``test_leak_search_postgres``), and find none of the person."""
    person = Persona.unique()
    traces = traces_of_registration(own_pg, person, audit, compressor=compressor)
    # The audit lies only inside the events' state: seen, so the state was decoded.
    assert audit.actor.encode() in traces.dump
    assert audit.actor.encode() in traces.heap
    assert person.hits(traces.dump) == []
    assert person.hits(traces.heap) == []
    assert person.hits(traces.wal) == []
