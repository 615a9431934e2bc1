"""Streaming reads of the log: both shapes agree with the mapper, filters select exactly
what a plain Python filter over the whole log selects, and batching changes nothing.

The sample log is written by the application on an encrypted SQLite file (at-rest
cipher, compression, personal fields sealed per person), so the fast JSON path is
checked against the mapper on the full decoding stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.persistence import local_sqlite_env, memory_env
from healthcard.analytics.log import LogFilter, LogReader, iter_events, resolve_event_types
from healthcard.domain.errors import InvalidInput
from healthcard.domain.events.base import DomainEvent, topic_of
from healthcard.domain.events.card import Frozen, Registered
from healthcard.domain.events.session import AppointmentCancelled, AppointmentMade
from healthcard.testing import FakeClock
from healthcard.testing.world import Driver


def build_log(app: HealthCardApp, clock: FakeClock) -> dict[str, UUID]:
    """Three cards over two days: bookings, a cancellation, check-ins, uses, a freeze."""
    driver = Driver(app)
    alice, bob, carol = driver.register(), driver.register(), driver.register()
    alice_person = driver.complete_identity(alice)
    bob_person = driver.complete_identity(bob)
    alice_phone = driver.bind(alice)
    driver.bind(bob)
    session = driver.publish(capacity=5)
    first = driver.book(session, alice)
    driver.book(session, bob)
    driver.cancel_appointment(session, first)
    driver.book(session, alice)
    driver.check_in(session, alice_person)
    driver.use(alice, alice_phone)
    clock.advance(days=1)
    driver.freeze(carol)
    tomorrow = driver.publish(capacity=2)
    driver.book(tomorrow, bob)
    driver.check_in(tomorrow, bob_person)
    return {"alice": alice, "bob": bob, "carol": carol, "session": session}


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[HealthCardApp, dict[str, UUID]]]:
    db = tmp_path_factory.mktemp("log") / "events.sqlite3"
    clock = FakeClock()
    app = HealthCardApp(local_sqlite_env(db, create_key=True), clock=clock)
    try:
        yield app, build_log(app, clock)
    finally:
        app.close()


def all_events(app: HealthCardApp) -> list[tuple[int, DomainEvent]]:
    """The whole log through the mapper, one notification at a time (the reference)."""
    out: list[tuple[int, DomainEvent]] = []
    for notification in app.recorder.select_notifications(start=None, limit=10_000):
        event = app.mapper.to_domain_event(notification)
        assert isinstance(event, DomainEvent)
        out.append((notification.id, event))
    return out


def test_records_and_events_agree_with_the_mapper(
    logged: tuple[HealthCardApp, dict[str, UUID]],
) -> None:
    app, _ = logged
    reference = all_events(app)
    reader = LogReader(app)
    events = [(item.position, item.event) for item in reader.events()]
    records = list(reader.records())
    assert events == reference
    assert [(r.position, r.to_event()) for r in records] == reference
    assert [r.timestamp for r in records] == [e.timestamp for _, e in reference]
    assert [r.event_type for r in records] == [type(e).__name__ for _, e in reference]
    assert reader.max_position() == reference[-1][0]


@pytest.mark.parametrize("batch_size", [1, 2, 7, 5_000])
def test_batching_changes_nothing(
    logged: tuple[HealthCardApp, dict[str, UUID]], batch_size: int
) -> None:
    app, ids = logged
    reference = all_events(app)
    reader = LogReader(app, batch_size=batch_size)
    reached: list[int] = []
    assert [(i.position, i.event) for i in reader.events(progress=reached.append)] == reference
    assert reached == sorted(reached)
    assert reached[-1] == reference[-1][0]
    card_only = [r.position for r in reader.records(LogFilter(card_id=ids["alice"]))]
    assert card_only == [
        r.position for r in LogReader(app).records(LogFilter(card_id=ids["alice"]))
    ]


def test_start_and_stop_bound_positions(logged: tuple[HealthCardApp, dict[str, UUID]]) -> None:
    app, _ = logged
    reference = all_events(app)
    middle = reference[len(reference) // 2][0]
    got = [i.position for i in LogReader(app, batch_size=3).events(start=middle, stop=middle + 4)]
    assert got == [p for p, _ in reference if middle <= p <= middle + 4]


def test_type_filter_selects_exactly_those_types(
    logged: tuple[HealthCardApp, dict[str, UUID]],
) -> None:
    app, _ = logged
    reference = all_events(app)
    wanted = {topic_of(AppointmentMade), topic_of(Frozen)}
    flt = LogFilter.of(types=[AppointmentMade, "Frozen"])
    assert flt.topics == wanted
    got = [i.position for i in LogReader(app, batch_size=2).events(flt)]
    expected = [p for p, e in reference if topic_of(type(e)) in wanted]
    assert got == expected
    assert len(expected) == 5
    assert [r.position for r in LogReader(app).records(flt)] == expected


def test_time_filter_is_inclusive_since_exclusive_until(
    logged: tuple[HealthCardApp, dict[str, UUID]],
) -> None:
    app, _ = logged
    reference = all_events(app)
    since = reference[3][1].timestamp
    until = reference[-3][1].timestamp
    flt = LogFilter(since=since, until=until)
    expected = [p for p, e in reference if since <= e.timestamp < until]
    assert [i.position for i in LogReader(app).events(flt)] == expected
    assert [r.position for r in LogReader(app).records(flt)] == expected
    assert expected[0] == reference[3][0]
    assert reference[-3][0] not in expected


def test_card_filter_follows_the_card_through_other_aggregates(
    logged: tuple[HealthCardApp, dict[str, UUID]],
) -> None:
    app, ids = logged
    reference = all_events(app)
    alice = ids["alice"]
    alice_appointments = {
        e.appointment_id
        for _, e in reference
        if isinstance(e, AppointmentMade) and e.card_id == alice
    }
    expected = [
        p
        for p, e in reference
        if e.originator_id == alice
        or getattr(e, "card_id", None) == alice
        or (isinstance(e, AppointmentCancelled) and e.appointment_id in alice_appointments)
    ]
    flt = LogFilter(card_id=alice)
    assert [i.position for i in LogReader(app).events(flt)] == expected
    assert [r.position for r in LogReader(app).records(flt)] == expected
    got_types = [type(i.event).__name__ for i in LogReader(app).events(flt)]
    assert "AppointmentCancelled" in got_types
    assert "CardAdded" in got_types
    assert all(
        r.card_id == alice
        for r in LogReader(app).records(flt)
        if r.topic != topic_of(AppointmentCancelled)
    )


def test_card_and_type_filters_combine(logged: tuple[HealthCardApp, dict[str, UUID]]) -> None:
    app, ids = logged
    flt = LogFilter.of(types=["AppointmentCancelled"], card_id=ids["alice"])
    got = list(LogReader(app).events(flt))
    assert [type(i.event).__name__ for i in got] == ["AppointmentCancelled"]
    assert (
        list(
            LogReader(app).events(LogFilter.of(types=["AppointmentCancelled"], card_id=ids["bob"]))
        )
        == []
    )


def test_iter_events_shortcut_and_type_resolution(
    logged: tuple[HealthCardApp, dict[str, UUID]],
) -> None:
    app, ids = logged
    registered = list(iter_events(app, types=["healthcard.card.Registered"]))
    assert {i.event.originator_id for i in registered} == {ids["alice"], ids["bob"], ids["carol"]}
    assert all(isinstance(i.event, Registered) for i in registered)
    with pytest.raises(InvalidInput, match="unknown event type"):
        resolve_event_types(["Registred"])


def test_naive_bounds_are_refused() -> None:
    clock = FakeClock()
    with pytest.raises(InvalidInput, match="timezone"):
        LogFilter(since=clock.now.replace(tzinfo=None))


def test_an_empty_log_reads_as_nothing() -> None:
    app = HealthCardApp(memory_env(), clock=FakeClock())
    try:
        reader = LogReader(app)
        assert reader.max_position() == 0
        assert list(reader.records()) == []
        assert list(reader.events(LogFilter(since=FakeClock().now - timedelta(days=1)))) == []
    finally:
        app.close()
