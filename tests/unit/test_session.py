"""Unit tests of the ClinicSession aggregate: publication, booking, cancellation and
triage check-in (pure domain: sessions and cards are built from their events).

Why here and not through the application: capacity, dates and "once per card" are
rules of the session aggregate; the application only loads and saves it. Dates are
China dates (UTC+8), so some scenarios place ``at`` in UTC on purpose. Each scenario
is stated with the ``healthcard.testing.gwt`` kit: a refusal is checked for its class
and stable ``code``, and ``then`` checks that it recorded nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import count
from uuid import UUID, uuid4

import pytest

from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.clinic_session import ClinicSession
from healthcard.domain.clinic_values import AppointmentStatus, CheckInCredential, Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import (
    AppointmentInPast,
    AppointmentNotActive,
    AppointmentNotFound,
    CardNotActive,
    CheckInNotOpen,
    DuplicateAppointment,
    IdentityIncomplete,
    SessionFull,
)
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import Frozen, IdentityCompleted, Registered
from healthcard.domain.events.session import (
    AppointmentCancelled,
    AppointmentMade,
    CheckedIn,
    SessionPublished,
)
from healthcard.testing.compare import aggregate_state
from healthcard.testing.gwt import EventStream, expect, given, stream
from healthcard.testing.world import person

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
EARLIER = NOW - timedelta(days=1)
"""When the given events happened; commands run at ``NOW`` (or later, on purpose)."""
TODAY = date(2026, 11, 25)
TOMORROW = TODAY + timedelta(days=1)
ON_THE_DAY = NOW + timedelta(days=1)
"""08:00 on ``TOMORROW``, the default session's day."""
AUDIT = Audit(actor="staff-001", channel=Channel.APP, institution="H510100001")
TRIAGE = Audit(actor="nurse-03", channel=Channel.TRIAGE_DESK, institution="H510100001")
SERIALS = count(1)


# -- past events and the cards that book ---------------------------------------------------


def session_stream() -> EventStream:
    return stream(uuid4(), audit=AUDIT, at=EARLIER)


def published(session: EventStream, *, day: date = TOMORROW, capacity: int = 3) -> DomainEvent:
    return session(
        SessionPublished,
        department="cardiology",
        doctor="dr-0042",
        day=day,
        period=Period.MORNING,
        capacity=capacity,
    )


def made(session: EventStream, card: HealthCard, appointment_id: UUID | None = None) -> DomainEvent:
    return session(AppointmentMade, appointment_id=appointment_id or uuid4(), card_id=card.id)


def card_events(*, formal: bool = True) -> tuple[EventStream, list[DomainEvent]]:
    """A card's history: registered and (when ``formal``) identified as a new person."""
    card = stream(uuid4(), audit=AUDIT, at=EARLIER)
    who = person(next(SERIALS), name="李雷")
    history: list[DomainEvent] = [
        card(Registered, issuer_mode=IssuerMode.PRODUCTION, name=who.name)
    ]
    if formal:
        history.append(
            card(
                IdentityCompleted,
                document=who.document,
                name=who.name,
                sex=who.sex,
                birth_date=who.birth_date,
                verified_by=AUDIT.institution,
                main_index_id="A" * 64,
                ehc_id="B" * 64,
            )
        )
    return card, history


def built(*events: DomainEvent) -> HealthCard:
    card = given(*events, aggregate=HealthCard).build()
    assert card is not None
    return card


def formal_card() -> HealthCard:
    return built(*card_events()[1])


def temporary_card() -> HealthCard:
    return built(*card_events(formal=False)[1])


def frozen_card() -> HealthCard:
    card, history = card_events()
    return built(*history, card(Frozen, reason="lost_phone"))


# -- commands ----------------------------------------------------------------------------


def publishing(
    session_id: UUID, *, day: date = TOMORROW, capacity: int = 3, at: datetime = NOW
) -> Callable[[], ClinicSession]:
    return lambda: ClinicSession.publish(
        session_id,
        department="cardiology",
        doctor="dr-0042",
        day=day,
        period=Period.MORNING,
        capacity=capacity,
        audit=AUDIT,
        at=at,
    )


