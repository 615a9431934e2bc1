"""Opening a log read-only (``open_log(db, read_only=True)``, ``open_views``): the
file, its ``-wal`` and the folder around it stay exactly as they were, and a path
that is no healthcard log is one line of error naming it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
import typer
from click.testing import Result
from eventsourcing.persistence import OperationalError
from eventsourcing.utils import Environment
from typer.testing import CliRunner

import healthcard
from healthcard import HealthCardApp
from healthcard.adapters.persistence import (
    ReadOnlySQLiteFactory,
    local_sqlite_env,
    read_only_sqlite_uri,
)
from healthcard.application import keys as keys_folder
from healthcard.application.commands import ErasePersonalData
from healthcard.cli import app
from healthcard.cli.logfiles import ReadOnlyKeyStore, ReadOnlyStore
from healthcard.cli.options import open_log, open_views
from healthcard.readmodels import catch_up_all, status, views_path_for
from healthcard.testing import FakeClock
from healthcard.testing.leaks import Persona
from healthcard.testing.world import Driver, person

NAME = "欧阳娜娜"


def files(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` and its bytes: what a read-only command must not change."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@dataclass(frozen=True)
class Log:
    db: Path
    card: UUID
    erased: UUID


def write_log(db: Path) -> Log:
    """A small log with read models beside it: a card with a name, one erased card."""
    with HealthCardApp(local_sqlite_env(db, create_key=True), clock=FakeClock()) as health:
        driver = Driver(health)
        card = driver.register(name=NAME)
        driver.complete_identity(card, person(1, name=NAME))
        driver.book(driver.publish(), card)
        erased = driver.register()
        health.erase_personal_data(ErasePersonalData(audit=driver.audit(), card_id=erased))
    catch_up_all(db)
    return Log(db, card, erased)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Log:
    """A log whose per-person keys are wrapped under a keys folder's KEK."""
    keys = tmp_path / "keys"
    keys_folder.generate(keys)
    monkeypatch.setenv(keys_folder.ENV_KEYS_DIR, str(keys))
    folder = tmp_path / "data"
    folder.mkdir()
    return write_log(folder / "events.sqlite3")


def test_a_closed_log_is_read_and_nothing_beside_it_is_created_or_changed(log: Log) -> None:
    before = files(log.db.parent)
    assert set(before) == {"events.sqlite3", "events.sqlite3.key", "events.views.sqlite3"}
    with open_log(log.db, read_only=True) as health:
        assert health.card(log.card).name == NAME  # its key unwrapped under the KEK
        assert health.keystore.is_erased(log.erased)
        assert health.keystore.status().generations  # the store's own status, read
    with open_views(log.db, read_only=True) as projections:
        assert status(projections.app, projections.store).lag == 0
    assert files(log.db.parent) == before


def test_a_log_a_writer_holds_open_is_read_through_its_wal_left_as_it_is(log: Log) -> None:
    with HealthCardApp(local_sqlite_env(log.db), clock=FakeClock()) as writer:
        late = Driver(writer).register(name="王芳")
        before = files(log.db.parent)
        assert "events.sqlite3-wal" in before  # the writer's, with its last commit
        with open_log(log.db, read_only=True) as health:
            assert health.card(late).name == "王芳"
        after = files(log.db.parent)
        # The wal-index (-shm) is shared memory every reader marks; the data is not.
        assert {k: v for k, v in after.items() if not k.endswith("-shm")} == {
            k: v for k, v in before.items() if not k.endswith("-shm")
        }


def test_the_read_only_key_store_refuses_every_write(log: Log) -> None:
    with open_log(log.db, read_only=True) as health:
        store = health.keystore
        assert isinstance(store, ReadOnlyKeyStore)
        for write in (
            lambda: store.key_for_writing(log.card),
            lambda: store.erase(log.card),
            lambda: store.locate_or_assign(log.card, log.erased),
            lambda: store.forget(log.card, log.erased),
            store.flush,
        ):
            with pytest.raises(ReadOnlyStore):
                write()


