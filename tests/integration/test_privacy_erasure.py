"""Crypto-shredding: after erasure no personal data is readable anywhere we store it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.cryptography import AESCipher

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.adapters.privacy.sealing import ERASED_TEXT
from healthcard.application import keys as keys_folder
from healthcard.application.commands import (
    AccountRef,
    ErasePersonalData,
    MakeAppointment,
    PublishSession,
    RegisterCard,
)
from healthcard.domain.account import Account
from healthcard.domain.audit import Audit
from healthcard.domain.card_values import CardStatus
from healthcard.domain.clinic_values import AppointmentStatus, Period
from healthcard.domain.errors import NotFound
from healthcard.domain.identity import IdentityDocument
from healthcard.testing.leaks import (
    Persona,
    WalWindow,
    pg_dump_bytes,
    pg_heap_bytes,
    pg_schema_tables,
    pg_wal_window,
    sqlite_bytes,
)
from healthcard.testing.postgres import PostgresServer

PERSON = Persona()
NAME, DOCUMENT, PHONE = PERSON.name, PERSON.document, PERSON.phone
personal_hits = PERSON.hits
register_person = PERSON.register


def _book(app: HealthCardApp, audit: Audit, card_id: object) -> tuple[object, object]:
    session_id = app.publish_session(
        PublishSession(
            audit=audit,
            department="obstetrics",
            doctor="D01",
            day=date(2026, 11, 26),
            period=Period.MORNING,
            capacity=3,
        )
    )
    appointment_id = app.make_appointment(
        MakeAppointment(audit=audit, session_id=session_id, card_id=card_id)
    )
    return session_id, appointment_id


def test_erasure_keeps_clinical_facts_and_shreds_personal_fields(
    app: HealthCardApp, audit: Audit
) -> None:
    card_id = register_person(app, audit)
    session_id, appointment_id = _book(app, audit, card_id)
    before = app.card(card_id)
    assert (before.name, before.phone) == (NAME, f"+86{PHONE}")
    phone = AccountRef(kind="phone", identifier=PHONE)
    account_id = app.account(phone).id

    app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))

    card = app.card(card_id)
    assert card.erased
    assert card.status is CardStatus.CANCELLED
    assert card.name == ERASED_TEXT
    assert card.phone is None
    assert card.document is not None
    assert card.document.number == ERASED_TEXT
    assert card.ehc_id == ERASED_TEXT
    assert card.main_index_id == ERASED_TEXT
    # Clinical facts stay: the appointment is still in its session, pseudonymous.
    session = app.session(session_id)
    assert session.appointments[appointment_id].card_id == card_id
    assert session.appointments[appointment_id].status is AppointmentStatus.BOOKED
    # The holder's own account identifier is shredded too; the account's stream stays,
    # but the number no longer leads to it.
    account = app.repository.get(account_id, projector_func=Account.project)
    assert isinstance(account, Account)
    assert account.erased
    assert account.identifier == ERASED_TEXT
    assert card_id not in account.cards
    with pytest.raises(NotFound):
        app.account(phone)
    # The document is free again (and leads to no claim any more).
    document = IdentityDocument(type="01", number=DOCUMENT)
    assert app.find_card_by_document(document) is None


def test_erasure_is_idempotent_and_finishes_an_interrupted_erasure(
    memory_app: HealthCardApp, audit: Audit
) -> None:
    card_id = register_person(memory_app, audit)
    memory_app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
    log_size = memory_app.recorder.max_notification_id()
    memory_app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
    assert memory_app.recorder.max_notification_id() == log_size
    assert memory_app.keystore.is_erased(card_id)


def test_erased_card_can_no_longer_write_personal_data(
    memory_app: HealthCardApp, audit: Audit
) -> None:
    card_id = register_person(memory_app, audit)
    memory_app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
    # The same person may register again: a new card with a new key.
    again = memory_app.register(RegisterCard(audit=audit, name=NAME, phone=PHONE))
    assert again != card_id
    assert memory_app.card(again).name == NAME


def test_sqlite_file_holds_no_personal_data_before_or_after_erasure(
    tmp_path: Path, audit: Audit
) -> None:
    db = tmp_path / "events.sqlite3"
    app = HealthCardApp(sqlite_env(db), clock=FakeClock())
    card_id = register_person(app, audit)
    _book(app, audit, card_id)
    assert personal_hits(sqlite_bytes(db)) == []  # sealed per person even before erasure
    app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
    app.close()
    assert personal_hits(sqlite_bytes(db)) == []
    reopened = HealthCardApp(sqlite_env(db), clock=FakeClock())
    assert reopened.card(card_id).name == ERASED_TEXT
    reopened.close()


def test_encryption_at_rest_hides_everything_before_erasure(tmp_path: Path, audit: Audit) -> None:
    db = tmp_path / "events.sqlite3"
    env = {
        **sqlite_env(db),
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(32),
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }
    app = HealthCardApp(env, clock=FakeClock())
    card_id = register_person(app, audit)
    blob = sqlite_bytes(db)
    assert personal_hits(blob) == []
    assert b"healthcard.card.Registered" in blob  # topics are columns, not secret
    assert b"staff-001" not in blob  # the audit metadata is inside the encrypted state
    assert app.card(card_id).name == NAME
    app.close()


def test_the_grep_is_able_to_find_clear_data(tmp_path: Path) -> None:
    """Guard for the tests above: the same grep finds the data when it is stored clear."""
    db = tmp_path / "clear.sqlite3"
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (f"{NAME} {DOCUMENT} +86{PHONE}",))
    assert len(personal_hits(sqlite_bytes(db))) >= 3


@pytest.fixture
def own_pg(pg_server: PostgresServer) -> Iterator[PostgresServer]:
    """A database of this test's own (pageinspect goes in it), dropped afterwards."""
    with pg_server.own_database() as server:
        yield server


