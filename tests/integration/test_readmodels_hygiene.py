"""Rebuild hygiene with real processes and real kills, on SQLite and PostgreSQL.

A rebuild runs in a process of its own (``python -m healthcard.readmodels.rebuild_worker``)
on a log of a busy day, one event per transaction and a pause after each, so that it
is still building when the test looks; another one is SIGKILLed in the middle. Then:
``status`` calls the killed build stale and the running one building, ``gc`` drops
the stale one with its tables (on SQLite the file shrinks), never the live version nor
the running build, and a new rebuild drops what a killed one left by itself. A build
on another host is judged by its heartbeat; a metadata table of the previous release
is read as it is and migrated when opened for writing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.readmodels import Projector, open_projections, rebuild, status, views_path_for
from healthcard.readmodels.builders import Builder, builder_gone, process_start, this_builder
from healthcard.readmodels.hygiene import collect_garbage
from healthcard.readmodels.schema import version_of_table
from healthcard.testing.clinic_histories import busy_day, reference_tables
from healthcard.testing.postgres import PostgresServer

PEOPLE = 50
TIMEOUT = 15.0
SLOW = ("--batch-size", "1", "--transaction-events", "1", "--readers", "0")


class Log:
    """A busy day's log on one backend, its read models caught up (version 1), and
    ways to look at the views' database without the view store's code."""

    def __init__(self, env: dict[str, str], server: PostgresServer | None) -> None:
        self.env = env
        self.server = server
        clock = FakeClock()
        with HealthCardApp(env, clock=clock) as app:
            busy_day(app, clock, PEOPLE)
            self.head = app.recorder.max_notification_id() or 0
            self.expected, _ = reference_tables(app)
        with open_projections(env) as projections:
            Projector(projections.app, projections.store).catch_up()

    @property
    def sqlite(self) -> Path | None:
        """The views file (None on PostgreSQL)."""
        if self.server is not None:
            return None
        return views_path_for(self.env["SQLITE_DBNAME"])

    def table_names(self) -> set[str]:
        if self.server is None:
            with closing(sqlite3.connect(self.sqlite or "")) as conn:
                rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                return {row[0] for row in rows}
        with self.server.connect() as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (self.env["POSTGRES_SCHEMA"],),
            ).fetchall()
            return {row[0] for row in rows}

    def versions_with_tables(self) -> set[int]:
        return {v for name in self.table_names() if (v := version_of_table(name)) is not None}

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        """One statement on the views' database (``?`` placeholders)."""
        if self.server is None:
            with closing(sqlite3.connect(self.sqlite or "")) as conn, conn:
                conn.execute(sql, params)
            return
        schema = self.env["POSTGRES_SCHEMA"]
        with self.server.connect() as conn:
            conn.execute(f"SET search_path TO {schema}")
            conn.execute(sql.replace("?", "%s"), params)

    def start_build(self, *, pause: float) -> subprocess.Popen[bytes]:
        """A rebuild in a process of its own, one event per transaction."""
        where = ["--db", self.env["SQLITE_DBNAME"]] if self.server is None else []
        return subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
            [
                sys.executable,
                "-m",
                "healthcard.readmodels.rebuild_worker",
                *where,
                *SLOW,
                "--pause",
                str(pause),
            ],
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def states(self, **options: float) -> dict[int, str]:
        with open_projections(self.env) as projections:
            state = status(projections.app, projections.store, **options)
            return {v.version: v.state for v in state.versions}


@pytest.fixture(params=["sqlite", "postgres"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Log:
    if request.param == "sqlite":
        return Log(sqlite_env(tmp_path / "events.sqlite3"), None)
    return Log(request.getfixturevalue("pg_env"), request.getfixturevalue("pg_server"))


@pytest.fixture
def builds() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Build processes a test starts; any still running at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)


def wait_for(what: str, check: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"the build process ended before {what}: {err[-2000:]}")
        time.sleep(0.02)
    raise AssertionError(f"not in time: {what}")


def building_at(log: Log, version: int, position: int) -> Callable[[], bool]:
    """Whether ``version`` exists and has folded the log up to at least ``position``."""

    def check() -> bool:
        with open_projections(log.env) as projections:
            return any(
                v.version == version and v.position >= position
                for v in projections.store.versions()
            )

    return check


def sigkill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=TIMEOUT) == -signal.SIGKILL


def test_status_tells_a_killed_build_from_a_running_one_and_gc_drops_only_the_dead(
    log: Log, builds: list[subprocess.Popen[bytes]]
) -> None:
    running = log.start_build(pause=0.1)  # about 20 s if left alone
    builds.append(running)
    wait_for("version 2 builds", building_at(log, 2, 1), running)
    killed = log.start_build(pause=0.05)
    builds.append(killed)
    wait_for("version 3 builds", building_at(log, 3, 1), killed)
    sigkill(killed)

    assert log.states() == {1: "live", 2: "building", 3: "stale"}
    assert running.poll() is None, "the build called building was still running"
    with open_projections(log.env) as projections:
        result = collect_garbage(projections.store)
    assert [(v.version, v.state) for v in result.dropped] == [(3, "stale")]
    assert [(v.version, v.state) for v in result.kept] == [(1, "live"), (2, "building")]
    assert log.versions_with_tables() == {1, 2}, "the stale version's tables are gone"
    assert log.states() == {1: "live", 2: "building"}
    assert running.poll() is None, "gc ran beside a running build"

    sigkill(running)  # and a new rebuild cleans up after it by itself
    assert log.states() == {1: "live", 2: "stale"}
    with open_projections(log.env) as projections:
        result_of_rebuild = rebuild(
            projections.app, projections.store, reader_env=projections.reader_env
        )
        assert result_of_rebuild.cleaned == (2,)
        assert (result_of_rebuild.version, result_of_rebuild.replaced) == (4, 1)
        assert projections.store.dump() == log.expected
    assert log.states() == {4: "live"}
    assert log.versions_with_tables() == {4}