def _no_tables(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()


def _old_key_table(path: Path) -> None:
    """Events and a key table without the ``kek`` column, as 0.1.0 left them."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stored_events (originator_id TEXT, state BLOB)")
        conn.execute("CREATE TABLE healthcard_personal_keys (subject TEXT, key BLOB)")
    conn.close()


BAD_FILES = {
    "missing": (lambda path: None, "no event log at {path} (it does not exist)"),
    "empty": (lambda path: path.write_bytes(b""), "{path} is not a healthcard event log"),
    "text": (lambda path: path.write_text("notes\n"), "{path} is not a healthcard event log"),
    "no-tables": (_no_tables, "{path} is not a healthcard event log"),
    "folder": (lambda path: path.mkdir(), "{path} is a directory, not a healthcard event log"),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "bad"
    path.mkdir()
    return path


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "writable"])
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_path_that_is_no_log_is_one_line_and_stays_as_it_was(
    folder: Path, kind: str, read_only: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    make, message = BAD_FILES[kind]
    path = folder / "events.sqlite3"
    make(path)
    before = files(folder)
    with pytest.raises(typer.Exit) as ended, open_log(path, read_only=read_only):
        pytest.fail("opened")
    assert ended.value.exit_code == 2
    assert capsys.readouterr().err == f"error: {message.format(path=path)}\n"
    assert files(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == (
        ["events.sqlite3"] if kind != "missing" else []
    )


def test_a_log_without_the_key_tables_of_this_version_is_refused_read_only(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder / "old.sqlite3"
    _old_key_table(path)
    before = files(folder)
    with pytest.raises(typer.Exit), open_log(path, read_only=True):
        pytest.fail("opened")
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} has no key tables of this healthcard version")
    assert err.count("\n") == 1
    assert files(folder) == before


def test_read_only_views_must_exist_and_are_left_alone(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    views = views_path_for(log.db)
    views.unlink()
    before = files(log.db.parent)
    with pytest.raises(typer.Exit), open_views(log.db, read_only=True):
        pytest.fail("opened")
    assert capsys.readouterr().err.startswith(f"error: no read models at {views}")
    views.write_text("not a database\n", encoding="utf-8")
    with pytest.raises(typer.Exit), open_views(log.db, read_only=True):
        pytest.fail("opened")
    assert capsys.readouterr().err == f"error: {views} is not a healthcard read-model file\n"
    assert files(log.db.parent) == {**before, views.name: b"not a database\n"}


@pytest.mark.parametrize("journal", [False, True], ids=["idle", "journal-beside"])
def test_the_read_only_factory_creates_no_table_and_keeps_the_journal_mode(
    folder: Path, journal: bool
) -> None:
    """Below the checks: eventsourcing's recorder on a file in rollback-journal mode
    with no tables; its factory would create them and switch the file to WAL. (With a
    ``-journal`` beside it, the file is read through SQLite's locks, not as immutable.)"""
    path = folder / "plain.sqlite3"
    _no_tables(path)
    if journal:
        Path(f"{path}-journal").write_bytes(b"")  # empty: nothing to roll back
    before = files(folder)
    factory = ReadOnlySQLiteFactory(Environment("X", {"SQLITE_DBNAME": read_only_sqlite_uri(path)}))
    try:
        recorder = factory.application_recorder()
        with pytest.raises(OperationalError, match="no such table"):
            recorder.max_notification_id()
    finally:
        factory.close()
    assert files(folder) == before


# -- the read commands ---------------------------------------------------------------

runner = CliRunner()
PERSONA = Persona.unique()


@dataclass(frozen=True)
class Readers:
    db: Path
    card: UUID
    keys: Path
    elsewhere: Path
    """A folder apart from the log's, for what a command writes (an export)."""

    def argv(
        self, template: list[str], db: Path | None = None, out: Path | None = None
    ) -> list[str]:
        """``template`` filled in; ``--db`` added (the log, or ``db``) unless it names keys."""
        values = {"card": self.card, "keys": self.keys, "out": out or self.elsewhere}
        filled = [arg.format(**values) for arg in template]
        return filled if "{keys}" in template else [*filled, "--db", str(db or self.db)]


READ_COMMANDS: dict[str, list[str]] = {
    "history": ["history", "{card}"],
    "history-related": ["history", "{card}", "--related"],
    "as-of": ["as-of", "{card}", "--version", "2"],
    "stats": ["stats"],
    "audit": ["audit", "{card}"],
    "export": ["export", "--out", "{out}/log.jsonl"],
    "privacy-status": ["privacy", "status"],
}
"""Commands that only read the log, as run by the tests (``--db`` added)."""


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> Readers:
    """A closed log holding PERSONA (name, document, phone), and a keys folder."""
    root = tmp_path_factory.mktemp("readers")
    (root / "log").mkdir()
    (root / "out").mkdir()
    db = root / "log" / "events.sqlite3"
    with HealthCardApp(local_sqlite_env(db, create_key=True), clock=FakeClock()) as health:
        driver = Driver(health)
        card = PERSONA.register(health, driver.audit())
        driver.book(driver.publish(), card)
    keys_folder.generate(root / "keys")
    return Readers(db, card, root / "keys", root / "out")


def invoke(argv: list[str]) -> Result:
    result = runner.invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["table", "json"])
@pytest.mark.parametrize("name", list(READ_COMMANDS))
def test_a_read_command_leaves_the_log_and_its_folder_as_they_were(
    readers: Readers, name: str, json_flag: list[str]
) -> None:
    before = files(readers.db.parent)
    result = invoke([*readers.argv(READ_COMMANDS[name]), *json_flag])
    assert result.exit_code == 0, result.output
    assert files(readers.db.parent) == before


def test_keys_show_leaves_the_keys_folder_as_it_was(readers: Readers) -> None:
    before = files(readers.keys)
    for flag in ([], ["--json"]):
        result = invoke(["keys", "show", "--keys", str(readers.keys), *flag])
        assert result.exit_code == 0, result.output
    assert files(readers.keys) == before


@pytest.mark.parametrize("name", ["history", "stats", "privacy-status"])
def test_a_read_command_reads_what_a_live_writer_committed_and_changes_none_of_it(
    tmp_path: Path, name: str
) -> None:
    log = write_log(tmp_path / "events.sqlite3")
    with HealthCardApp(local_sqlite_env(log.db), clock=FakeClock()) as writer:
        Driver(writer).register()
        before = files(tmp_path)
        assert "events.sqlite3-wal" in before
        readers = Readers(log.db, log.card, tmp_path, tmp_path)
        result = invoke([*readers.argv(READ_COMMANDS[name]), "--json"])
        assert result.exit_code == 0, result.output
        after = files(tmp_path)
    if name == "stats":
        assert json.loads(result.stdout)["total"]["counts"]["registered"] == 3  # the writer's too
    assert {k: v for k, v in after.items() if not k.endswith("-shm")} == {
        k: v for k, v in before.items() if not k.endswith("-shm")
    }


@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize("name", list(READ_COMMANDS))
def test_a_read_command_on_a_path_that_is_no_log_says_so_in_one_line(
    readers: Readers, folder: Path, tmp_path: Path, name: str, kind: str
) -> None:
    make, message = BAD_FILES[kind]
    path = folder / "events.sqlite3"
    make(path)
    before = files(folder)
    result = invoke(readers.argv(READ_COMMANDS[name], db=path, out=tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"error: {message.format(path=path)}\n"
    assert files(folder) == before
    assert not (tmp_path / "log.jsonl").exists()


JSON_COMMANDS: dict[str, list[str]] = {
    **READ_COMMANDS,
    "keys-show": ["keys", "show", "--keys", "{keys}"],
}


@pytest.mark.parametrize("name", list(JSON_COMMANDS))
def test_every_read_command_prints_json_free_of_personal_data(readers: Readers, name: str) -> None:
    result = invoke([*readers.argv(JSON_COMMANDS[name]), "--json"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    documents = (
        [json.loads(line) for line in text.splitlines()] if name == "audit" else [json.loads(text)]
    )
    assert documents
    assert PERSONA.hits(text.encode()) == []
    if name == "export":
        written = (readers.elsewhere / "log.jsonl").read_bytes()
        assert PERSONA.hits(written) == []


@pytest.mark.parametrize("name", ["history", "as-of"])
def test_the_personal_data_search_sees_it_where_clear_shows_it(readers: Readers, name: str) -> None:
    """The guard of the test above: the same search finds the persona in ``--clear``."""
    result = invoke([*readers.argv(READ_COMMANDS[name]), "--json", "--clear"])
    assert result.exit_code == 0, result.output
    assert PERSONA.hits(result.stdout.encode())


def test_version_prints_json() -> None:
    result = invoke(["version", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"version": healthcard.__version__}


@pytest.fixture
def old_log(tmp_path: Path) -> Readers:
    """A real log whose key tables are those of 0.1.0 (no ``kek`` column, no
    generations table): a writing opening would upgrade them, a reading one must not."""
    root = tmp_path / "old"
    root.mkdir()
    log = write_log(root / "events.sqlite3")
    with sqlite3.connect(log.db) as conn:
        conn.execute("ALTER TABLE healthcard_personal_keys DROP COLUMN kek")
        conn.execute("DROP TABLE healthcard_kek_generations")
    conn.close()
    return Readers(log.db, log.card, root, tmp_path)


@pytest.mark.parametrize("name", list(READ_COMMANDS))
def test_a_read_command_never_upgrades_an_old_log(old_log: Readers, name: str) -> None:
    before = files(old_log.db.parent)
    result = invoke(old_log.argv(READ_COMMANDS[name]))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {old_log.db} has no key tables of this healthcard")
    assert result.stderr.count("\n") == 1
    assert files(old_log.db.parent) == before


def test_a_log_named_by_the_environment_is_read_only_too(
    readers: Readers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``--db``: eventsourcing's variables name the SQLite file, read-only as well."""
    for name, value in local_sqlite_env(readers.db).items():
        monkeypatch.setenv(name, value)
    before = files(readers.db.parent)
    result = invoke(["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"]["counts"]["registered"] == 1
    assert files(readers.db.parent) == before
    monkeypatch.setenv("SQLITE_DBNAME", str(readers.db.parent / "nothing.sqlite3"))
    result = invoke(["stats"])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: no event log at {readers.db.parent / 'nothing.sqlite3'} (it does not exist)\n"
    )
    assert files(readers.db.parent) == before
