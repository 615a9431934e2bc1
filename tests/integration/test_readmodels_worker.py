"""Projection workers as separate processes on SQLite: killed mid-run, restarted,
and two at once — the tables end equal to the reference fold, each event applied
exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.domain.events.card import CardUsed
from healthcard.domain.usage import UsageStep
from healthcard.readmodels import HANDLED_TOPICS, open_projections, views_path_for
from healthcard.testing.clinic_histories import busy_day, events, reference_tables

PEOPLE = 150


@pytest.fixture(scope="module")
def event_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite event store with a busy morning (written once for the module)."""
    path = tmp_path_factory.mktemp("worker") / "events.sqlite3"
    clock = FakeClock()
    with HealthCardApp(sqlite_env(path), clock=clock) as app:
        busy_day(app, clock, PEOPLE)
    return path


def worker(db: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "healthcard.readmodels.runner", "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def used_up_to(app: HealthCardApp, position: int) -> int:
    """Events at positions <= ``position`` that the read models fold (reference count)."""
    count = 0
    for notification in app.recorder.select_notifications(0, 1_000_000, stop=position):
        if notification.topic not in HANDLED_TOPICS:
            continue
        event = app.mapper.to_domain_event(notification)
        if isinstance(event, CardUsed) and event.step is not UsageStep.DIAGNOSIS:
            continue
        count += 1
    return count


def served_state(db: Path) -> tuple[int, int, int]:
    """(served version, its position, events applied to it), read straight from the
    views file (read-only, so polling it cannot disturb the worker)."""
    views = views_path_for(db)
    if not views.exists():
        return 0, 0, 0
    with closing(sqlite3.connect(f"file:{views}?mode=ro", uri=True, timeout=10)) as conn:
        try:
            row = conn.execute(
                "SELECT m.value, t.notification_id, v.applied FROM views_meta m "
                "JOIN views_versions v ON v.version = m.value "
                "JOIN tracking t ON t.application_name = 'HealthCard@v' || m.value "
                "WHERE m.name = 'current_version'"
            ).fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            return 0, 0, 0
    return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))


def fresh_views(db: Path) -> None:
    views = views_path_for(db)
    for suffix in ("", "-wal", "-shm"):
        Path(str(views) + suffix).unlink(missing_ok=True)


def test_a_worker_killed_mid_run_resumes_with_nothing_applied_twice(event_db: Path) -> None:
    fresh_views(event_db)
    with HealthCardApp(sqlite_env(event_db)) as app:
        head = app.recorder.max_notification_id()
        assert head is not None
        expected, used = reference_tables(app)
        process = worker(event_db, "--batch-size", "1", "--poll", "0.05")
        try:
            deadline = time.monotonic() + 60
            position = 0
            while position < head // 4 and time.monotonic() < deadline:
                time.sleep(0.005)
                position = served_state(event_db)[1]
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == -signal.SIGKILL
        version, killed_at, applied = served_state(event_db)
        print(f"killed at {killed_at} of {head}")
        assert 0 < killed_at < head, "the worker was not killed in the middle of its run"
        assert applied == used_up_to(app, killed_at)  # committed batches, each exactly once

        restarted = worker(event_db, "--once")
        assert restarted.wait(timeout=60) == 0, restarted.stderr.read() if restarted.stderr else ""
        version, position, applied = served_state(event_db)
        assert (version, position) == (1, head)
        assert applied == used
        with open_projections(sqlite_env(event_db)) as projections:
            assert projections.store.dump() == expected


def test_two_workers_at_once_apply_each_event_once(event_db: Path) -> None:
    fresh_views(event_db)
    with HealthCardApp(sqlite_env(event_db)) as app:
        expected, used = reference_tables(app)
        head = app.recorder.max_notification_id()
    both = [worker(event_db, "--once", "--batch-size", str(size)) for size in (3, 5)]
    for process in both:
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    version, position, applied = served_state(event_db)
    assert (version, position, applied) == (1, head, used)
    with open_projections(sqlite_env(event_db)) as projections:
        assert projections.store.dump() == expected


def test_reference_fold_sees_the_whole_log(event_db: Path) -> None:
    """Guard for the tests above: the morning has check-ins, sees and no-shows."""
    with HealthCardApp(sqlite_env(event_db)) as app:
        expected, _ = reference_tables(app)
        statuses = {row[8] for row in expected["triage"]}
        assert statuses == {"waiting", "seen"}
        assert len(expected["appointments"]) == PEOPLE > len(expected["triage"])
        assert sum(1 for _ in events(app)) == app.recorder.max_notification_id()