def test_gc_after_a_killed_rebuild_leaves_no_stale_version_and_gives_the_space_back(
    log: Log, builds: list[subprocess.Popen[bytes]]
) -> None:
    killed = log.start_build(pause=0.005)
    builds.append(killed)
    wait_for("half the log folded", building_at(log, 2, log.head // 2), killed)
    sigkill(killed)
    assert log.states() == {1: "live", 2: "stale"}

    file_before = 0
    if log.sqlite is not None:  # everything in the file itself first, for a fair measure
        with closing(sqlite3.connect(log.sqlite)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        file_before = log.sqlite.stat().st_size
    with open_projections(log.env) as projections:
        result = collect_garbage(projections.store)
        assert projections.store.dump() == log.expected  # the live version untouched
    assert [(v.version, v.state) for v in result.dropped] == [(2, "stale")]
    assert {version_of_table(name) for name in result.tables} == {2}
    assert log.versions_with_tables() == {1}
    assert log.states() == {1: "live"}
    assert result.bytes_after < result.bytes_before
    if log.sqlite is not None:
        assert log.sqlite.stat().st_size < file_before, "VACUUM shrank the views file"
        with closing(sqlite3.connect(log.sqlite)) as conn:
            assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_a_build_on_another_host_is_judged_by_its_heartbeat(
    log: Log, builds: list[subprocess.Popen[bytes]]
) -> None:
    build = log.start_build(pause=0.05)
    builds.append(build)
    wait_for("version 2 builds", building_at(log, 2, 1), build)
    # As if its builder ran elsewhere: only its heartbeat can tell whether it lives.
    log.execute("UPDATE views_versions SET builder_host = ? WHERE version = ?", ("far", 2))
    assert log.states(stale_after=1.0) == {1: "live", 2: "building"}
    time.sleep(1.5)  # longer than stale_after: only fresh heartbeats keep it building
    assert log.states(stale_after=1.0) == {1: "live", 2: "building"}
    assert build.poll() is None

    sigkill(build)
    assert log.states() == {1: "live", 2: "building"}, "120 s have not passed"
    deadline = time.monotonic() + TIMEOUT
    while log.states(stale_after=1.0)[2] != "stale":
        assert time.monotonic() < deadline, "the heartbeat of a dead build aged"
        time.sleep(0.1)
    with open_projections(log.env) as projections:
        result = collect_garbage(projections.store, stale_after=1.0)
    assert [(v.version, v.state) for v in result.dropped] == [(2, "stale")]
    assert log.versions_with_tables() == {1}


def test_versions_of_the_previous_release_are_read_as_they_are_and_migrated_for_writing(
    log: Log,
) -> None:
    with open_projections(log.env) as projections:  # a build that recorded no builder
        projections.store.create_version(live=False)
    long_ago = "2025-01-01T00:00:00+00:00"
    log.execute("UPDATE views_versions SET created_at = ? WHERE version = ?", (long_ago, 2))
    for column in ("builder_host", "builder_pid", "builder_start", "heartbeat_at"):
        log.execute(f"ALTER TABLE views_versions DROP COLUMN {column}", ())
    old_columns = {"version", "state", "created_at", "applied"}
    assert columns_of_versions(log) == old_columns  # the table as 0.2 made it

    with open_projections(log.env, create=False) as projections:  # no migration here
        versions = status(projections.app, projections.store).versions
        assert [(v.version, v.state) for v in versions] == [(1, "live"), (2, "stale")]
        assert [v.builder for v in versions] == [None, None]
    assert columns_of_versions(log) == old_columns
    with open_projections(log.env) as projections:
        result = collect_garbage(projections.store)
    assert [(v.version, v.state) for v in result.dropped] == [(2, "stale")]
    assert columns_of_versions(log) == old_columns | {
        "builder_host",
        "builder_pid",
        "builder_start",
        "heartbeat_at",
    }
    assert log.versions_with_tables() == {1}


def columns_of_versions(log: Log) -> set[str]:
    if log.sqlite is not None:
        with closing(sqlite3.connect(log.sqlite)) as conn:
            return {row[1] for row in conn.execute("PRAGMA table_info(views_versions)")}
    assert log.server is not None
    with log.server.connect() as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'views_versions'",
            (log.env["POSTGRES_SCHEMA"],),
        ).fetchall()
        return {row[0] for row in rows}


def test_a_builder_on_this_host_is_gone_when_its_process_is() -> None:
    me = this_builder()
    assert not builder_gone(me, None, 0.0), "a live process, whatever its heartbeat"
    impostor = Builder(me.host, me.pid, f"{me.machine}/1")  # the pid reused by another
    assert builder_gone(impostor, 0.0, 120.0)
    child = subprocess.Popen(  # waits for its stdin to close
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    alive = process_start(child.pid)
    assert alive is not None
    assert not builder_gone(Builder(me.host, child.pid, alive), None, 0.0)
    assert child.stdin is not None
    child.stdin.close()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    try:
        assert process_start(child.pid) is None
        assert builder_gone(Builder(me.host, child.pid, alive), 0.0, 120.0)
    finally:
        child.wait()
