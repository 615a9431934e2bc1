"""Blue/green rebuild: while a new version is built beside the served one, reads keep
answering — always the complete answer, never a half-built table — and after the
swap the new version serves the same answers."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels import Projector, open_projections, rebuild, views_path_for
from healthcard.readmodels.reader_process import ReaderFailed
from healthcard.readmodels.store_sql import SqlViewStore
from healthcard.testing.clinic_histories import busy_day, reference_tables

PEOPLE = 80


def answers(store: SqlViewStore, now: datetime) -> tuple[object, ...]:
    """What an app asks the read models about yesterday's clinics, as comparable values."""
    day = now.date() - timedelta(days=1)
    triage = store.triage_day("cardio", day, now)
    sessions = store.sessions("cardio", day) + store.sessions("derm", day)
    lists = [store.session_appointments(s.session_id, now.date()) for s in sessions]
    return (
        tuple((e.queue_no, e.card_id, e.status, e.masked_name) for e in triage.queue),
        tuple(a.appointment_id for a in triage.no_shows),
        tuple((s.session_id, s.booked, s.remaining) for s in sessions),
        tuple(tuple((a.appointment_id, a.status) for a in rows) for rows in lists),
    )


def test_reads_keep_answering_during_a_rebuild_and_the_new_version_serves_after(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.sqlite3"
    clock = FakeClock()
    with HealthCardApp(sqlite_env(db), clock=clock) as app:
        busy_day(app, clock, PEOPLE)
        expected_tables, _ = reference_tables(app)
    next_morning = datetime.combine(clock.now.date() + timedelta(days=1), time(8), CHINA_TZ)

    with open_projections(sqlite_env(db)) as live:
        Projector(live.app, live.store).catch_up()
        before = answers(live.store, next_morning)
        assert before[0], "the morning must have a queue"
        assert before[1], "and no-shows"

    seen: list[tuple[int | None, object]] = []
    failures: list[BaseException] = []
    rebuilding = threading.Event()
    done = threading.Event()

    def reader() -> None:
        with open_projections(sqlite_env(db)) as projections:
            store = projections.store
            rebuilding.wait(timeout=30)
            while not done.is_set():
                try:
                    seen.append((store.current_version(), answers(store, next_morning)))
                except BaseException as error:  # reported below
                    failures.append(error)
                    return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with open_projections(sqlite_env(db)) as projections:
            rebuilding.set()
            result = rebuild(
                projections.app,
                projections.store,
                batch_size=7,
                transaction_events=20,
                reader_env=projections.reader_env,
            )
        for _ in range(1000):  # let the reader see the new version too
            if (seen and seen[-1][0] == 2) or failures:
                break
            threading.Event().wait(0.01)
    finally:
        done.set()
        thread.join(timeout=60)

    assert not failures, failures
    assert (result.version, result.replaced) == (2, 1)
    versions = [version for version, _ in seen]
    assert versions[0] == 1, "reads ran before the swap"
    assert versions[-1] == 2, "and after it"
    assert versions.count(1) >= 2, "reads ran while the new version was being built"
    assert versions == sorted(versions)
    assert all(answer == before for _, answer in seen), "a read saw an incomplete version"

    with open_projections(sqlite_env(db)) as projections:
        assert projections.store.current_version() == 2
        assert answers(projections.store, next_morning) == before
        assert projections.store.dump() == expected_tables
        assert [v.version for v in projections.store.versions()] == [2]  # v1 dropped
    assert views_path_for(db).exists()


def test_a_failed_rebuild_leaves_the_served_version_serving(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite3"
    clock = FakeClock()
    with HealthCardApp(sqlite_env(db), clock=clock) as app:
        busy_day(app, clock, 10)
    with open_projections(sqlite_env(db)) as projections:
        Projector(projections.app, projections.store).catch_up()
        before = projections.store.dump()
        broken = {**(projections.reader_env or {}), "SQLITE_DBNAME": str(tmp_path / "no" / "x")}
        with pytest.raises(ReaderFailed):
            rebuild(projections.app, projections.store, reader_env=broken)
        assert projections.store.current_version() == 1
        assert [v.version for v in projections.store.versions()] == [1]  # v2 dropped
        assert projections.store.dump() == before
