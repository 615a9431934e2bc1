"""Set rules under real concurrency: session capacity and the family cap.

Each competitor has its own ``HealthCardApp`` on the same store, as separate app
processes would: threads on PostgreSQL, spawned processes on PostgreSQL, and threads
sharing one SQLite file. A ``Barrier`` releases them together. The rules hold because
the session (or account) is saved with optimistic concurrency and a conflicting
command is retried from a fresh load; these tests would fail if a stale count were
ever saved (overbooking) or if retries ran out (``concurrency_conflict``).

Why the retry budget (8 attempts by default) always suffices here: a command only
conflicts when another command committed in between, and at most ``places left``
commands can commit, so no competitor needs more than ``places left + 1`` attempts.
The races keep ``places left`` (or the cap) at most 3.

SQLite: every app opens its own connections to the file (WAL mode, 5 s busy
timeout); the write transaction's first statement is the insert, so writers queue on
the lock instead of failing with "database is locked". Repeated runs (50 in a row)
were stable, so the SQLite race is kept.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CompleteIdentity,
    MakeAppointment,
    PublishSession,
    RegisterCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clinic_values import Period
from healthcard.domain.identity import IdentityDocument, Sex
from healthcard.domain.relation import Relation
from healthcard.testing import world
from healthcard.testing.races import race_processes
from healthcard.testing.races import race_threads as race

AUDIT = Audit(actor="staff-001", channel=Channel.APP, institution="H510100001")
BORN = date(1985, 7, 1)
START: datetime = FakeClock().now  # the library's test day, 2026-11-25 08:00 in China
APPOINTMENT_MADE = "healthcard.session.AppointmentMade"


def resident_id(seq: int) -> IdentityDocument:
    return world.resident_id(BORN, seq)


def formal_cards(app: HealthCardApp, count: int) -> list[UUID]:
    cards = []
    for seq in range(count):
        card_id = app.register(RegisterCard(audit=AUDIT, name="张伟"))
        app.complete_identity(
            CompleteIdentity(
                audit=AUDIT,
                card_id=card_id,
                document=resident_id(seq),
                name="张伟",
                sex=Sex.MALE if seq % 2 else Sex.FEMALE,
                birth_date=BORN,
            )
        )
        cards.append(card_id)
    return cards


def publish(app: HealthCardApp, capacity: int) -> UUID:
    return app.publish_session(
        PublishSession(
            audit=AUDIT,
            department="obstetrics",
            doctor="dr-0007",
            day=START.date(),
            period=Period.AFTERNOON,
            capacity=capacity,
        )
    )


def book(app: HealthCardApp, session_id: UUID, card_id: UUID) -> None:
    app.make_appointment(MakeAppointment(audit=AUDIT, session_id=session_id, card_id=card_id))


def open_apps(env: dict[str, str], count: int, **kwargs: Any) -> list[HealthCardApp]:
    # Opened one after another: creating the tables concurrently is not what is tested.
    return [HealthCardApp(env, clock=FakeClock(START), **kwargs) for _ in range(count)]


def close_all(apps: list[HealthCardApp]) -> None:
    for app in apps:
        app.close()


@pytest.fixture
def pg(pg_env: dict[str, str]) -> dict[str, str]:
    return pg_env


def assert_capacity_held(
    env: dict[str, str], session_id: UUID, capacity: int, expected_cards: set[UUID]
) -> None:
    """Check from a freshly opened app and from the log itself."""
    fresh = HealthCardApp(env, clock=FakeClock(START))
    try:
        session = fresh.session(session_id)
        assert session.booked == capacity
        assert len(session.appointments) == capacity
        assert set(session.active_by_card) == expected_cards
        made = fresh.recorder.select_notifications(
            start=None, limit=10_000, topics=[APPOINTMENT_MADE]
        )
        assert len(made) == capacity
        assert {n.originator_id for n in made} == {session_id}
        assert sorted(n.originator_version for n in made) == list(range(2, capacity + 2))
    finally:
        fresh.close()


def booking_race_on(env: dict[str, str], competitors: int, capacity: int, prebooked: int) -> None:
    setup = HealthCardApp(env, clock=FakeClock(START))
    try:
        cards = formal_cards(setup, prebooked + competitors)
        session_id = publish(setup, capacity)
        for card in cards[:prebooked]:
            book(setup, session_id, card)
    finally:
        setup.close()
    contenders = cards[prebooked:]
    apps = open_apps(env, competitors)
    try:
        results = race(apps, lambda app, i: book(app, session_id, contenders[i]))
    finally:
        close_all(apps)
    places_left = capacity - prebooked
    assert Counter(results) == {"ok": places_left, "session_full": competitors - places_left}
    winners = {card for card, result in zip(contenders, results, strict=True) if result == "ok"}
    assert_capacity_held(env, session_id, capacity, set(cards[:prebooked]) | winners)


# --------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_threads_booking_the_last_places_never_overbook(pg: dict[str, str]) -> None:
    booking_race_on(pg, competitors=8, capacity=6, prebooked=3)


@pytest.mark.postgres
def test_threads_booking_from_an_empty_session(pg: dict[str, str]) -> None:
    booking_race_on(pg, competitors=6, capacity=2, prebooked=0)


@pytest.mark.postgres
def test_threads_binding_to_one_account_never_exceed_the_cap(pg: dict[str, str]) -> None:
    cap, competitors = 3, 7
    phone = AccountRef(kind="phone", identifier="13912345678")
    setup = HealthCardApp(pg, clock=FakeClock(START))
    try:
        cards = [setup.register(RegisterCard(audit=AUDIT, name="张伟")) for _ in range(competitors)]
    finally:
        setup.close()
    config = HealthCardConfig(family_cap=cap)
    apps = open_apps(pg, competitors, config=config)
    try:
        # The account does not exist yet: the first binds also race to open it.
        results = race(
            apps,
            lambda app, i: app.bind(
                BindCard(audit=AUDIT, card_id=cards[i], account=phone, relation=Relation.SON)
            ),
        )
    finally:
        close_all(apps)
    assert Counter(results) == {"ok": cap, "family_cap_reached": competitors - cap}
    winners = {card for card, result in zip(cards, results, strict=True) if result == "ok"}
    fresh = HealthCardApp(pg, clock=FakeClock(START), config=config)
    try:
        assert set(fresh.account(phone).cards) == winners
        for card in cards:
            assert bool(fresh.card(card).accounts) == (card in winners)
        added = fresh.recorder.select_notifications(
            start=None, limit=10_000, topics=["healthcard.account.CardAdded"]
        )
        bound = fresh.recorder.select_notifications(
            start=None, limit=10_000, topics=["healthcard.card.Bound"]
        )
        opened = fresh.recorder.select_notifications(
            start=None, limit=10_000, topics=["healthcard.account.Opened"]
        )
        assert (len(added), len(bound), len(opened)) == (cap, cap, 1)
    finally:
        fresh.close()


@pytest.mark.postgres
def test_processes_booking_the_last_places_never_overbook(pg: dict[str, str]) -> None:
    competitors, capacity, prebooked = 4, 4, 2
    setup = HealthCardApp(pg, clock=FakeClock(START))
    try:
        cards = formal_cards(setup, prebooked + competitors)
        session_id = publish(setup, capacity)
        for card in cards[:prebooked]:
            book(setup, session_id, card)
    finally:
        setup.close()
    contenders = cards[prebooked:]
    # The tables exist (the setup app made them). App processes starting together must
    # not all run eventsourcing's CREATE statements: on PostgreSQL they collide with
    # "tuple concurrently updated". Deploy like this: create tables once, start the
    # app processes with CREATE_TABLE=false.
    worker_env = {**pg, "CREATE_TABLE": "false"}
    calls = [
        ("make_appointment", MakeAppointment(audit=AUDIT, session_id=session_id, card_id=card))
        for card in contenders
    ]
    reported = dict(zip(contenders, race_processes(worker_env, calls, start=START), strict=True))
    places_left = capacity - prebooked
    assert Counter(reported.values()) == {
        "ok": places_left,
        "session_full": competitors - places_left,
    }
    winners = {card for card, result in reported.items() if result == "ok"}
    assert winners <= set(contenders)
    assert_capacity_held(pg, session_id, capacity, set(cards[:prebooked]) | winners)


# ------------------------------------------------------------------------- SQLite


def test_threads_sharing_a_sqlite_file_never_overbook(tmp_path: Path) -> None:
    booking_race_on(sqlite_env(tmp_path / "race.sqlite3"), competitors=6, capacity=5, prebooked=2)
