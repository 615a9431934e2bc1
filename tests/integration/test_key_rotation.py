"""Per-person keys wrapped under a key-encryption key, rotated, old generations destroyed.

Each test runs on a real SQLite file and a real PostgreSQL schema; several store
objects on one database stand for several processes (app servers, the operator's
``complete-erasures``).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from healthcard.adapters.privacy.kek import (
    FileKeyEncryptionKey,
    InMemoryKeyEncryptionKey,
)
from healthcard.adapters.privacy.keystore import PostgresKeyStore, SqliteKeyStore
from healthcard.adapters.privacy.sql_keystore import KEYS_TABLE
from healthcard.domain.errors import ConfigurationError
from healthcard.testing.keystores import KeyStoreBackend as Backend
from healthcard.testing.postgres import PostgresServer

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def folder(kek_folder: Path) -> Path:
    return kek_folder


def _stored(row: tuple[Any, ...]) -> bytes:
    return bytes(row[1]) if row[1] is not None else b""


def test_keys_are_stored_wrapped_under_the_current_generation(
    backend: Backend, folder: Path
) -> None:
    kek = FileKeyEncryptionKey(folder)
    store = backend.open(kek)
    keys = {subject: store.key_for_writing(subject) for subject in (uuid4() for _ in range(20))}
    rows = backend.rows()
    assert len(rows) == 20
    (generation,) = kek.generations()
    for row in rows:
        assert row[2] == generation
        assert keys[UUID(str(row[0]))] not in _stored(row)  # never the raw key
    reopened = backend.open(FileKeyEncryptionKey(folder))
    assert {s: reopened.key_for_reading(s) for s in keys} == keys


def test_rotation_rewraps_every_live_key_and_destroys_the_old_generation(
    backend: Backend, folder: Path
) -> None:
    store = backend.open(FileKeyEncryptionKey(folder))
    keys = {subject: store.key_for_writing(subject) for subject in (uuid4() for _ in range(30))}
    erased = list(keys)[:5]
    for subject in erased:
        store.erase(subject)
    (old,) = FileKeyEncryptionKey(folder).generations()
    before = {UUID(str(row[0])): _stored(row) for row in backend.rows()}

    rotation = store.rotate(at=T0, retention=timedelta(0))

    assert rotation.rewrapped == 25
    assert rotation.destroyed == (old,)
    assert FileKeyEncryptionKey(folder).generations() == (rotation.generation,)
    assert not (folder / f"kek-{old}.key").exists()
    for row in backend.rows():
        subject = UUID(str(row[0]))
        if subject in erased:
            assert row[1] is None
            continue
        assert row[2] == rotation.generation
        assert _stored(row) != before[subject]
    fresh = backend.open(FileKeyEncryptionKey(folder))
    for subject, key in keys.items():
        assert fresh.key_for_reading(subject) == (None if subject in erased else key)
    status = fresh.status()
    assert (status.live_keys, status.unwrapped_keys, status.erased) == (25, 0, 5)
    assert [(g.generation, g.state) for g in status.generations] == [
        (old, "destroyed"),
        (rotation.generation, "current"),
    ]


def test_a_retired_generation_is_kept_for_the_backup_window_then_destroyed(
    backend: Backend, folder: Path
) -> None:
    store = backend.open(FileKeyEncryptionKey(folder))
    subject = uuid4()
    key = store.key_for_writing(subject)
    (first,) = FileKeyEncryptionKey(folder).generations()
    window = timedelta(days=30)

    one = store.rotate(at=T0, retention=window)
    assert (one.destroyed, one.kept) == ((), (first,))
    assert first in FileKeyEncryptionKey(folder).generations()

    two = store.rotate(at=T0 + window - timedelta(seconds=1), retention=window)
    assert two.destroyed == ()
    three = store.rotate(at=T0 + window, retention=window)
    assert first in three.destroyed
    assert first not in FileKeyEncryptionKey(folder).generations()
    assert backend.open(FileKeyEncryptionKey(folder)).key_for_reading(subject) == key


def test_a_writer_whose_generation_was_retired_writes_under_the_new_one(
    backend: Backend, folder: Path
) -> None:
    writer = backend.open(FileKeyEncryptionKey(folder))
    writer.key_for_writing(uuid4())  # the writer knows the first generation as current
    operator = backend.open(FileKeyEncryptionKey(folder))
    rotation = operator.rotate(at=T0, retention=timedelta(0))

    late = uuid4()
    key = writer.key_for_writing(late)

    (row,) = [r for r in backend.rows() if UUID(str(r[0])) == late]
    assert row[2] == rotation.generation
    assert backend.open(FileKeyEncryptionKey(folder)).key_for_reading(late) == key


def test_no_key_is_lost_when_rotations_run_during_writes(backend: Backend, folder: Path) -> None:
    writer = backend.open(FileKeyEncryptionKey(folder))
    operator = backend.open(FileKeyEncryptionKey(folder))
    written: dict[UUID, bytes] = {}
    failures: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        try:
            while not stop.is_set() or len(written) < 300:
                subject = uuid4()
                written[subject] = writer.key_for_writing(subject)
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for step in range(4):
            operator.rotate(at=T0 + timedelta(minutes=step), retention=timedelta(0))
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failures
    last = operator.rotate(at=T0 + timedelta(hours=1), retention=timedelta(0))
    assert len(FileKeyEncryptionKey(folder).generations()) == 1
    fresh = backend.open(FileKeyEncryptionKey(folder))
    assert {s: fresh.key_for_reading(s) for s in written} == written
    assert {row[2] for row in backend.rows()} == {last.generation}


def test_keys_of_an_older_release_are_read_raw_then_wrapped_at_the_first_rotation(
    backend: Backend, folder: Path
) -> None:
    test_mode = backend.open(None)  # no KEK: keys stored raw, as 0.1.0 did
    subject = uuid4()
    key = test_mode.key_for_writing(subject)
    assert backend.rows()[0][1] is not None
    assert _stored(backend.rows()[0]) == key

    store = backend.open(FileKeyEncryptionKey(folder))
    assert store.key_for_reading(subject) == key
    assert store.status().unwrapped_keys == 1
    rotation = store.rotate(at=T0, retention=timedelta(0))
    assert rotation.rewrapped == 1
    assert store.status().unwrapped_keys == 0
    assert key not in _stored(backend.rows()[0])
    assert backend.open(FileKeyEncryptionKey(folder)).key_for_reading(subject) == key


def test_a_wrapped_store_refuses_to_open_without_its_kek_or_with_another(
    backend: Backend, folder: Path
) -> None:
    backend.open(FileKeyEncryptionKey(folder)).key_for_writing(uuid4())
    with pytest.raises(ConfigurationError, match="HEALTHCARD_KEYS_DIR") as missing:
        backend.open(None)
    assert missing.value.field == "kek"
    with pytest.raises(ConfigurationError, match="wrong keys folder"):
        backend.open(InMemoryKeyEncryptionKey())


def test_sqlite_table_of_0_1_0_gains_the_kek_column(tmp_path: Path, folder: Path) -> None:
    path = tmp_path / "old.sqlite3"
    subject, key = uuid4(), bytes(range(32))
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TABLE {KEYS_TABLE} (subject TEXT PRIMARY KEY, key BLOB, erased_at TEXT)"
        )
        conn.execute(f"INSERT INTO {KEYS_TABLE} (subject, key) VALUES (?, ?)", (str(subject), key))  # noqa: S608
    store = SqliteKeyStore(str(path), kek=FileKeyEncryptionKey(folder))
    try:
        assert store.key_for_reading(subject) == key
    finally:
        store.close()


def test_postgres_table_of_0_1_0_gains_the_kek_column(
    pg_server: PostgresServer, pg_schema: str, folder: Path
) -> None:
    subject, key = uuid4(), bytes(range(32))
    with pg_server.connect() as conn:
        conn.execute(
            f"CREATE TABLE {pg_schema}.{KEYS_TABLE}"
            " (subject UUID PRIMARY KEY, key BYTEA, erased_at TIMESTAMPTZ)"
        )
        conn.execute(
            f"INSERT INTO {pg_schema}.{KEYS_TABLE} (subject, key) VALUES (%s, %s)",  # noqa: S608
            (subject, key),
        )
    store = PostgresKeyStore(pg_server.conninfo(), pg_schema, kek=FileKeyEncryptionKey(folder))
    try:
        assert store.key_for_reading(subject) == key
    finally:
        store.close()
    with pg_server.connect() as conn, pytest.raises(psycopg.errors.DuplicateColumn):
        conn.execute(f"ALTER TABLE {pg_schema}.{KEYS_TABLE} ADD COLUMN kek TEXT")
