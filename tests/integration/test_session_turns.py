"""Turns on a session across processes (``adapters.pg_turns``), on a real server.

A turn only spares conflicts: every failure to get one goes on without it, bounded in
time, and a process killed while holding one gives it back at once (the server drops
a dead connection's locks). Races of processes booking one session's last places, now
taking turns, are in ``test_concurrency_postgres.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest

from healthcard.adapters.pg_turns import TURNS_CLASS, PostgresTurns
from healthcard.adapters.schema_lock import postgres_conninfo
from healthcard.testing.postgres import PostgresServer

STREAM = uuid4()
KEY = int.from_bytes(STREAM.bytes[:4], "big", signed=True)


@pytest.fixture
def turns(pg_env: dict[str, str]) -> Iterator[PostgresTurns]:
    made = PostgresTurns(postgres_conninfo(pg_env))
    try:
        yield made
    finally:
        made.close()


def test_a_turn_is_held_then_given_back(turns: PostgresTurns, pg_server: PostgresServer) -> None:
    with turns.turn(STREAM) as held:
        assert held
        with pg_server.connect() as other:
            granted = other.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (TURNS_CLASS, KEY)
            ).fetchone()
            assert granted == (False,)
    with pg_server.connect() as other:
        row = other.execute("SELECT pg_try_advisory_lock(%s, %s)", (TURNS_CLASS, KEY)).fetchone()
        assert row == (True,)


def test_a_turn_held_elsewhere_too_long_is_gone_without(
    turns: PostgresTurns, pg_server: PostgresServer
) -> None:
    with pg_server.connect() as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (TURNS_CLASS, KEY))
        started = time.monotonic()
        with turns.turn(STREAM) as held:
            waited = time.monotonic() - started
        assert not held
        assert 1.5 < waited < 5  # LOCK_WAIT is 2 s


def test_a_killed_process_gives_its_turn_back(turns: PostgresTurns, pg_env: dict[str, str]) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time, uuid
        from healthcard.adapters.pg_turns import PostgresTurns
        turns = PostgresTurns({postgres_conninfo(pg_env)!r})
        with turns.turn(uuid.UUID({str(STREAM)!r})) as held:
            print("held" if held else "without", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen(  # noqa: S603 (our own script)
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        child.kill()
        child.wait(timeout=10)
        started = time.monotonic()
        with turns.turn(STREAM) as held:
            assert held
        assert time.monotonic() - started < 1.5  # not LOCK_WAIT: the lock was dropped
    finally:
        if child.poll() is None:
            child.kill()


def test_without_a_server_a_turn_goes_on_without_at_once() -> None:
    unreachable = {"host": "127.0.0.1", "port": 1, "dbname": "none", "user": "none"}
    turns = PostgresTurns({**unreachable, "connect_timeout": 1})
    try:
        started = time.monotonic()
        with turns.turn(STREAM) as held:
            assert not held
        assert time.monotonic() - started < 3
    finally:
        turns.close()
