"""The simulated hospital day: deterministic, complete, and within the rules."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest
from typer.testing import CliRunner

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import local_sqlite_env, memory_env
from healthcard.cli import app as cli_app
from healthcard.domain.audit import Channel
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import CardUsed, Registered
from healthcard.domain.events.session import CheckedIn
from healthcard.domain.identity import (
    IdentityDocument,
    resident_id_birth_date,
    resident_id_sex,
)
from healthcard.domain.phone import normalise_cn_mobile
from healthcard.domain.relation import Relation
from healthcard.domain.usage import UsageStep
from healthcard.readmodels import catch_up_all
from healthcard.simulation import DAY_START, HospitalDay, plan_day, simulate_day
from healthcard.simulation.people import PeopleFactory
from healthcard.simulation.plan import REGISTRATION_CHANNELS
from healthcard.simulation.report import DayReport
from healthcard.testing import SeededIds

DAY = DAY_START.date()
REGISTERED = "healthcard.card.Registered"


def _run(seed: int, cards: int) -> tuple[HealthCardApp, DayReport]:
    clock = FakeClock(DAY_START)
    app = HealthCardApp(memory_env(), clock=clock, config=HealthCardConfig(), ids=SeededIds(seed))
    return app, simulate_day(app, clock, seed=seed, cards=cards)


def _log(app: HealthCardApp) -> list[DomainEvent]:
    notifications = app.recorder.select_notifications(1, 1_000_000)
    events = [app.mapper.to_domain_event(notification) for notification in notifications]
    assert all(isinstance(event, DomainEvent) for event in events)
    return cast(list[DomainEvent], events)


def _card_ids(app: HealthCardApp) -> list[UUID]:
    return [event.originator_id for event in _log(app) if isinstance(event, Registered)]


@pytest.fixture(scope="module")
def day40() -> Iterator[tuple[HealthCardApp, DayReport]]:
    app, report = _run(seed=7, cards=40)
    yield app, report
    app.close()


# -- determinism ---------------------------------------------------------------------


# Tokens carry a random nonce (os.urandom, not the seeded generator: a guessable nonce
# would be a security bug), and the card remembers accepted nonces. Everything else
# about a card use (step, channel, account, key, expiry, time) repeats with the seed.
NONCE_FIELDS = {"token_nonce", "accepted_nonces"}


def _state(aggregate: Any) -> dict[str, Any]:
    state = {k: v for k, v in vars(aggregate).items() if k not in NONCE_FIELDS}
    state["accepted_nonces"] = sorted(getattr(aggregate, "accepted_nonces", {}).values())
    return state


def _dump(event: DomainEvent) -> dict[str, Any]:
    return event.model_dump(exclude=NONCE_FIELDS)


def test_same_seed_gives_the_same_log_and_states(day40: tuple[HealthCardApp, DayReport]) -> None:
    first, first_report = day40
    second, second_report = _run(seed=7, cards=40)
    try:
        first_log, second_log = _log(first), _log(second)
        assert [e.TOPIC for e in first_log] == [e.TOPIC for e in second_log]
        # every id (cards, appointments, accounts, correlation ids) and every time
        assert [_dump(e) for e in first_log] == [_dump(e) for e in second_log]
        for card_id in _card_ids(first):
            assert _state(first.card(card_id)) == _state(second.card(card_id))
        sessions = [e.originator_id for e in first_log if e.TOPIC.endswith("Published")]
        for session_id in sessions:
            assert _state(first.session(session_id)) == _state(second.session(session_id))
        assert first_report.to_json() == second_report.to_json()
    finally:
        second.close()


def test_another_seed_gives_another_day(day40: tuple[HealthCardApp, DayReport]) -> None:
    first, _ = day40
    other, _ = _run(seed=8, cards=40)
    try:
        assert [_dump(e) for e in _log(first)] != [_dump(e) for e in _log(other)]
        assert not set(_card_ids(first)) & set(_card_ids(other))
    finally:
        other.close()


# -- what the day contains -----------------------------------------------------------


def test_every_channel_registers_with_photo_and_phone(
    day40: tuple[HealthCardApp, DayReport],
) -> None:
    app, report = day40
    registered = [e for e in _log(app) if isinstance(e, Registered)]
    channels = Counter(e.audit.channel for e in registered)
    assert set(channels) == set(REGISTRATION_CHANNELS)
    assert report.registrations_by_channel == {c.value: channels[c] for c in REGISTRATION_CHANNELS}
    assistants = [e for e in registered if e.volunteer is not None]
    assert assistants
    assert all(e.audit.channel is Channel.KIOSK for e in assistants)
    assert report.volunteer_assisted == len(assistants)
    assert all(e.photo is not None and e.phone is not None for e in registered)


def test_most_cards_become_formal_some_stay_temporary(
    day40: tuple[HealthCardApp, DayReport],
) -> None:
    app, report = day40
    cards = [app.card(card_id) for card_id in _card_ids(app)]
    formal = [card for card in cards if card.is_formal]
    assert report.formal == len(formal) > len(cards) // 2
    assert report.temporary == len(cards) - len(formal) >= 1
    assert all(card.verified_by and card.verified_by.startswith("C51") for card in formal)


@pytest.mark.parametrize(("seed", "cards"), [(0, 10), (1, 10), (2, 17), (3, 25), (7, 40)])
def test_each_kind_of_refusal_happens(seed: int, cards: int) -> None:
    app, report = _run(seed=seed, cards=cards)
    try:
        codes = report.refusals_by_code
        assert codes.get("identity_incomplete", 0) >= 1
        assert codes.get("session_full", 0) >= 1
        assert codes.get("family_cap_reached", 0) >= 1
        # the refused binding hit a real cap: some account holds exactly cap cards
        held = Counter(e.originator_id for e in _log(app) if e.TOPIC.endswith("CardAdded"))
        assert max(held.values()) == app.config.family_cap
    finally:
        app.close()


def test_no_session_is_overbooked_and_one_is_full(
    day40: tuple[HealthCardApp, DayReport],
) -> None:
    app, report = day40
    log = _log(app)
    made = Counter(e.originator_id for e in log if e.TOPIC.endswith("AppointmentMade"))
    published = [e.originator_id for e in log if e.TOPIC.endswith("Published")]
    assert len({s.department for s in report.sessions}) == 4
    assert {s.period.value for s in report.sessions} == {"morning", "afternoon"}
    for session_id in published:
        session = app.session(session_id)
        assert made[session_id] == session.booked <= session.capacity
    assert any(app.session(sid).remaining == 0 for sid in published)


def test_check_ins_come_later_the_same_day_for_most_patients(
    day40: tuple[HealthCardApp, DayReport],
) -> None:
    app, report = day40
    log = _log(app)
    booked_at = {e.originator_id: e.timestamp for e in log if e.TOPIC.endswith("AppointmentMade")}
    check_ins = [e for e in log if e.TOPIC.endswith("CheckedIn")]
    assert report.check_ins == len(check_ins) > report.appointments_made // 2
    for event in check_ins:
        assert event.timestamp.date() == DAY
        assert event.timestamp > booked_at[event.originator_id]
        assert event.audit.channel is Channel.TRIAGE_DESK


def test_patients_show_fresh_tokens_at_points_of_care(
    day40: tuple[HealthCardApp, DayReport],
) -> None:
    app, report = day40
    log = _log(app)
    uses = [e for e in log if isinstance(e, CardUsed)]
    checked_in = {e.card_id: e.timestamp for e in log if isinstance(e, CheckedIn)}
    by_step = Counter(e.step for e in uses)
    assert by_step[UsageStep.DIAGNOSIS] >= report.check_ins // 2
    assert set(by_step) <= {UsageStep.DIAGNOSIS, UsageStep.EXAMINATION, UsageStep.DISPENSING}
    assert len({e.token_nonce for e in uses}) == len(uses)  # one fresh token per use
    for event in uses:
        assert event.timestamp > checked_in[event.originator_id]
        assert event.token_expires_at > event.timestamp
        if event.step is UsageStep.DIAGNOSIS:
            assert event.audit.channel is Channel.DOCTOR_WORKSTATION
    channels = Counter((e.step.value, e.audit.channel.value) for e in uses)
    assert report.card_uses == channels
    assert report.to_json()["card_uses"]["total"] == len(uses)
    assert report.refusals[("use_card", "token_rejected")] == 1  # the replayed token
    assert report.refusals_by_code["token_rejected"] == 1


def test_triage_read_model_shows_patients_seen(tmp_path: Path) -> None:
    db = tmp_path / "day.sqlite3"
    clock = FakeClock(DAY_START)
    app = HealthCardApp(local_sqlite_env(db, create_key=True), clock=clock)
    try:
        report = simulate_day(app, clock, seed=7, cards=40)
    finally:
        app.close()
    catch_up_all(db)
    busiest = max(report.sessions, key=lambda s: s.checked_in).department
    args = ["triage", "--db", str(db), "--department", busiest, "--date", DAY.isoformat()]
    args += ["--at", "2026-11-25T23:00:00+08:00"]
    result = CliRunner().invoke(cli_app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    seen = re.search(r"(\d+) seen", result.output)  # the header: "..., N seen, ..."
    assert seen is not None, result.output
    assert int(seen.group(1)) >= 1
    assert "│ seen" in result.output  # and a queue row whose status is seen


def test_the_fake_clock_runs_through_one_day(day40: tuple[HealthCardApp, DayReport]) -> None:
    app, _ = day40
    times = [e.timestamp for e in _log(app)]
    assert times == sorted(times)
    assert times[0] >= DAY_START
    assert times[-1].date() == DAY


def test_progress_reports_exactly_the_planned_steps() -> None:
    clock = FakeClock(DAY_START)
    app = HealthCardApp(memory_env(), clock=clock, config=HealthCardConfig())
    try:
        day = HospitalDay(app, clock, seed=3, cards=30)
        done: Counter[str] = Counter()
        day.run(lambda phase, steps: done.update({phase: steps}))
        assert sum(done.values()) == day.plan.steps
        assert {"registering", "binding", "booking", "triage check-in"} <= set(done)
    finally:
        app.close()


def test_too_few_cards_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        plan_day(random.Random(0), cards=9, day=DAY, family_cap=5)


# -- synthetic people ------------------------------------------------------------------


def test_residents_are_valid_distinct_and_consistent() -> None:
    people = PeopleFactory(random.Random(42), DAY)
    households = [people.household(size) for size in (1, 2, 3, 4, 5, 6) * 20]
    residents = [m.resident for h in households for m in h.members]
    numbers = [r.document.number for r in residents]
    assert len(set(numbers)) == len(numbers)
    for resident in residents:
        again = IdentityDocument(type=resident.document.type, number=resident.document.number)
        assert again == resident.document
        assert resident_id_birth_date(resident.document.number) == resident.birth_date
        assert resident_id_sex(resident.document.number) is resident.sex
        assert resident.birth_date <= DAY
        assert normalise_cn_mobile(resident.phone) == resident.phone
        assert 2 <= len(resident.name) <= 4
    holder_phones = [h.holder.phone for h in households]
    assert len(set(holder_phones)) == len(holder_phones)


def test_a_family_of_six_has_the_gb_t_4761_relations() -> None:
    people = PeopleFactory(random.Random(1), DAY)
    family = people.household(6)
    assert [m.relation for m in family.members] == [
        Relation.SELF,
        Relation.SPOUSE,
        Relation.SON,
        Relation.DAUGHTER,
        Relation.FATHER,
        Relation.MOTHER,
    ]
    holder, children = family.holder, [m.resident for m in family.members[2:4]]
    assert all(child.phone == holder.phone for child in children)
    assert all(child.birth_date > holder.birth_date for child in children)


def test_same_seed_same_people() -> None:
    def names(seed: int) -> list[str]:
        people = PeopleFactory(random.Random(seed), date(2026, 11, 25))
        return [m.resident.name for m in people.household(6).members]

    assert names(5) == names(5)
    assert names(5) != names(6)
