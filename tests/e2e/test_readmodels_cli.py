"""The read models' CLI (``projections status|catch-up|rebuild|gc``, ``triage``,
``booking``) and ``catch_up_all`` on a SQLite event store: answers, empty answers,
80-column tables, ``--json``, files left as they were, and a killed rebuild cleared."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.cli import app as cli
from healthcard.readmodels import catch_up_all, open_projections, views_path_for
from healthcard.testing.clinic_histories import NAMES, busy_day

runner = CliRunner()
DAY = FakeClock().now.date().isoformat()
SLOW_BUILD = ("--batch-size", "1", "--transaction-events", "1", "--readers", "0", "--pause", "0.05")
"""A rebuild of one event per transaction with a pause after each: still building
when the test looks."""
READERS = [
    ["projections", "status"],
    ["booking", "--department", "cardio", "--date", DAY],
    ["triage", "--department", "cardio", "--date", DAY],
    ["booking", "--department", "cardio", "--date", DAY, "--no-catch-up"],
    ["triage", "--department", "cardio", "--date", DAY, "--no-catch-up"],
]


@pytest.fixture
def event_db(tmp_path: Path) -> Path:
    db = tmp_path / "events.sqlite3"
    clock = FakeClock()
    with HealthCardApp(sqlite_env(db), clock=clock) as app:
        busy_day(app, clock, 20)
    return db


def run(*args: str, columns: int | None = None) -> str:
    env = {} if columns is None else {"COLUMNS": str(columns)}
    result = runner.invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def files(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` with a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


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
    out = run("triage", "--department", "cardio", "--date", DAY, "--db", db, "--at", f"{DAY}T23:00")
    assert "check-in queue" in out
    assert "seen" in out
    assert "waiting" in out
    assert "10 expected" in out  # busy_day: 20 people over two cardio sessions
    for name in NAMES:
        assert name not in out  # masked: 张** ...
    assert "张**" in out
    out = run("booking", "--department", "derm", "--date", DAY, "--db", db, "--at", f"{DAY}T23:00")
    assert "sessions" in out
    assert "m1" in out
    assert "m3" in out
    nope = runner.invoke(cli, ["triage", "--department", "x", "--date", "25/11", "--db", db])
    assert nope.exit_code != 0
    assert "YYYY-MM-DD" in nope.output


@pytest.mark.parametrize("command", ["booking", "triage"])
def test_a_department_without_sessions_that_day_is_said_in_one_line_with_those_that_have(
    event_db: Path, command: str
) -> None:
    db = str(event_db)
    out = run(command, "--department", "cardiology", "--date", DAY, "--db", db)
    assert out == (
        f"cardiology {DAY}: no sessions; departments with sessions that day: cardio, derm\n"
    )
    out = run(command, "--department", "cardio", "--date", "2030-01-01", "--db", db)
    assert out == "cardio 2030-01-01: no sessions, nor for any other department that day\n"
    answer = json.loads(
        run(command, "--department", "cardiology", "--date", DAY, "--db", db, "--json")
    )
    assert answer["departments_that_day"] == ["cardio", "derm"]
    assert answer.get("sessions", answer.get("queue")) == []


def test_every_table_fits_80_columns_and_nothing_is_cut(event_db: Path) -> None:
    db = str(event_db)
    at = f"{DAY}T23:00"
    run("projections", "rebuild", "--db", db, "--keep-old")  # an old version to show
    outputs = [
        run("triage", "--department", "cardio", "--date", DAY, "--db", db, "--at", at, columns=80),
        run("booking", "--department", "derm", "--date", DAY, "--db", db, "--at", at, columns=80),
        run("projections", "status", "--db", db, columns=80),
    ]
    for out in outputs:
        assert "…" not in out, out
        assert max(cell_len(line) for line in out.splitlines()) <= 80, out
    triage_out = outputs[0]
    assert "510***********" in triage_out  # a whole masked document, not folded
    assert "id_card" in triage_out
    assert "waiting" in triage_out


def test_booking_and_triage_answer_in_json(event_db: Path) -> None:
    db = str(event_db)
    at = f"{DAY}T23:00"
    booking = json.loads(
        run("booking", "--department", "derm", "--date", DAY, "--db", db, "--at", at, "--json")
    )
    assert [s["doctor"] for s in booking["sessions"]] == ["m1", "m3"]
    first = booking["sessions"][0]
    assert first["booked"] == len(first["appointments"]) == 5
    assert all(a["masked_name"].endswith("*") for a in first["appointments"])
    triage = json.loads(
        run("triage", "--department", "cardio", "--date", DAY, "--db", db, "--at", at, "--json")
    )
    assert len(triage["expected"]) == 10
    assert [e["queue_no"] for e in triage["queue"]] == sorted(
        e["queue_no"] for e in triage["queue"]
    )
    assert {e["status"] for e in triage["queue"]} == {"waiting", "seen"}
    for name in NAMES:
        assert name not in json.dumps(booking, ensure_ascii=False)
        assert name not in json.dumps(triage, ensure_ascii=False)


@pytest.mark.parametrize("argv", [*READERS, ["projections", "gc"]], ids=" ".join)
@pytest.mark.parametrize(
    "content", [None, b"", b"patient list, not a database\n"], ids=["missing", "empty", "text"]
)
def test_a_file_that_is_no_log_is_named_in_one_line_and_left_as_it_was(
    tmp_path: Path, argv: list[str], content: bytes | None
) -> None:
    db = tmp_path / "events.sqlite3"
    if content is not None:
        db.write_bytes(content)
    before = files(tmp_path)
    result = runner.invoke(cli, [*argv, "--db", str(db)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert str(db) in lines[0]
    assert result.stdout == ""
    assert files(tmp_path) == before, "nothing created, nothing changed"


def test_reading_leaves_the_log_and_its_views_as_they_were(event_db: Path) -> None:
    db = str(event_db)
    folder = event_db.parent
    before = files(folder)
    run("projections", "status", "--db", db)  # no views yet: none made
    run("projections", "status", "--db", db, "--json")
    assert files(folder) == before
    run("booking", "--department", "cardio", "--date", DAY, "--db", db)  # catches up
    after_catch_up = files(folder)
    assert after_catch_up[event_db.name] == before[event_db.name], "the log is only read"
    assert views_path_for(event_db).name in after_catch_up
    for argv in (["projections", "status"], *READERS[3:]):
        run(*argv, "--db", db)
        assert files(folder) == after_catch_up, argv


def test_a_killed_rebuild_shows_stale_and_gc_drops_it(event_db: Path) -> None:
    db = str(event_db)
    run("projections", "catch-up", "--db", db)
    build = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "healthcard.readmodels.rebuild_worker", "--db", db, *SLOW_BUILD],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with open_projections(sqlite_env(db)) as projections:
                if any(v.version == 2 and v.position > 0 for v in projections.store.versions()):
                    break
            assert time.monotonic() < deadline, "version 2 did not start building"
            assert build.poll() is None
            time.sleep(0.02)
        state = json.loads(run("projections", "status", "--db", db, "--json"))
        assert [v["state"] for v in state["versions"]] == ["live", "building"]
        assert state["versions"][1]["builder"]["pid"] == build.pid
        os.kill(build.pid, signal.SIGKILL)
        build.wait(timeout=15)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait(timeout=15)
    state = json.loads(run("projections", "status", "--db", db, "--json"))
    assert [(v["version"], v["state"]) for v in state["versions"]] == [(1, "live"), (2, "stale")]
    text = run("projections", "status", "--db", db, columns=80)
    assert f"version 2 stale: pid {build.pid} on" in text
    assert "projections gc" in text
    collected = json.loads(run("projections", "gc", "--db", db, "--json"))
    assert [(v["version"], v["state"]) for v in collected["dropped"]] == [(2, "stale")]
    assert collected["bytes_after"] < collected["bytes_before"]
    assert run("projections", "gc", "--db", db).startswith("nothing to drop\n")
    state = json.loads(run("projections", "status", "--db", db, "--json"))
    assert [(v["version"], v["state"]) for v in state["versions"]] == [(1, "live")]


def test_the_readme_booking_example_finds_the_demo_s_sessions(tmp_path: Path) -> None:
    """Tried as a new user would: the department and day the README names after the
    demo are ones the demo writes."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"after the demo: `--department (\S+) --date (\S+)`", readme)
    assert example is not None, "the README names a department and a day to try"
    department, day = example.groups()
    db = str(tmp_path / "demo.sqlite3")
    run("demo", "--db", db, "--cards", "40")
    for command in ("booking", "triage"):
        out = run(command, "--department", department, "--date", day, "--db", db)
        assert "no sessions" not in out
        assert department in out
