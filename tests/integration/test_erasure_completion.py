"""An erasure always finishes or says it did not; complete_erasures() finishes it.

Faults are real: a SQLite reader holding a snapshot in another connection, a
PostgreSQL key store whose own database refuses connections and has its backends
terminated (never the shared server).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.adapters.privacy.kek import FileKeyEncryptionKey
from healthcard.adapters.privacy.keystore import PostgresKeyStore
from healthcard.application import keys as keys_folder
from healthcard.application.commands import ErasePersonalData
from healthcard.domain.audit import Audit
from healthcard.domain.errors import ErasureIncomplete, StoreUnavailable
from healthcard.domain.identity import IdentityDocument
from healthcard.testing.leaks import Persona, sqlite_bytes
from healthcard.testing.postgres import PostgresServer

RECOVERY_SECONDS = 10.0


def _erase(app: HealthCardApp, audit: Audit, card_id: UUID) -> None:
    app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))


@pytest.fixture
def folder(kek_folder: Path) -> Path:
    return kek_folder


# -- SQLite: a reader keeps old pages in the write-ahead log -----------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path, clock: FakeClock) -> Iterator[HealthCardApp]:
    app = HealthCardApp(sqlite_env(tmp_path / "events.sqlite3"), clock=clock)
    try:
        yield app
    finally:
        app.close()


def test_an_erasure_a_sqlite_reader_blocks_is_reported_and_completed_later(
    sqlite_app: HealthCardApp, audit: Audit, tmp_path: Path
) -> None:
    path = tmp_path / "events.sqlite3"
    person = Persona.unique()
    card_id = person.register(sqlite_app, audit)
    key = sqlite_app.keystore.key_for_reading(card_id)
    assert key is not None
    # Test mode stores keys raw: the key's bytes are what a copy of the file would leak.
    assert key in sqlite_bytes(path)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM stored_events").fetchone()  # holds a snapshot

        with pytest.raises(ErasureIncomplete) as excinfo:
            _erase(sqlite_app, audit, card_id)
        assert excinfo.value.code == "erasure_incomplete"
        assert excinfo.value.card_id == card_id
        assert sqlite_app.card(card_id).erased  # the erasure is recorded
        assert key in sqlite_bytes(path)  # ... and the key is still on disk: not done
        with pytest.raises(ErasureIncomplete):
            sqlite_app.complete_erasures()  # still blocked: never reported as done
    finally:
        reader.close()

    sqlite_app.complete_erasures()
    assert key not in sqlite_bytes(path)
    assert sqlite_app.pending_erasures() == []
    assert person.hits(sqlite_bytes(path)) == []


# -- pending erasures, idempotent completion ---------------------------------------------


def test_complete_erasures_is_idempotent_and_rotates_each_time(
    tmp_path: Path, clock: FakeClock, audit: Audit
) -> None:
    folder = tmp_path / "deployment-keys"
    keys_folder.generate(folder)
    env = {**sqlite_env(tmp_path / "events.sqlite3"), "HEALTHCARD_KEYS_DIR": str(folder)}
    with HealthCardApp(env, clock=clock) as app:
        card_id = Persona.unique().register(app, audit)
        _erase(app, audit, card_id)
        first = app.complete_erasures()
        second = app.complete_erasures()
    assert first.completed == second.completed == ()
    assert first.rotation.generation != second.rotation.generation
    assert second.rotation.destroyed == (first.rotation.generation,)
    assert FileKeyEncryptionKey(folder).generations() == (second.rotation.generation,)


# -- PostgreSQL key store: an outage in the middle of an erasure -------------------------


@pytest.fixture
def own_database(pg_server: PostgresServer) -> Iterator[str]:
    with pg_server.database() as name:
        yield name


def _wait_until_served(store: PostgresKeyStore, subject: UUID) -> float:
    """Seconds until the store answers again (the same object: no restart)."""
    start = time.monotonic()
    while True:
        try:
            store.key_for_reading(subject)
            return time.monotonic() - start
        except StoreUnavailable:
            if time.monotonic() - start > RECOVERY_SECONDS:
                raise
            time.sleep(0.1)


class OutageWhenErasing(PostgresKeyStore):
    """A PostgreSQL key store whose server starts refusing connections (for real) the
    moment the erasure, already recorded in the log, reaches ``step``: deleting the
    locators (``forget``) or destroying the keys (``erase``)."""

    def __init__(self, server: PostgresServer, database: str, folder: Path, step: str) -> None:
        super().__init__(server.conninfo(database), kek=FileKeyEncryptionKey(folder), timeout=1.0)
        self._outage = (server, database, step)
        self.armed = False

    def _strike(self, step: str) -> None:
        server, database, when = self._outage
        if self.armed and step == when:
            self.armed = False
            server.refuse_connections(database)

    def forget(self, natural: UUID, stream: UUID) -> bool:
        self._strike("forget")
        return super().forget(natural, stream)

    def erase(self, subject: UUID) -> bool:
        self._strike("erase")
        return super().erase(subject)


@pytest.mark.parametrize("step", ["forget", "erase"])
def test_an_outage_mid_erasure_is_typed_and_completed_after_the_server_returns(
    pg_server: PostgresServer,
    own_database: str,
    folder: Path,
    tmp_path: Path,
    clock: FakeClock,
    audit: Audit,
    step: str,
) -> None:
    store = OutageWhenErasing(pg_server, own_database, folder, step)
    app = HealthCardApp(sqlite_env(tmp_path / "events.sqlite3"), clock=clock, keystore=store)
    try:
        person = Persona.unique()
        card_id = person.register(app, audit)
        account = app.card(card_id).accounts
        subjects = {card_id, *account}
        app.card(card_id)  # the card's key is cached: loading it needs no database

        store.armed = True
        try:
            started = time.monotonic()
            with pytest.raises(ErasureIncomplete) as excinfo:
                _erase(app, audit, card_id)
            assert time.monotonic() - started < 5.0  # fails fast, does not hang
            assert isinstance(excinfo.value.__cause__, StoreUnavailable)
            assert app.card(card_id).erased  # recorded in the log
            with pytest.raises(StoreUnavailable):
                app.pending_erasures()
        finally:
            pg_server.allow_connections(own_database)

        recovered = _wait_until_served(store, card_id)
        assert recovered < RECOVERY_SECONDS
        assert set(app.pending_erasures()) <= subjects
        assert card_id in app.pending_erasures()
        report = app.complete_erasures()
        assert card_id in report.completed
        assert app.pending_erasures() == []
        assert all(store.is_erased(subject) for subject in report.completed)
        assert app.complete_erasures().completed == ()
        # The document and the phone lead nowhere any more, as after an erasure that
        # met no outage.
        assert (
            app.find_card_by_document(IdentityDocument(type="01", number=person.document)) is None
        )
        assert store.status().live_keys == 0
    finally:
        app.close()
        store.close()


def test_the_postgres_key_store_recovers_from_terminated_connections(
    pg_server: PostgresServer, own_database: str, folder: Path
) -> None:
    store = PostgresKeyStore(
        pg_server.conninfo(own_database), kek=FileKeyEncryptionKey(folder), cache_ttl=0.0
    )
    try:
        subject = UUID(int=7)
        key = store.key_for_writing(subject)
        for _ in range(3):
            pg_server.refuse_connections(own_database)
            with pytest.raises(StoreUnavailable) as excinfo:
                store.key_for_reading(subject)
            assert excinfo.value.code == "store_unavailable"
            pg_server.allow_connections(own_database)
            assert _wait_until_served(store, subject) < RECOVERY_SECONDS
            assert store.key_for_reading(subject) == key
    finally:
        store.close()


def test_a_postgres_key_store_opened_during_an_outage_says_so(
    pg_server: PostgresServer, own_database: str
) -> None:
    pg_server.refuse_connections(own_database)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            PostgresKeyStore(pg_server.conninfo(own_database), timeout=1.0)
        assert time.monotonic() - started < 5.0
    finally:
        pg_server.allow_connections(own_database)
    PostgresKeyStore(pg_server.conninfo(own_database), timeout=1.0).close()