def booking(
    card: HealthCard, appointment_id: UUID | None = None, at: datetime = NOW
) -> Callable[[ClinicSession], None]:
    return lambda s: s.book(appointment_id or uuid4(), card, audit=AUDIT, at=at)


def cancelling(appointment_id: UUID) -> Callable[[ClinicSession], None]:
    return lambda s: s.cancel(appointment_id, "patient_request", audit=AUDIT, at=NOW)


def checking_in(card: HealthCard, at: datetime = ON_THE_DAY) -> Callable[[ClinicSession], UUID]:
    return lambda s: s.check_in(card, CheckInCredential.ID_CARD, audit=TRIAGE, at=at)


# ------------------------------------------------------------------ publication


def test_publish_records_the_session() -> None:
    session_id = uuid4()

    def twenty_free_places(session: ClinicSession) -> None:
        assert (session.department, session.doctor) == ("cardiology", "dr-0042")
        assert (session.day, session.period, session.capacity) == (TOMORROW, Period.MORNING, 20)
        assert (session.booked, session.remaining) == (0, 20)

    (
        given(aggregate=ClinicSession)
        .when_new(publishing(session_id, capacity=20))
        .then(
            expect(
                SessionPublished,
                originator_id=session_id,
                department="cardiology",
                doctor="dr-0042",
                day=TOMORROW,
                period=Period.MORNING,
                capacity=20,
            )
        )
        .then_state(twenty_free_places)
    )


def test_a_session_may_be_published_for_today() -> None:
    (
        given(aggregate=ClinicSession)
        .when_new(publishing(uuid4(), day=TODAY))
        .then(expect(SessionPublished, day=TODAY))
        .then_state(lambda s: s.day == TODAY)
    )


def test_a_session_in_the_past_is_refused() -> None:
    outcome = (
        given(aggregate=ClinicSession)
        .when_new(publishing(uuid4(), day=TODAY - timedelta(days=1)))
        .then(AppointmentInPast, code="appointment_in_past")
    )
    assert isinstance(outcome.error, AppointmentInPast)
    assert outcome.error.field == "day"


def test_the_past_is_judged_by_the_date_in_china() -> None:
    # 2026-11-24 18:00 UTC is already 2026-11-25 02:00 in China: the 24th is past.
    at = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    (
        given(aggregate=ClinicSession)
        .when_new(publishing(uuid4(), day=date(2026, 11, 24), at=at))
        .then(AppointmentInPast, code="appointment_in_past")
    )
    (
        given(aggregate=ClinicSession)
        .when_new(publishing(uuid4(), day=date(2026, 11, 25), at=at))
        .then(expect(SessionPublished, day=date(2026, 11, 25)))
    )


# ----------------------------------------------------------------------- booking


def test_book_takes_a_place() -> None:
    session = session_stream()
    card = formal_card()
    appointment_id = uuid4()

    def one_place_taken(s: ClinicSession) -> None:
        appointment = s.appointments[appointment_id]
        assert (appointment.card_id, appointment.status) == (card.id, AppointmentStatus.BOOKED)
        assert appointment.booked_at == NOW
        assert (s.booked, s.remaining) == (1, 1)

    (
        given(published(session, capacity=2), aggregate=ClinicSession)
        .when(booking(card, appointment_id))
        .then(expect(AppointmentMade, appointment_id=appointment_id, card_id=card.id))
        .then_state(one_place_taken)
    )


def test_booking_needs_a_complete_identity() -> None:
    (
        given(published(session_stream()), aggregate=ClinicSession)
        .when(booking(temporary_card()))
        .then(IdentityIncomplete, code="identity_incomplete")
    )


def test_booking_needs_an_active_card() -> None:
    (
        given(published(session_stream()), aggregate=ClinicSession)
        .when(booking(frozen_card()))
        .then(CardNotActive, code="card_not_active")
    )


