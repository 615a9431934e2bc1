"""Writers and a follower through two outages of their own PostgreSQL database.

Two writer processes run the morning's flow (register, complete identity, bind,
book), and a projection worker (``python -m healthcard.readmodels.runner``) follows
the log, while their database refuses connections (open ones terminated) twice for
two seconds. The worker waits and resumes: its tables end equal to a plain fold of
the log. Every error they see is typed (``store_unavailable`` and the refusals of the
rules), every card they were told about is in the log, the session's rules held, and
they are back at work within seconds of the server's return, with no restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.pg_pools import SteadyAttempt
from healthcard.domain.errors import StoreUnavailable
from healthcard.readmodels import open_projections, status
from healthcard.testing import FakeClock
from healthcard.testing.clinic_histories import reference_tables
from healthcard.testing.outage import OK, Writers, acknowledged_cards, untyped
from healthcard.testing.postgres import PostgresServer
from healthcard.testing.world import Driver

CATCH_UP_WITHIN = 30.0
OUTAGE_SECONDS = 2.0
BACK_WITHIN = 5.0
FAIL_WITHIN = 5.0
"""A call during an outage ends with ``store_unavailable`` within this: eventsourcing
makes 10 attempts at each read, 0.2 s apart, and once the pool has failed to connect
each waits 0.05 s for a connection instead of 1 s (measured about 2 s; 6-12 s when
every attempt waited the whole second)."""


@pytest.mark.postgres
def test_writers_come_back_by_themselves_and_lose_nothing(pg_server: PostgresServer) -> None:
    with pg_server.database() as name:
        env = pg_server.env("", dbname=name)
        setup = HealthCardApp(env, clock=FakeClock())
        session_id = Driver(setup).publish(capacity=10_000)
        setup.close()
        follower = subprocess.Popen(
            [sys.executable, "-m", "healthcard.readmodels.runner"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        writers = Writers(env, session_id, count=2)
        writers.start()
        time.sleep(1.0)
        returns = []
        for _ in range(2):
            pg_server.refuse_connections(name)
            time.sleep(OUTAGE_SECONDS)
            pg_server.allow_connections(name)
            returns.append(time.monotonic())
            time.sleep(3.0)
        reports = writers.stop()

        assert untyped(reports) == {}
        refused = {r.outcome for r in reports if r.outcome != OK}
        assert "store_unavailable" in refused  # the guard: the outages were felt
        for back in returns:
            for writer in (0, 1):
                first = min(
                    (
                        r.at
                        for r in reports
                        if r.writer == writer and r.outcome == OK and r.at > back
                    ),
                    default=None,
                )
                assert first is not None
                assert first - back < BACK_WITHIN

        try:
            caught_up_and_equal(env, follower)
        finally:
            follower.terminate()
            _, errors = follower.communicate(timeout=30)
        assert follower.returncode == 0, errors.decode()[-2000:]
        assert b"Traceback" not in errors

        fresh = HealthCardApp(env, clock=FakeClock())
        try:
            cards = acknowledged_cards(reports)
            assert len(cards) > 10
            for card in cards:
                assert fresh.card(card).id == card  # every acknowledged card is stored
            booked = [a.card_id for a in fresh.session(session_id).appointments.values()]
            assert len(booked) == len(set(booked))  # one place per card
            told = {r.card_id for r in reports if r.step == "book" and r.outcome == OK}
            assert told <= {str(c) for c in booked}
        finally:
            fresh.close()


def caught_up_and_equal(env: dict[str, str], follower: subprocess.Popen[bytes]) -> None:
    """Wait until the follower has the whole log, then compare its tables with a plain
    fold of the log: each event applied once, none skipped, through both outages."""
    deadline = time.monotonic() + CATCH_UP_WITHIN
    with open_projections(env) as projections:
        expected, used = reference_tables(projections.app)
        while True:
            assert follower.poll() is None, "the follower exited"
            state = status(projections.app, projections.store)
            if state.version is not None and state.lag == 0 and state.applied == used:
                break
            assert time.monotonic() < deadline, f"the follower is at {state.to_json()}"
            time.sleep(0.2)
        assert projections.store.dump() == expected


@pytest.mark.postgres
def test_the_event_stores_pool_reconnects_at_a_steady_pace(pg_env: dict[str, str]) -> None:
    """The pool of eventsourcing's PostgreSQL datastore takes the steady reconnection
    schedule (a psycopg_pool release that renames ``_add_connection`` fails here)."""
    app = HealthCardApp(pg_env, clock=FakeClock())
    try:
        pool = app.recorder.datastore.pool  # type: ignore[attr-defined]
        assert getattr(pool, "steady", False)
        assert "_add_connection" in type(pool).__dict__
        assert SteadyAttempt.DELAY_BACKOFF == 1.0
    finally:
        app.close()


@pytest.mark.postgres
def test_during_an_outage_queries_and_commands_fail_typed_and_soon(
    pg_server: PostgresServer,
) -> None:
    with pg_server.database() as name:
        env = pg_server.env("", dbname=name)
        app = HealthCardApp(env, clock=FakeClock())
        try:
            driver = Driver(app)
            card = driver.register()
            app.repository.cache = None  # a query must reach the database
            pg_server.refuse_connections(name)
            try:
                for call in (lambda: app.card(card), driver.register):
                    started = time.monotonic()
                    with pytest.raises(StoreUnavailable):
                        call()
                    assert time.monotonic() - started < FAIL_WITHIN
            finally:
                pg_server.allow_connections(name)
            deadline = time.monotonic() + BACK_WITHIN
            while True:
                try:
                    assert app.card(card).id == card
                    break
                except StoreUnavailable:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
        finally:
            app.close()
