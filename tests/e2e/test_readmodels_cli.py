"""The read models' CLI (``projections status|catch-up|rebuild``, ``triage``,
``booking``) and ``catch_up_all`` on a SQLite event store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.cli.readmodels import booking, projections_app, triage
from healthcard.readmodels import catch_up_all, views_path_for
from healthcard.testing.clinic_histories import NAMES, busy_day

cli = typer.Typer()
cli.add_typer(projections_app, name="projections")
cli.command()(triage)
cli.command()(booking)
runner = CliRunner()


@pytest.fixture
def event_db(tmp_path: Path) -> Path:
    db = tmp_path / "events.sqlite3"
    clock = FakeClock()
    with HealthCardApp(sqlite_env(db), clock=clock) as app:
        busy_day(app, clock, 20)
    return db


def run(*args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_catch_up_all_puts_the_views_beside_the_log(event_db: Path) -> None:
    with HealthCardApp(sqlite_env(event_db)) as app:
        head = app.recorder.max_notification_id()
    first = catch_up_all(event_db)
    assert first["version"] == 1
    assert first["position"] == first["head"] == head
    assert first["applied"] > 0
    assert views_path_for(event_db) == event_db.with_name("events.views.sqlite3")
    assert views_path_for(event_db).exists()
    assert catch_up_all(event_db)["applied"] == 0  # nothing new: nothing folded twice


def test_status_catch_up_rebuild(event_db: Path) -> None:
    db = str(event_db)
    before = json.loads(run("projections", "status", "--db", db, "--json"))
    assert before["version"] is None
    assert before["lag"] == before["head"] > 0
    assert "applied" in run("projections", "catch-up", "--db", db)
    caught_up = json.loads(run("projections", "status", "--db", db, "--json"))
    assert (caught_up["version"], caught_up["lag"]) == (1, 0)
    out = run("projections", "rebuild", "--db", db)
    assert "version 2 serves (replaced version 1)" in out
    assert "ev/s" in out
    after = json.loads(run("projections", "status", "--db", db, "--json"))
    assert (after["version"], after["applied"]) == (2, caught_up["applied"])
    assert [v["state"] for v in after["versions"]] == ["live"]


def test_triage_and_booking_print_masked_tables(event_db: Path) -> None:
    db = str(event_db)
    day = FakeClock().now.date().isoformat()
    out = run("triage", "--department", "cardio", "--date", day, "--db", db, "--at", f"{day}T23:00")
    assert "check-in queue" in out
    assert "seen" in out
    assert "waiting" in out
    assert "10 expected" in out  # busy_day: 20 people over two cardio sessions
    for name in NAMES:
        assert name not in out  # masked: 张** ...
    assert "张**" in out
    out = run("booking", "--department", "derm", "--date", day, "--db", db, "--at", f"{day}T23:00")
    assert "sessions" in out
    assert "m1" in out
    assert "m3" in out
    nope = runner.invoke(cli, ["triage", "--department", "x", "--date", "25/11", "--db", db])
    assert nope.exit_code != 0
    assert "YYYY-MM-DD" in nope.output
