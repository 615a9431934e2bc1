"""PostgreSQL: a projection worker in its own process follows the log (subscribe,
LISTEN/NOTIFY) while this process writes, and catches up; a rebuild swaps in; a
worker killed mid-run resumes with nothing applied twice. Against the real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.readmodels import open_projections, rebuild, status
from healthcard.testing.clinic_histories import History, busy_day, reference_tables

TIMEOUT = 60.0


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "healthcard.readmodels.runner", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parent,
    )


def wait_until_caught_up(
    env: dict[str, str], app: HealthCardApp, worker: subprocess.Popen[bytes]
) -> None:
    head = app.recorder.max_notification_id()
    deadline = time.monotonic() + TIMEOUT
    with open_projections(env) as projections:
        while time.monotonic() < deadline:
            version = projections.store.current_version()
            if version is not None and projections.store.position(version) >= (head or 0):
                return
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            time.sleep(0.05)
    raise AssertionError("the worker did not catch up in time")


def stop(worker: subprocess.Popen[bytes]) -> int:
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_worker_process_follows_the_writers_and_catches_up(pg_env: dict[str, str]) -> None:
    env = pg_env
    clock = FakeClock()
    with HealthCardApp(env, clock=clock) as app:
        history = History(app, clock)
        history.preamble()
        worker = start_worker(env)
        try:
            wait_until_caught_up(env, app, worker)
            busy_day(app, clock, 12)  # written while the worker follows
            for op, a, b in [(7, 0, 1), (8, 1, 1), (6, 1, 0), (8, 0, 2), (5, 2, 0), (10, 3, 0)]:
                history.step(op, a, b)
            wait_until_caught_up(env, app, worker)
            expected, used = reference_tables(app)
            with open_projections(env) as projections:
                assert projections.store.dump() == expected
                state = status(projections.app, projections.store)
                assert (state.version, state.lag, state.applied) == (1, 0, used)
        finally:
            assert stop(worker) == 0

        with open_projections(env) as projections:  # and a blue/green rebuild on PostgreSQL
            result = rebuild(projections.app, projections.store, reader_env=projections.reader_env)
            assert (result.version, result.replaced, result.applied) == (2, 1, used)
            assert projections.store.dump() == expected
            assert [v.version for v in projections.store.versions()] == [2]


def test_a_killed_worker_resumes_on_postgres(pg_env: dict[str, str]) -> None:
    env = pg_env
    clock = FakeClock()
    with HealthCardApp(env, clock=clock) as app:
        busy_day(app, clock, 40)
        expected, used = reference_tables(app)
        head = app.recorder.max_notification_id() or 0
        worker = start_worker(env, "--batch-size", "1")
        position = 0
        try:
            with open_projections(env) as projections:
                deadline = time.monotonic() + TIMEOUT
                while position < head // 4 and time.monotonic() < deadline:
                    time.sleep(0.01)
                    version = projections.store.current_version()
                    position = projections.store.position(version) if version else 0
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
        with open_projections(env) as projections:
            killed_at = projections.store.position(1)
            assert 0 < killed_at < head
        again = start_worker(env, "--once")
        assert again.wait(timeout=TIMEOUT) == 0, again.stderr.read() if again.stderr else ""
        with open_projections(env) as projections:
            assert projections.store.dump() == expected
            assert status(projections.app, projections.store).applied == used
