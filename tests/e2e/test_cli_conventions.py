"""What every ``healthcard`` command shares: one ``--db`` with one default, one error
handler (a refusal is ``error[code]`` and status 2, in every sub-app), one time parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import local_sqlite_env
from healthcard.application import HealthCardApp
from healthcard.cli import app
from healthcard.cli.errors import HealthCardGroup, new_app
from healthcard.cli.options import DEMO_DB, event_store_env, parse_day, parse_time
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import FamilyCapReached
from healthcard.testing.world import Driver

runner = CliRunner()

READ_COMMANDS = [
    ["history", "00000000-0000-0000-0000-000000000001"],
    ["as-of", "00000000-0000-0000-0000-000000000001", "--version", "1"],
    ["stats"],
    ["audit", "00000000-0000-0000-0000-000000000001"],
    ["booking", "--department", "cardio", "--date", "2026-11-25"],
    ["triage", "--department", "cardio", "--date", "2026-11-25"],
    ["projections", "status"],
]


@pytest.fixture
def in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and no eventsourcing variables."""
    monkeypatch.chdir(tmp_path)
    for name in ("PERSISTENCE_MODULE", "SQLITE_DBNAME", "POSTGRES_DBNAME"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def demo_log(in_folder: Path) -> Iterator[UUID]:
    """A small log in the demo's file of the working folder; yields a card id."""
    with HealthCardApp(local_sqlite_env(DEMO_DB, create_key=True), clock=FakeClock()) as health:
        driver = Driver(health)
        card = driver.register()
        driver.complete_identity(card)
        driver.book(driver.publish(), card)
        yield card


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda argv: argv[0])
def test_without_db_and_without_a_demo_log_every_reader_says_so(
    in_folder: Path, argv: list[str]
) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert f"no event log at {DEMO_DB}" in result.stderr
    assert sorted(p.name for p in in_folder.iterdir()) == []  # nothing was created


def test_without_db_the_demo_log_of_the_working_folder_is_read(demo_log: UUID) -> None:
    history = runner.invoke(app, ["history", str(demo_log), "--json"])
    assert history.exit_code == 0, history.output
    assert '"event_type": "Registered"' in history.stdout
    audit = runner.invoke(app, ["audit", str(demo_log), "--json"])
    assert audit.exit_code == 0, audit.output
    status = runner.invoke(app, ["projections", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert '"head": 0' not in status.stdout


def test_db_names_the_file_and_the_environment_comes_next(
    demo_log: UUID, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert event_store_env(DEMO_DB) == local_sqlite_env(DEMO_DB)
    assert event_store_env(None) == local_sqlite_env(DEMO_DB)
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    assert event_store_env(None) is None  # the process environment decides
    assert event_store_env(DEMO_DB) == local_sqlite_env(DEMO_DB)  # --db still wins
    with pytest.raises(typer.Exit):
        event_store_env(Path("elsewhere.sqlite3"))
    assert (
        capsys.readouterr().err == "error: no event log at elsewhere.sqlite3 (it does not exist)\n"
    )


def test_every_command_group_handles_domain_errors() -> None:
    """Walk the whole command tree: every group is a HealthCardGroup."""
    groups = []
    pending = [get_command(app)]
    while pending:
        command = pending.pop()
        if hasattr(command, "commands"):
            groups.append(command)
            pending.extend(command.commands.values())
    assert {g.name for g in groups} >= {"healthcard", "projections", "qr", "keys"}
    assert all(isinstance(g, HealthCardGroup) for g in groups), [type(g).__name__ for g in groups]


def test_a_refusal_in_a_nested_group_prints_its_code_and_exits_2() -> None:
    root = new_app(name="probe")
    nested = new_app(name="nested")
    root.add_typer(nested, name="nested")

    @nested.command()
    def refuse(cap: int = 5) -> None:
        raise FamilyCapReached(cap)

    @root.command()
    def other() -> None:
        """A second command, so that typer keeps command names."""

    result = runner.invoke(root, ["nested", "refuse", "--cap", "3"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error[family_cap_reached]: the account already holds 3 cards")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_one_time_parser() -> None:
    assert parse_time("2026-11-25T09:00").utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert parse_time("2026-11-25", end_of_day=True).isoformat().startswith("2026-11-25T23:59:59")
    assert parse_time("2026-11-25T01:00+00:00").astimezone(CHINA_TZ).hour == 9
    assert parse_day("2026-11-25").isoformat() == "2026-11-25"
    with pytest.raises(typer.BadParameter, match="ISO"):
        parse_time("yesterday", param="--since")
    with pytest.raises(typer.BadParameter, match="YYYY-MM-DD"):
        parse_day("25/11")


def test_the_command_tree_is_the_documented_one() -> None:
    root = get_command(app)
    names = set(root.commands)  # type: ignore[attr-defined]
    assert names == {
        "demo",
        "version",
        "booking",
        "triage",
        "projections",
        "history",
        "as-of",
        "export",
        "stats",
        "audit",
        "qr",
        "keys",
        "privacy",
        "db",
    }
    groups = root.commands  # type: ignore[attr-defined]
    assert set(groups["projections"].commands) == {"status", "catch-up", "rebuild", "run", "gc"}
    assert set(groups["qr"].commands) == {"verify"}
    assert set(groups["keys"].commands) == {"generate", "rotate", "retire", "show"}
    assert set(groups["privacy"].commands) == {"status", "complete-erasures"}
    assert set(groups["db"].commands) == {"init"}
