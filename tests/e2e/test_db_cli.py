"""``healthcard db init`` makes the tables that processes started with
``CREATE_TABLE=false`` need, and such a process names the command when they are
missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.persistence import sqlite_env
from healthcard.cli import app
from healthcard.domain.errors import ConfigurationError
from healthcard.testing import FakeClock
from healthcard.testing.postgres import PostgresServer
from healthcard.testing.world import Driver


def test_without_tables_and_create_table_off_the_app_names_db_init(tmp_path: Path) -> None:
    env = {**sqlite_env(tmp_path / "events.sqlite3"), "CREATE_TABLE": "false"}
    with pytest.raises(ConfigurationError, match="healthcard db init") as refused:
        HealthCardApp(env, clock=FakeClock())
    assert refused.value.field == "CREATE_TABLE"


def test_db_init_makes_a_sqlite_log_that_create_table_off_processes_use(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite3"
    result = CliRunner().invoke(app, ["db", "init", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert '"ready"' in result.output
    again = CliRunner().invoke(app, ["db", "init", "--db", str(db)])  # idempotent
    assert again.exit_code == 0, again.output
    served = HealthCardApp({**sqlite_env(db), "CREATE_TABLE": "false"}, clock=FakeClock())
    try:
        card = Driver(served).register()
        assert served.card(card).id == card
    finally:
        served.close()


def test_db_init_refuses_a_path_in_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "init", "--db", str(tmp_path / "no" / "x.db")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "no folder" in result.output


@pytest.mark.postgres
def test_db_init_on_postgres_then_processes_start_without_ddl(
    pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pg_server.database() as name:
        env = pg_server.env("", dbname=name)
        with pytest.raises(ConfigurationError, match="healthcard db init"):
            HealthCardApp({**env, "CREATE_TABLE": "false"}, clock=FakeClock())
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(app, ["db", "init"])
        assert result.exit_code == 0, result.output
        assert name in result.output
        served = HealthCardApp({**env, "CREATE_TABLE": "false"}, clock=FakeClock())
        try:
            assert served.card(Driver(served).register()).status.value
        finally:
            served.close()