def test_booking_after_the_session_date_is_refused() -> None:
    (
        given(published(session_stream(), day=TODAY), aggregate=ClinicSession)
        .when(booking(formal_card(), at=NOW + timedelta(days=1)))
        .then(AppointmentInPast, code="appointment_in_past")
    )


def test_booking_on_the_session_day_is_accepted() -> None:
    card = formal_card()
    (
        given(published(session_stream(), day=TODAY), aggregate=ClinicSession)
        .when(booking(card, at=NOW + timedelta(hours=3)))
        .then(expect(AppointmentMade, card_id=card.id))
        .then_state(lambda s: s.booked == 1)
    )


def test_a_card_books_a_session_once() -> None:
    session = session_stream()
    card = formal_card()
    (
        given(published(session), made(session, card), aggregate=ClinicSession)
        .when(booking(card))
        .then(DuplicateAppointment, code="duplicate_appointment")
    )


def test_a_full_session_is_refused() -> None:
    session = session_stream()
    history = [
        published(session, capacity=2),
        made(session, formal_card()),
        made(session, formal_card()),
    ]
    outcome = (
        given(*history, aggregate=ClinicSession)
        .when(booking(formal_card()))
        .then(SessionFull, code="session_full")
        .then_state(lambda s: (s.booked, s.remaining) == (2, 0))
    )
    assert isinstance(outcome.error, SessionFull)
    assert outcome.error.session_id == session.aggregate_id


def test_a_cancelled_appointment_frees_its_place() -> None:
    session = session_stream()
    first, second = formal_card(), formal_card()
    appointment_id = uuid4()
    history = [published(session, capacity=1), made(session, first, appointment_id)]

    def place_freed(s: ClinicSession) -> None:
        assert s.appointments[appointment_id].status is AppointmentStatus.CANCELLED
        assert s.remaining == 1

    (
        given(*history, aggregate=ClinicSession)
        .when(cancelling(appointment_id))
        .then(expect(AppointmentCancelled, appointment_id=appointment_id, reason="patient_request"))
        .then_state(place_freed)
    )
    history.append(session(AppointmentCancelled, appointment_id=appointment_id, reason="x"))
    (
        given(*history, aggregate=ClinicSession)
        .when(booking(second))
        .then(expect(AppointmentMade, card_id=second.id))
        .then_state(lambda s: s.booked == 1)
    )
    # The card whose appointment was cancelled may book again (if a place is free).
    history.append(made(session, second))
    (
        given(*history, aggregate=ClinicSession)
        .when(booking(first))
        .then(SessionFull, code="session_full")
    )


def test_cancelling_twice_or_an_unknown_appointment_is_refused() -> None:
    session = session_stream()
    appointment_id = uuid4()
    history = [
        published(session),
        made(session, formal_card(), appointment_id),
        session(AppointmentCancelled, appointment_id=appointment_id, reason="patient_request"),
    ]
    outcome = (
        given(*history, aggregate=ClinicSession)
        .when(cancelling(appointment_id))
        .then(AppointmentNotActive, code="appointment_not_active")
    )
    assert isinstance(outcome.error, AppointmentNotActive)
    assert outcome.error.status == "cancelled"
    (
        given(*history, aggregate=ClinicSession)
        .when(cancelling(uuid4()))
        .then(AppointmentNotFound, code="appointment_not_found")
    )


# ---------------------------------------------------------------------- check-in


def test_check_in_on_the_session_day() -> None:
    session = session_stream()
    card = formal_card()
    appointment_id = uuid4()
    at = ON_THE_DAY + timedelta(hours=1)

    def arrived(s: ClinicSession) -> None:
        appointment = s.appointments[appointment_id]
        assert appointment.status is AppointmentStatus.CHECKED_IN
        assert (appointment.checked_in_at, appointment.credential) == (
            at,
            CheckInCredential.ID_CARD,
        )
        assert s.booked == 1  # a checked-in appointment still holds its place

    outcome = (
        given(published(session), made(session, card, appointment_id), aggregate=ClinicSession)
        .when(checking_in(card, at))
        .then(
            expect(
                CheckedIn,
                appointment_id=appointment_id,
                card_id=card.id,
                credential=CheckInCredential.ID_CARD,
                audit=TRIAGE,
            )
        )
        .then_state(arrived)
    )
    assert outcome.result == appointment_id


