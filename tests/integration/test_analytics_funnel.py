"""Funnel figures, channel mix and no-show rate on a small log whose story is known.

The expected numbers below are read off the story told by ``story()`` (seven cards
over two days), not off the code's output: each card's path is listed next to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.persistence import memory_env
from healthcard.analytics.funnel import STAGES, GroupBy, compute_stats, stats_from_records
from healthcard.analytics.log import LogReader
from healthcard.domain.audit import Channel
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.usage import UsageStep
from healthcard.testing import FakeClock
from healthcard.testing.world import Driver

DAY1 = date(2026, 11, 25)
DAY2 = date(2026, 11, 26)


def story(app: HealthCardApp, clock: FakeClock) -> None:
    d = Driver(app)
    s1 = d.publish(day=DAY1, capacity=10)
    s2 = d.publish(day=DAY2, capacity=10)
    # A, window: every stage, seen by a doctor (diagnosis).
    a = d.register(Channel.WINDOW)
    a_person = d.complete_identity(a)
    a_phone = d.bind(a)
    d.book(s1, a)
    d.check_in(s1, a_person)
    d.use(a, a_phone, UsageStep.DIAGNOSIS, Channel.DOCTOR_WORKSTATION)
    # B, kiosk: checked in, card used only to pay (not "seen").
    b = d.register(Channel.KIOSK)
    b_person = d.complete_identity(b)
    b_phone = d.bind(b)
    d.book(s1, b)
    d.check_in(s1, b_person)
    d.use(b, b_phone, UsageStep.PAYMENT, Channel.WINDOW)
    # C, kiosk: identity, booked day 1, never came (a no-show); not bound.
    c = d.register(Channel.KIOSK)
    d.complete_identity(c)
    d.book(s1, c)
    # D, app: registered only.
    d.register(Channel.APP)
    # E, window: booked day 2 and cancelled.
    e = d.register(Channel.WINDOW)
    d.complete_identity(e)
    appointment = d.book(s2, e)
    d.cancel_appointment(s2, appointment)
    clock.advance(days=1)
    # F, app (day 2): bound, booked day 2, checked in with the phone's QR.
    f = d.register(Channel.APP)
    d.complete_identity(f)
    f_phone = d.bind(f)
    s3 = d.publish(day=DAY2, capacity=10)
    d.book(s3, f)
    d.check_in_with_qr(s3, f, f_phone)
    # G, WeChat (day 2): registered only.
    d.register(Channel.WECHAT_OFFICIAL_ACCOUNT)


@pytest.fixture(scope="module")
def app() -> Iterator[HealthCardApp]:
    clock = FakeClock()
    application = HealthCardApp(memory_env(), clock=clock)
    try:
        story(application, clock)
        yield application
    finally:
        application.close()


def counts(*values: int) -> dict[str, int]:
    return dict(zip(STAGES, values, strict=True))


def test_total_funnel_and_conversions(app: HealthCardApp) -> None:
    stats = compute_stats(app)
    assert stats.total.counts == counts(7, 5, 3, 5, 3, 1)
    assert stats.total.conversion("identity_completed") == pytest.approx(5 / 7)
    assert stats.total.conversion("registered") is None
    assert [row.group for row in stats.rows] == ["all"]


def test_funnel_by_channel(app: HealthCardApp) -> None:
    stats = compute_stats(app, by=GroupBy.CHANNEL)
    by_group = {row.group: row.counts for row in stats.rows}
    assert by_group == {
        "window": counts(2, 2, 1, 2, 1, 1),  # A, E
        "kiosk": counts(2, 2, 1, 2, 1, 0),  # B, C
        "app": counts(2, 1, 1, 1, 1, 0),  # D, F
        "wechat_official_account": counts(1, 0, 0, 0, 0, 0),  # G
    }
    assert stats.channel_mix == {
        "window": 2,
        "kiosk": 2,
        "app": 2,
        "wechat_official_account": 1,
    }


def test_funnel_by_day(app: HealthCardApp) -> None:
    stats = compute_stats(app, by=GroupBy.DAY)
    assert {row.group: row.counts for row in stats.rows} == {
        "2026-11-25": counts(5, 4, 2, 4, 2, 1),  # A B C D E
        "2026-11-26": counts(2, 1, 1, 1, 1, 0),  # F G
    }


def test_no_shows_cancellations_and_credentials(app: HealthCardApp) -> None:
    stats = compute_stats(app)
    assert stats.appointments == 5
    assert stats.cancelled == 1
    shows = stats.no_shows
    assert shows.as_of == DAY2  # the last event's day: only day-1 sessions are over
    assert (shows.past_appointments, shows.checked_in, shows.no_shows) == (3, 2, 1)
    assert shows.rate == pytest.approx(1 / 3)
    later = compute_stats(app, as_of=date(2026, 11, 27)).no_shows
    assert (later.past_appointments, later.checked_in, later.no_shows) == (4, 3, 1)
    assert stats.check_in_credentials == {"id_card": 2, "qr": 1}
    assert stats.usage_channels == {"doctor_workstation": 1, "window": 1}


def test_a_time_range_selects_the_cohort(app: HealthCardApp) -> None:
    since = datetime(2026, 11, 26, tzinfo=CHINA_TZ)
    stats = compute_stats(app, since=since)
    assert stats.total.counts == counts(2, 1, 1, 1, 1, 0)
    assert stats.appointments == 1
    until = compute_stats(app, until=since)
    assert until.total.counts == counts(5, 4, 2, 4, 2, 1)


def test_order_of_events_within_the_log_does_not_change_stages(app: HealthCardApp) -> None:
    """A save of several aggregates may log a card's appointment before its
    registration; stages must not depend on that order."""
    records = list(LogReader(app).records())
    forward = stats_from_records(records, by=GroupBy.CHANNEL)
    backward = stats_from_records(list(reversed(records)), by=GroupBy.CHANNEL)
    assert [r.counts for r in backward.rows] == [r.counts for r in forward.rows]


def test_seen_steps_are_configurable(app: HealthCardApp) -> None:
    stats = compute_stats(app, seen_steps=frozenset({"010105"}))
    assert stats.total.counts["seen"] == 1
    nothing = compute_stats(app, seen_steps=frozenset())
    assert nothing.total.counts["seen"] == 0


def test_json_form(app: HealthCardApp) -> None:
    data = compute_stats(app, by=GroupBy.CHANNEL).to_json()
    assert data["by"] == "channel"
    assert data["stages"] == list(STAGES)
    assert data["channel_mix"]["wechat_official_account"] == {"cards": 1, "share": 1 / 7}
    assert data["no_shows"]["rate"] == pytest.approx(1 / 3)
