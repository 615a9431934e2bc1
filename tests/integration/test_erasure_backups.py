"""Erasure that holds in backups: a copy made before the erasure cannot open the person
once complete_erasures() has rotated the key-encryption key past the retention window.

Real copies: a ``pg_dump`` restored into a fresh database with ``psql``, a copy of the
SQLite file and its write-ahead log. Each test first shows the same copy *can* be
opened while the old generation exists (the guard), so the final refusal is the
rotation's doing and not a broken copy.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.adapters.privacy.kek import FileKeyEncryptionKey, GenerationUnavailable
from healthcard.adapters.privacy.sql_keystore import KEYS_TABLE
from healthcard.application import keys as keys_folder
from healthcard.application.commands import ErasePersonalData
from healthcard.domain.audit import Audit
from healthcard.domain.errors import ConfigurationError
from healthcard.testing.leaks import Persona
from healthcard.testing.postgres import PostgresServer


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "deployment-keys"
    keys_folder.generate(folder)
    return folder


def _erase(app: HealthCardApp, audit: Audit, card_id: UUID) -> None:
    app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))


def _cannot_unwrap(folder: Path, subject: UUID, wrapped: bytes, generation: str) -> bool:
    """True when no generation the keys folder holds now opens the copy's key."""
    kek = FileKeyEncryptionKey(folder)
    context = b"healthcard.personal-key|" + subject.bytes
    for candidate in {generation, *kek.generations()}:
        try:
            kek.unwrap(candidate, wrapped, context)
        except (GenerationUnavailable, ValueError):
            continue
        return False
    return True


# -- PostgreSQL: pg_dump before the erasure, restored after ------------------------------


def _restore(server: PostgresServer, dump: bytes, dbname: str) -> None:
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            server.host,
            "-p",
            str(server.port),
            "-U",
            server.user,
            "-d",
            dbname,
        ],
        input=dump,
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextmanager
def _restored(server: PostgresServer, dump: bytes) -> Iterator[str]:
    with server.database() as dbname:
        _restore(server, dump, dbname)
        yield dbname


def _key_row(server: PostgresServer, dbname: str, schema: str, subject: UUID) -> tuple[bytes, str]:
    with server.connect(dbname) as conn:
        row = conn.execute(
            f"SELECT key, kek FROM {schema}.{KEYS_TABLE} WHERE subject = %s",  # noqa: S608
            (subject,),
        ).fetchone()
    assert row is not None
    assert row[0] is not None
    return bytes(row[0]), str(row[1])


@pytest.mark.parametrize("retention_days", [0, 30], ids=["no-window", "30-day-window"])
def test_a_pg_dump_from_before_the_erasure_cannot_open_the_person_after_rotation(
    pg_server: PostgresServer,
    pg_schema: str,
    keys_dir: Path,
    clock: FakeClock,
    audit: Audit,
    retention_days: int,
) -> None:
    env = {
        **pg_server.env(pg_schema),
        "HEALTHCARD_KEYS_DIR": str(keys_dir),
        "HEALTHCARD_BACKUP_RETENTION_DAYS": str(retention_days),
    }
    person = Persona.unique()
    with HealthCardApp(env, clock=clock) as app:
        card_id = person.register(app, audit)
        backup = pg_server.dump(pg_schema)
        with _restored(pg_server, backup) as guard_db:  # the backup restores, today
            restored_env = {**env, **pg_server.env(pg_schema, dbname=guard_db)}
            with HealthCardApp(restored_env, clock=clock) as restored:
                assert restored.card(card_id).name == person.name

        _erase(app, audit, card_id)
        report = app.complete_erasures()
        assert report.rotation.generation is not None
        if retention_days:
            # Inside the window the old generation is kept: old backups still restore
            # (and still hold the person) until the window has passed.
            with _restored(pg_server, backup) as window_db:
                restored_env = {**env, **pg_server.env(pg_schema, dbname=window_db)}
                with HealthCardApp(restored_env, clock=clock) as restored:
                    assert restored.card(card_id).name == person.name
            clock.advance(days=retention_days)
            report = app.complete_erasures()
        assert report.rotation.destroyed

    with _restored(pg_server, backup) as late_db:
        wrapped, generation = _key_row(pg_server, late_db, pg_schema, card_id)
        assert _cannot_unwrap(keys_dir, card_id, wrapped, generation)
        restored_env = {**env, **pg_server.env(pg_schema, dbname=late_db)}
        with pytest.raises(ConfigurationError) as excinfo:
            HealthCardApp(restored_env, clock=clock)
        assert excinfo.value.field == "kek"


# -- SQLite: a file copy made before the erasure -----------------------------------------


def _copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def test_a_sqlite_copy_from_before_the_erasure_cannot_open_the_person_after_rotation(
    tmp_path: Path, keys_dir: Path, clock: FakeClock, audit: Audit
) -> None:
    live, backup = tmp_path / "live.sqlite3", tmp_path / "backup.sqlite3"
    env = {**sqlite_env(live), "HEALTHCARD_KEYS_DIR": str(keys_dir)}
    person = Persona.unique()
    with HealthCardApp(env, clock=clock) as app:
        card_id = person.register(app, audit)
        _copy_sqlite(live, backup)
        guard = tmp_path / "guard.sqlite3"
        shutil.copyfile(backup, guard)
        with HealthCardApp({**env, **sqlite_env(guard)}, clock=clock) as restored:
            assert restored.card(card_id).name == person.name
        _erase(app, audit, card_id)
        assert app.complete_erasures().rotation.destroyed

    with sqlite3.connect(backup) as conn:
        wrapped, generation = conn.execute(
            f"SELECT key, kek FROM {KEYS_TABLE} WHERE subject = ?",  # noqa: S608
            (str(card_id),),
        ).fetchone()
    assert _cannot_unwrap(keys_dir, card_id, bytes(wrapped), str(generation))
    with pytest.raises(ConfigurationError):
        HealthCardApp({**env, **sqlite_env(backup)}, clock=clock)