@pytest.mark.parametrize(
    "at", [NOW, ON_THE_DAY + timedelta(days=1)], ids=["the day before", "the day after"]
)
def test_check_in_before_or_after_the_session_day_is_refused(at: datetime) -> None:
    session = session_stream()
    card = formal_card()
    (
        given(published(session), made(session, card), aggregate=ClinicSession)
        .when(checking_in(card, at))
        .then(CheckInNotOpen, code="check_in_not_open")
    )


def test_check_in_day_is_the_day_in_china() -> None:
    session = session_stream()
    card = formal_card()
    appointment_id = uuid4()
    # 2026-11-25 17:30 UTC is 2026-11-26 01:30 in China: the session's day.
    outcome = (
        given(published(session), made(session, card, appointment_id), aggregate=ClinicSession)
        .when(checking_in(card, datetime(2026, 11, 25, 17, 30, tzinfo=UTC)))
        .then(expect(CheckedIn, appointment_id=appointment_id))
    )
    assert outcome.result == appointment_id


def test_check_in_only_once() -> None:
    session = session_stream()
    card = formal_card()
    appointment_id = uuid4()
    history = [
        published(session),
        made(session, card, appointment_id),
        session(
            CheckedIn,
            appointment_id=appointment_id,
            card_id=card.id,
            credential=CheckInCredential.ID_CARD,
            audit=TRIAGE,
            at=ON_THE_DAY,
        ),
    ]
    outcome = (
        given(*history, aggregate=ClinicSession)
        .when(checking_in(card, ON_THE_DAY + timedelta(minutes=5)))
        .then(AppointmentNotActive, code="appointment_not_active")
    )
    assert isinstance(outcome.error, AppointmentNotActive)
    assert outcome.error.status == "checked_in"


def test_check_in_without_an_appointment_is_refused() -> None:
    session = session_stream()
    (
        given(published(session), made(session, formal_card()), aggregate=ClinicSession)
        .when(checking_in(formal_card()))
        .then(AppointmentNotFound, code="appointment_not_found")
    )


def test_check_in_with_a_cancelled_appointment_is_refused() -> None:
    session = session_stream()
    card = formal_card()
    appointment_id = uuid4()
    (
        given(
            published(session),
            made(session, card, appointment_id),
            session(AppointmentCancelled, appointment_id=appointment_id, reason="patient_request"),
            aggregate=ClinicSession,
        )
        .when(checking_in(card))
        .then(AppointmentNotFound, code="appointment_not_found")
    )


def test_check_in_with_a_frozen_card_is_refused() -> None:
    session = session_stream()
    card, history = card_events()
    booked = built(*history)
    frozen = built(*history, card(Frozen, reason="lost_phone"))
    (
        given(published(session), made(session, booked), aggregate=ClinicSession)
        .when(checking_in(frozen))
        .then(CardNotActive, code="card_not_active")
    )


# ------------------------------------------------------------------------ replay


def test_project_rebuilds_an_equal_session() -> None:
    session = publishing(uuid4(), capacity=3)()
    kept, cancelled, arrived = formal_card(), formal_card(), formal_card()
    booking(kept)(session)
    cancelled_id = uuid4()
    booking(cancelled, cancelled_id)(session)
    booking(arrived)(session)
    cancelling(cancelled_id)(session)
    checking_in(arrived)(session)
    events = session.collect_events()
    rebuilt = given(*events, aggregate=ClinicSession).build()
    assert rebuilt is not None
    assert aggregate_state(rebuilt) == aggregate_state(session)
    assert set(rebuilt.active_by_card) == {kept.id, arrived.id}
