"""Paths a command cannot use end in one line naming them, status 2, nothing touched.

Every option that names a file or a folder to write (``demo --db``/``--out``,
``export --out``/``--pseudonym-salt-file``, ``keys generate --out``) and every
``--keys`` folder to read is given what an operator mistypes: a folder that does not
exist, a folder where a file goes, a file where a folder goes, a place this process
may not write, and (for an export) the log's own files. The command must say which
path and why in one ``error:`` line, exit 2, and leave every file as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.persistence import key_file_for, local_sqlite_env
from healthcard.cli import app
from healthcard.readmodels import views_path_for
from healthcard.testing import FakeClock
from healthcard.testing.world import Driver

runner = CliRunner()


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (``None`` for a folder)."""
    return {
        str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


@dataclass(frozen=True)
class Place:
    """A working folder holding a log, a text file, another SQLite database, a folder."""

    root: Path
    locked: Path
    """A folder this process cannot write into."""

    @property
    def db(self) -> Path:
        return self.root / "events.sqlite3"

    def fill(self, arg: str) -> str:
        return arg.format(
            root=self.root,
            db=self.db,
            key=key_file_for(self.db),
            views=views_path_for(self.db),
            text=self.root / "notes.txt",
            other=self.root / "other.sqlite3",
            folder=self.root / "folder",
            locked=self.locked,
        )


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot create files in: a folder of mode 0500, or, for a
    user that modes do not stop (root), sysfs, which refuses new files to anyone."""
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    try:
        try:
            (folder / "probe").touch()
        except PermissionError:
            yield folder
            return
        (folder / "probe").unlink()
        try:
            Path("/sys/healthcard-probe").touch()
        except OSError:
            yield Path("/sys")
            return
        pytest.skip("no folder refuses this process")
    finally:
        folder.chmod(0o700)


@pytest.fixture
def place(tmp_path: Path, locked: Path) -> Place:
    root = tmp_path / "work"
    root.mkdir()
    found = Place(root, locked)
    with HealthCardApp(local_sqlite_env(found.db, create_key=True), clock=FakeClock()) as health:
        Driver(health).register()
    (root / "notes.txt").write_text("not a database\n", encoding="utf-8")
    with sqlite3.connect(root / "other.sqlite3") as conn:
        conn.execute("CREATE TABLE precious (value TEXT)")
    conn.close()
    (root / "folder").mkdir()
    return found


DEMO = ["demo", "--cards", "10"]
EXPORT = ["export", "--db", "{db}", "--format", "csv"]

# (id, argv, the path the line names, what else it says)
CASES: list[tuple[str, list[str], str, str]] = [
    ("demo-db-in-missing-folder", [*DEMO, "--db", "{root}/no/day.sqlite3"], "{root}/no", "(--db)"),
    ("demo-db-a-folder", [*DEMO, "--db", "{folder}"], "{folder}", "it is a directory"),
    ("demo-db-under-a-file", [*DEMO, "--db", "{text}/day.sqlite3"], "{text}", "is a file"),
    ("demo-db-unwritable", [*DEMO, "--db", "{locked}/day.sqlite3"], "{locked}/day", "(--db)"),
    ("demo-db-a-text-file", [*DEMO, "--db", "{text}"], "{text}", "not deleting it"),
    ("demo-db-another-database", [*DEMO, "--db", "{other}"], "{other}", "not deleting it"),
    ("demo-out-a-file", [*DEMO, "--db", "{root}/d.sqlite3", "--out", "{text}"], "{text}", "file"),
    (
        "demo-out-under-a-file",
        [*DEMO, "--db", "{root}/d.sqlite3", "--out", "{text}/out"],
        "{text}/out",
        "(--out)",
    ),
    (
        "demo-out-unwritable",
        [*DEMO, "--db", "{root}/d.sqlite3", "--out", "{locked}/out"],
        "{locked}/out",
        "(--out)",
    ),
    ("export-in-missing-folder", [*EXPORT, "--out", "{root}/no/x.csv"], "{root}/no", "(--out)"),
    ("export-to-a-folder", [*EXPORT, "--out", "{folder}"], "{folder}", "it is a directory"),
    ("export-under-a-file", [*EXPORT, "--out", "{text}/x.csv"], "{text}", "is a file"),
    ("export-unwritable", [*EXPORT, "--out", "{locked}/x.csv"], "{locked}/x.csv", "(--out)"),
    ("export-over-the-log", [*EXPORT, "--out", "{db}"], "{db}", "a file of the event log"),
    ("export-over-its-key", [*EXPORT, "--out", "{key}"], "{key}", "a file of the event log"),
    ("export-over-its-views", [*EXPORT, "--out", "{views}"], "{views}", "file of the event log"),
    (
        "export-salt-a-folder",
        [*EXPORT, "--out", "{root}/x.csv", "--pseudonym-salt-file", "{folder}"],
        "{folder}",
        "it is a directory",
    ),
    (
        "export-salt-in-missing-folder",
        [*EXPORT, "--out", "{root}/x.csv", "--pseudonym-salt-file", "{root}/no/salt"],
        "{root}/no",
        "(--pseudonym-salt-file)",
    ),
    (
        "export-over-its-salt",
        [*EXPORT, "--out", "{root}/s.csv", "--pseudonym-salt-file", "{root}/s.csv"],
        "{root}/s.csv",
        "it is the salt file",
    ),
    ("keys-out-a-file", ["keys", "generate", "--out", "{text}"], "{text}", "it is a file"),
    ("keys-out-under-a-file", ["keys", "generate", "--out", "{text}/k"], "{text}", "is a file"),
    ("keys-out-unwritable", ["keys", "generate", "--out", "{locked}/k"], "{locked}/k", "(--out)"),
    ("keys-show-missing", ["keys", "show", "--keys", "{root}/no"], "{root}/no", "does not exist"),
    ("keys-rotate-missing", ["keys", "rotate", "--keys", "{root}/no"], "{root}/no", "not exist"),
    (
        "keys-retire-missing",
        ["keys", "retire", "--keys", "{root}/no", "--kid", "1"],
        "{root}/no",
        "does not exist",
    ),
]


@pytest.mark.parametrize(
    ("argv", "named", "says"), [pytest.param(a, n, s, id=i) for i, a, n, s in CASES]
)
def test_a_path_a_command_cannot_use_is_one_line_naming_it(
    place: Place, argv: list[str], named: str, says: str
) -> None:
    before = tree(place.root)
    result = runner.invoke(app, [place.fill(arg) for arg in argv])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert place.fill(named) in result.stderr
    assert says in result.stderr
    assert result.stdout == ""
    assert tree(place.root) == before


def path_options(command_path: list[str]) -> set[str]:
    """The options of a command of the tree that take a path."""
    command = get_command(app)
    for name in command_path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return {
        param.opts[0]
        for param in command.params
        if isinstance(param, click.Option) and isinstance(param.type, click.Path)
    }


@pytest.mark.parametrize(
    "command",
    [
        ["demo"],
        ["export"],
        ["keys", "generate"],
        ["keys", "rotate"],
        ["keys", "retire"],
        ["keys", "show"],
    ],
)
def test_every_path_option_of_these_commands_has_a_case(command: list[str]) -> None:
    """A new path option needs a case above (``--db`` of a reader: test_cli_read_only)."""
    covered = {
        arg
        for _, argv, _, _ in CASES
        if argv[: len(command)] == command
        for arg in argv
        if arg.startswith("--")
    }
    missing = path_options(command) - covered - ({"--db"} if command == ["export"] else set())
    assert not missing, missing
