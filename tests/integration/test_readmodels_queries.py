"""What the read models answer: places, statuses as of a day (no-show), the triage
queue with waiting times, a card's upcoming appointments, masking and erasure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.adapters.privacy.masking import mask_document_number, mask_name
from healthcard.application.commands import (
    BindCard,
    CancelAppointment,
    CheckInWithDocument,
    CheckInWithQr,
    CompleteIdentity,
    ErasePersonalData,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UseCard,
)
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.events.card import IdentityCompleted
from healthcard.domain.events.session import SessionPublished
from healthcard.domain.usage import UsageStep
from healthcard.readmodels import Projector, open_projections
from healthcard.readmodels.store_sql import SqlViewStore
from healthcard.testing.clinic_histories import DESK, DOCTOR, PEOPLE, WINDOW, document, phone


@dataclass
class Clinic:
    app: HealthCardApp
    clock: FakeClock
    store: SqlViewStore
    cards: list[UUID]
    session: UUID
    small: UUID
    appointments: list[UUID]

    def catch_up(self) -> None:
        Projector(self.app, self.store).catch_up()

    def at(self, hour: int, minute: int = 0, days: int = 0) -> datetime:
        return datetime.combine(self.day + timedelta(days=days), time(hour, minute), CHINA_TZ)

    @property
    def day(self) -> date:
        return date(2026, 11, 25)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    """Four patients of cardio d1 this morning, a one-place derm session."""
    clock = FakeClock()
    with HealthCardApp(memory_env(), clock=clock) as app:
        cards = []
        for person in range(4):
            name, _number, born, sex = PEOPLE[person]
            card = app.register(RegisterCard(name=name, audit=WINDOW))
            app.complete_identity(
                CompleteIdentity(
                    card_id=card,
                    document=document(person),
                    name=name,
                    sex=sex,
                    birth_date=born,
                    audit=WINDOW,
                )
            )
            app.bind(BindCard(card_id=card, account=phone(person), audit=WINDOW))
            cards.append(card)
        today = clock.now.date()
        session = app.publish_session(
            PublishSession(
                department="cardio",
                doctor="d1",
                day=today,
                period=Period.MORNING,
                capacity=10,
                audit=WINDOW,
            )
        )
        small = app.publish_session(
            PublishSession(
                department="derm",
                doctor="d9",
                day=today,
                period=Period.AFTERNOON,
                capacity=1,
                audit=WINDOW,
            )
        )
        appointments = [
            app.make_appointment(MakeAppointment(session_id=session, card_id=c, audit=WINDOW))
            for c in cards
        ]
        with open_projections(app=app, views_path=tmp_path / "views.sqlite3") as projections:
            yield Clinic(app, clock, projections.store, cards, session, small, appointments)


def test_places_and_available_sessions(clinic: Clinic) -> None:
    app = clinic.app
    app.make_appointment(
        MakeAppointment(session_id=clinic.small, card_id=clinic.cards[0], audit=WINDOW)
    )
    app.cancel_appointment(
        CancelAppointment(
            session_id=clinic.session, appointment_id=clinic.appointments[3], audit=WINDOW
        )
    )
    clinic.catch_up()
    store = clinic.store
    cardio = store.sessions("cardio", clinic.day)
    assert [(s.doctor, s.capacity, s.booked, s.remaining) for s in cardio] == [("d1", 10, 3, 7)]
    assert store.available_sessions("cardio", clinic.day) == cardio
    assert [s.remaining for s in store.sessions("derm", clinic.day)] == [0]
    assert store.available_sessions("derm", clinic.day) == []  # full
    assert store.sessions("cardio", clinic.day + timedelta(days=1)) == []


def test_triage_queue_waiting_times_seen_and_no_shows(clinic: Clinic) -> None:
    app, clock = clinic.app, clinic.clock
    clock.set(clinic.at(8, 10))
    app.check_in_with_document(
        CheckInWithDocument(session_id=clinic.session, document=document(1), audit=DESK)
    )
    clock.set(clinic.at(8, 20))
    token = app.issue_token(IssueToken(card_id=clinic.cards[0], account=phone(0), audit=WINDOW))
    app.check_in_with_qr(CheckInWithQr(session_id=clinic.session, token=token, audit=DESK))
    clock.set(clinic.at(9, 5))
    for step in (UsageStep.PAYMENT, UsageStep.DIAGNOSIS):  # payment alone is not "seen"
        token = app.issue_token(IssueToken(card_id=clinic.cards[0], account=phone(0), audit=WINDOW))
        app.use_card(UseCard(token=token, step=step, audit=DOCTOR))
    app.cancel_appointment(
        CancelAppointment(
            session_id=clinic.session, appointment_id=clinic.appointments[3], audit=WINDOW
        )
    )
    clinic.catch_up()

    noon = clinic.store.triage_day("cardio", clinic.day, clinic.at(12))
    assert [(e.queue_no, e.card_id, e.credential, e.status) for e in noon.queue] == [
        (1, clinic.cards[1], "id_card", "waiting"),
        (2, clinic.cards[0], "qr", "seen"),
    ]
    assert [round(e.waiting_minutes) for e in noon.queue] == [230, 45]  # 08:10->12:00, 08:20->09:05
    assert noon.queue[1].seen_at is not None
    assert noon.queue[1].seen_at.hour == 9
    name, number = PEOPLE[1][0], PEOPLE[1][1]
    assert (noon.queue[0].masked_name, noon.queue[0].masked_document) == (
        mask_name(name),
        mask_document_number(number),
    )
    assert {a.card_id for a in noon.expected} == set(clinic.cards[:3])  # not the cancelled
    assert noon.no_shows == ()  # the day is not over

    next_day = clinic.store.triage_day("cardio", clinic.day, clinic.at(8, days=1))
    assert [a.card_id for a in next_day.no_shows] == [clinic.cards[2]]
    assert round(next_day.queue[0].waiting_minutes) == 15 * 60 + 50  # capped at the day's end
    statuses = {
        a.card_id: a.status
        for a in clinic.store.session_appointments(clinic.session, clinic.day + timedelta(days=1))
    }
    assert statuses == {
        clinic.cards[0]: "seen",
        clinic.cards[1]: "checked_in",
        clinic.cards[2]: "no_show",
        clinic.cards[3]: "cancelled",
    }


def test_a_cards_upcoming_appointments(clinic: Clinic) -> None:
    app = clinic.app
    tomorrow = app.publish_session(
        PublishSession(
            department="derm",
            doctor="d2",
            day=clinic.day + timedelta(days=1),
            period=Period.MORNING,
            capacity=5,
            audit=WINDOW,
        )
    )
    app.make_appointment(
        MakeAppointment(session_id=tomorrow, card_id=clinic.cards[2], audit=WINDOW)
    )
    clinic.catch_up()
    upcoming = clinic.store.card_appointments(clinic.cards[2], clinic.day)
    assert [(a.department, a.day, a.status) for a in upcoming] == [
        ("cardio", clinic.day, "booked"),
        ("derm", clinic.day + timedelta(days=1), "booked"),
    ]
    later = clinic.store.card_appointments(str(clinic.cards[2]), clinic.day + timedelta(days=1))
    assert [a.session_id for a in later] == [tomorrow]  # today's is past (a no-show)


def test_views_hold_masked_values_only_and_forget_them_on_erasure(clinic: Clinic) -> None:
    clinic.catch_up()
    tables = clinic.store.dump()
    text = repr(tables)
    for name, number, _, _ in PEOPLE[:4]:
        assert name not in text
        assert number not in text
    assert mask_name(PEOPLE[0][0]) in text

    clinic.app.erase_personal_data(ErasePersonalData(card_id=clinic.cards[0], audit=WINDOW))
    clinic.catch_up()
    rows = {row[0]: row for row in clinic.store.dump()["cards"]}
    assert rows[clinic.cards[0].hex][1:] == (None, None, None, 1)
    assert rows[clinic.cards[1].hex][1] == mask_name(PEOPLE[1][0])
    listed = {a.card_id: a for a in clinic.store.session_appointments(clinic.session, clinic.day)}
    assert listed[clinic.cards[0]].masked_name is None  # the appointment stays, pseudonymous


def test_seen_needs_a_diagnosis_on_the_day_of_the_check_in(clinic: Clinic) -> None:
    app, clock = clinic.app, clinic.clock
    app.check_in_with_document(
        CheckInWithDocument(session_id=clinic.session, document=document(2), audit=DESK)
    )
    clock.set(clinic.at(9, days=1))  # the next day, with no check-in: not "seen" yesterday
    token = app.issue_token(IssueToken(card_id=clinic.cards[2], account=phone(2), audit=WINDOW))
    app.use_card(UseCard(token=token, step=UsageStep.DIAGNOSIS, audit=DOCTOR))
    clinic.catch_up()
    queue = clinic.store.triage_day("cardio", clinic.day, clinic.at(10, days=1)).queue
    assert [(e.card_id, e.status, e.seen_at) for e in queue] == [(clinic.cards[2], "waiting", None)]


def test_waiting_in_two_departments_the_earlier_arrival_is_seen_first(clinic: Clinic) -> None:
    app, clock = clinic.app, clinic.clock
    app.make_appointment(
        MakeAppointment(session_id=clinic.small, card_id=clinic.cards[1], audit=WINDOW)
    )
    clock.set(clinic.at(8, 30))
    app.check_in_with_document(
        CheckInWithDocument(session_id=clinic.small, document=document(1), audit=DESK)
    )
    clock.set(clinic.at(8, 40))
    app.check_in_with_document(
        CheckInWithDocument(session_id=clinic.session, document=document(1), audit=DESK)
    )
    for minute in (0, 30):
        clock.set(clinic.at(10, minute))
        token = app.issue_token(IssueToken(card_id=clinic.cards[1], account=phone(1), audit=WINDOW))
        app.use_card(UseCard(token=token, step=UsageStep.DIAGNOSIS, audit=DOCTOR))
        clinic.catch_up()
        derm = clinic.store.triage_day("derm", clinic.day, clinic.at(12)).queue[0]
        cardio = clinic.store.triage_day("cardio", clinic.day, clinic.at(12)).queue[0]
        if minute == 0:
            assert (derm.status, cardio.status) == ("seen", "waiting")  # arrived 08:30 first
        else:
            assert (derm.status, cardio.status) == ("seen", "seen")
            assert cardio.seen_at is not None
            assert cardio.seen_at.minute == 30


def test_projections_upcast_old_events(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events stored as v1 are read through the classes' upcasters (here a v2 of two
    classes); an upcaster may read any personal field, so all of them are unsealed."""

    def session_v1_v2(state: dict[str, object]) -> None:
        state["department"] = f"{state['department']}-v2"

    def identity_v1_v2(state: dict[str, object]) -> None:
        born = state["birth_date"]
        assert isinstance(born, str)  # unsealed before upcasting
        state["name"] = f"{state['name']}{born[:4]}"

    monkeypatch.setattr(SessionPublished, "class_version", 2)
    monkeypatch.setattr(
        SessionPublished, "upcast_v1_v2", staticmethod(session_v1_v2), raising=False
    )
    monkeypatch.setattr(IdentityCompleted, "class_version", 2)
    monkeypatch.setattr(
        IdentityCompleted, "upcast_v1_v2", staticmethod(identity_v1_v2), raising=False
    )
    clinic.catch_up()
    assert [s.booked for s in clinic.store.sessions("cardio-v2", clinic.day)] == [4]
    assert clinic.store.sessions("cardio", clinic.day) == []
    name, _, born, _ = PEOPLE[0]
    listed = clinic.store.session_appointments(clinic.session, clinic.day)
    assert mask_name(f"{name}{born.year}") in {a.masked_name for a in listed}