@pytest.mark.postgres
def test_postgres_holds_no_personal_data_before_or_after_erasure(
    own_pg: PostgresServer, audit: Audit
) -> None:
    """Dump (bytea decoded), heap pages (dead row versions too) and the WAL written
    meanwhile: none holds the person, before or after erasure; the searches are
    guarded in ``test_leak_search_postgres`` (they find the person when stored clear)."""
    person = Persona.unique()
    conninfo = own_pg.conninfo()
    clock = FakeClock()
    with own_pg.schema() as schema, pg_wal_window(conninfo) as wal:
        env = own_pg.env(schema)
        app = HealthCardApp(env, clock=clock)
        card_id = person.register(app, audit)
        _book(app, audit, card_id)
        key = app.keystore.key_for_reading(card_id)
        assert key is not None
        tables = pg_schema_tables(conninfo, schema)
        dump_before = pg_dump_bytes(conninfo, schema)
        assert b"healthcard_personal_keys" in dump_before  # the dump covers the key table
        assert audit.actor.encode() in dump_before  # inside the events' state: decoded
        assert person.hits(dump_before) == []
        assert person.hits(pg_heap_bytes(conninfo, tables)) == []
        app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
        app.close()
        dump_after = pg_dump_bytes(conninfo, schema)
        assert person.hits(dump_after) == []
        assert key not in dump_after  # no live row holds the erased key
        assert person.hits(pg_heap_bytes(conninfo, tables)) == []
        assert person.hits(wal.read()) == []
        reopened = HealthCardApp(env, clock=clock)
        assert reopened.card(card_id).name == ERASED_TEXT
        reopened.close()


@dataclass(frozen=True, slots=True)
class ErasedOnPostgres:
    """A card erased in a database of its own: its key as it was, and where to look."""

    key: bytes
    conninfo: dict[str, object]
    schema: str
    wal: WalWindow


@pytest.fixture
def erased_on_postgres(
    own_pg: PostgresServer, audit: Audit, tmp_path: Path
) -> Iterator[ErasedOnPostgres]:
    """A person registered and erased on PostgreSQL by an app with a keys folder (so
    per-person keys are wrapped under its key-encryption key), the card's key read
    before the erasure, then ``complete_erasures()`` run as the operator would.
    """
    conninfo = own_pg.conninfo()
    folder = tmp_path / "deployment-keys"
    keys_folder.generate(folder)
    with own_pg.schema() as schema, pg_wal_window(conninfo) as wal:
        env = {**own_pg.env(schema), "HEALTHCARD_KEYS_DIR": str(folder)}
        app = HealthCardApp(env, clock=FakeClock())
        try:
            card_id: UUID = Persona.unique().register(app, audit)
            key = app.keystore.key_for_reading(card_id)
            if key is None or len(key) != 32:
                pytest.fail(f"expected the card's 32-byte key, got {key!r}")
            app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
            if app.keystore.key_for_reading(card_id) is not None or not app.card(card_id).erased:
                pytest.fail("the card was not erased")
            app.complete_erasures()
        finally:
            app.close()
        yield ErasedOnPostgres(key=key, conninfo=conninfo, schema=schema, wal=wal)


@pytest.mark.postgres
def test_erased_key_is_not_in_postgres_heap_pages(erased_on_postgres: ErasedOnPostgres) -> None:
    erased = erased_on_postgres
    heap = pg_heap_bytes(erased.conninfo, pg_schema_tables(erased.conninfo, erased.schema))
    assert erased.key not in heap


@pytest.mark.postgres
def test_erased_key_is_not_in_postgres_wal(erased_on_postgres: ErasedOnPostgres) -> None:
    """Only the wrapped key ever reached the server; the KEK generation that wrapped it
    is destroyed by ``complete_erasures()`` (``test_erasure_backups`` opens old copies)."""
    assert erased_on_postgres.key not in erased_on_postgres.wal.read()


def test_another_process_cached_copy_shows_the_erasure(tmp_path: Path, audit: Audit) -> None:
    """App servers cache aggregates; a fast-forwarded copy must not keep the person."""
    db = tmp_path / "events.sqlite3"
    server_a = HealthCardApp(sqlite_env(db), clock=FakeClock())
    server_b = HealthCardApp(sqlite_env(db), clock=FakeClock())
    card_id = register_person(server_a, audit)
    assert server_b.card(card_id).name == NAME  # now cached in server B
    account_id = server_b.account(AccountRef(kind="phone", identifier=PHONE)).id
    assert server_b.repository.cache is not None
    server_a.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
    card = server_b.card(card_id)
    assert card.erased
    assert (card.name, card.phone, card.ehc_id) == (ERASED_TEXT, None, ERASED_TEXT)
    assert card.document is not None
    assert card.document.number == ERASED_TEXT
    account = server_b.repository.get(account_id, projector_func=Account.project)
    assert isinstance(account, Account)
    assert account.identifier == ERASED_TEXT
    server_a.close()
    server_b.close()
