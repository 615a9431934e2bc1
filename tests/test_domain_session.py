"""Unit tests of the ClinicSession aggregate: publication, booking, cancellation, check-in.

Why here and not through the application: capacity, dates and "once per card" are
rules of the session aggregate; the application only loads and saves it. Dates are
China dates (UTC+8), so some tests place ``at`` in UTC on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from healthcard.domain.aggregate import Aggregate
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
    HealthCardError,
    IdentityIncomplete,
    SessionFull,
)
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex
from healthcard.domain.events.session import (
    AppointmentCancelled,
    AppointmentMade,
    CheckedIn,
    SessionPublished,
)

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
TODAY = date(2026, 11, 25)
TOMORROW = TODAY + timedelta(days=1)
AUDIT = Audit(actor="staff-001", channel=Channel.APP, institution="H510100001")
TRIAGE = Audit(actor="nurse-03", channel=Channel.TRIAGE_DESK, institution="H510100001")


@contextmanager
def refused(aggregate: Aggregate, error: type[HealthCardError], code: str) -> Iterator[Any]:
    """Expect exactly ``error`` with ``code``, and no change recorded on ``aggregate``."""
    events_before = aggregate.pending_events
    version_before = aggregate.version
    with pytest.raises(error) as excinfo:
        yield excinfo
    assert type(excinfo.value) is error
    assert excinfo.value.code == code
    assert aggregate.pending_events == events_before
    assert aggregate.version == version_before


def publish(day: date = TOMORROW, capacity: int = 3, at: datetime = NOW) -> ClinicSession:
    return ClinicSession.publish(
        uuid4(),
        department="cardiology",
        doctor="dr-0042",
        day=day,
        period=Period.MORNING,
        capacity=capacity,
        audit=AUDIT,
        at=at,
    )


def temporary_card() -> HealthCard:
    return HealthCard.register(
        uuid4(),
        issuer_mode=IssuerMode.PRODUCTION,
        name="李雷",
        phone=None,
        photo=None,
        volunteer=None,
        audit=AUDIT,
        at=NOW,
    )


def formal_card() -> HealthCard:
    """A formal card (a passport avoids tying each card to a distinct resident ID)."""
    card = temporary_card()
    card.complete_identity(
        document=IdentityDocument(type=DocumentType.PASSPORT, number=f"E{uuid4().int % 10**8:08d}"),
        name="李雷",
        sex=Sex.MALE,
        birth_date=date(1990, 1, 1),
        verified_by=AUDIT.institution,
        main_index_id="A" * 64,
        ehc_id="B" * 64,
        audit=AUDIT,
        at=NOW,
    )
    return card


def book(session: ClinicSession, card: HealthCard, at: datetime = NOW) -> UUID:
    appointment_id = uuid4()
    session.book(appointment_id, card, audit=AUDIT, at=at)
    return appointment_id


# ------------------------------------------------------------------ publication


def test_publish_records_the_session() -> None:
    session = publish(capacity=20)
    [event] = session.pending_events
    assert isinstance(event, SessionPublished)
    assert (session.department, session.doctor) == ("cardiology", "dr-0042")
    assert (session.day, session.period, session.capacity) == (TOMORROW, Period.MORNING, 20)
    assert (session.booked, session.remaining) == (0, 20)


def test_a_session_may_be_published_for_today() -> None:
    assert publish(day=TODAY).day == TODAY


def test_a_session_in_the_past_is_refused() -> None:
    with pytest.raises(AppointmentInPast) as excinfo:
        publish(day=TODAY - timedelta(days=1))
    assert excinfo.value.code == "appointment_in_past"
    assert excinfo.value.field == "day"


def test_the_past_is_judged_by_the_date_in_china() -> None:
    # 2026-11-24 18:00 UTC is already 2026-11-25 02:00 in China: the 24th is past.
    at = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    with pytest.raises(AppointmentInPast):
        publish(day=date(2026, 11, 24), at=at)
    assert publish(day=date(2026, 11, 25), at=at).day == date(2026, 11, 25)


# ----------------------------------------------------------------------- booking


def test_book_takes_a_place() -> None:
    session = publish(capacity=2)
    card = formal_card()
    appointment_id = book(session, card)
    event = session.pending_events[-1]
    assert isinstance(event, AppointmentMade)
    assert (event.appointment_id, event.card_id) == (appointment_id, card.id)
    appointment = session.appointments[appointment_id]
    assert (appointment.card_id, appointment.status) == (card.id, AppointmentStatus.BOOKED)
    assert appointment.booked_at == NOW
    assert (session.booked, session.remaining) == (1, 1)


def test_booking_needs_a_complete_identity() -> None:
    session = publish()
    with refused(session, IdentityIncomplete, "identity_incomplete"):
        book(session, temporary_card())


def test_booking_needs_an_active_card() -> None:
    session = publish()
    card = formal_card()
    card.freeze("lost_phone", audit=AUDIT, at=NOW)
    with refused(session, CardNotActive, "card_not_active"):
        book(session, card)


def test_booking_after_the_session_date_is_refused() -> None:
    session = publish(day=TODAY)
    with refused(session, AppointmentInPast, "appointment_in_past"):
        book(session, formal_card(), at=NOW + timedelta(days=1))


def test_booking_on_the_session_day_is_accepted() -> None:
    session = publish(day=TODAY)
    book(session, formal_card(), at=NOW + timedelta(hours=3))
    assert session.booked == 1


def test_a_card_books_a_session_once() -> None:
    session = publish()
    card = formal_card()
    book(session, card)
    with refused(session, DuplicateAppointment, "duplicate_appointment"):
        book(session, card)


def test_a_full_session_is_refused() -> None:
    session = publish(capacity=2)
    book(session, formal_card())
    book(session, formal_card())
    with refused(session, SessionFull, "session_full") as excinfo:
        book(session, formal_card())
    assert excinfo.value.session_id == session.id
    assert (session.booked, session.remaining) == (2, 0)


def test_a_cancelled_appointment_frees_its_place() -> None:
    session = publish(capacity=1)
    first, second = formal_card(), formal_card()
    appointment_id = book(session, first)
    session.cancel(appointment_id, "patient_request", audit=AUDIT, at=NOW)
    assert isinstance(session.pending_events[-1], AppointmentCancelled)
    assert session.appointments[appointment_id].status is AppointmentStatus.CANCELLED
    assert session.remaining == 1
    book(session, second)
    assert session.booked == 1
    # The card whose appointment was cancelled may book again (if a place is free).
    with refused(session, SessionFull, "session_full"):
        book(session, first)


def test_cancelling_twice_or_an_unknown_appointment_is_refused() -> None:
    session = publish()
    appointment_id = book(session, formal_card())
    session.cancel(appointment_id, "patient_request", audit=AUDIT, at=NOW)
    with refused(session, AppointmentNotActive, "appointment_not_active") as excinfo:
        session.cancel(appointment_id, "patient_request", audit=AUDIT, at=NOW)
    assert excinfo.value.status == "cancelled"
    with refused(session, AppointmentNotFound, "appointment_not_found"):
        session.cancel(uuid4(), "patient_request", audit=AUDIT, at=NOW)


# ---------------------------------------------------------------------- check-in


def check_in(session: ClinicSession, card: HealthCard, at: datetime) -> UUID:
    return session.check_in(card, CheckInCredential.ID_CARD, audit=TRIAGE, at=at)


def test_check_in_on_the_session_day() -> None:
    session = publish()
    card = formal_card()
    appointment_id = book(session, card)
    at = NOW + timedelta(days=1, hours=1)
    assert check_in(session, card, at) == appointment_id
    event = session.pending_events[-1]
    assert isinstance(event, CheckedIn)
    assert event.credential is CheckInCredential.ID_CARD
    appointment = session.appointments[appointment_id]
    assert appointment.status is AppointmentStatus.CHECKED_IN
    assert (appointment.checked_in_at, appointment.credential) == (at, CheckInCredential.ID_CARD)
    assert session.booked == 1  # a checked-in appointment still holds its place


def test_check_in_before_or_after_the_session_day_is_refused() -> None:
    session = publish()
    card = formal_card()
    book(session, card)
    with refused(session, CheckInNotOpen, "check_in_not_open"):
        check_in(session, card, NOW)
    with refused(session, CheckInNotOpen, "check_in_not_open"):
        check_in(session, card, NOW + timedelta(days=2))


def test_check_in_day_is_the_day_in_china() -> None:
    session = publish()
    card = formal_card()
    appointment_id = book(session, card)
    # 2026-11-25 17:30 UTC is 2026-11-26 01:30 in China: the session's day.
    assert check_in(session, card, datetime(2026, 11, 25, 17, 30, tzinfo=UTC)) == appointment_id


def test_check_in_only_once() -> None:
    session = publish()
    card = formal_card()
    book(session, card)
    check_in(session, card, NOW + timedelta(days=1))
    with refused(session, AppointmentNotActive, "appointment_not_active") as excinfo:
        check_in(session, card, NOW + timedelta(days=1, minutes=5))
    assert excinfo.value.status == "checked_in"


def test_check_in_without_an_appointment_is_refused() -> None:
    session = publish()
    book(session, formal_card())
    with refused(session, AppointmentNotFound, "appointment_not_found"):
        check_in(session, formal_card(), NOW + timedelta(days=1))


def test_check_in_with_a_cancelled_appointment_is_refused() -> None:
    session = publish()
    card = formal_card()
    appointment_id = book(session, card)
    session.cancel(appointment_id, "patient_request", audit=AUDIT, at=NOW)
    with refused(session, AppointmentNotFound, "appointment_not_found"):
        check_in(session, card, NOW + timedelta(days=1))


def test_check_in_with_a_frozen_card_is_refused() -> None:
    session = publish()
    card = formal_card()
    book(session, card)
    card.freeze("lost_phone", audit=AUDIT, at=NOW)
    with refused(session, CardNotActive, "card_not_active"):
        check_in(session, card, NOW + timedelta(days=1))


# ------------------------------------------------------------------------ replay


def test_project_rebuilds_an_equal_session() -> None:
    session = publish(capacity=3)
    kept, cancelled, arrived = formal_card(), formal_card(), formal_card()
    book(session, kept)
    cancelled_id = book(session, cancelled)
    book(session, arrived)
    session.cancel(cancelled_id, "patient_request", audit=AUDIT, at=NOW)
    check_in(session, arrived, NOW + timedelta(days=1))
    events = session.collect_events()
    rebuilt = ClinicSession.project(None, events)
    assert rebuilt is not None
    assert {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"} == {
        k: v for k, v in vars(session).items() if k != "_pending_events"
    }
    assert set(rebuilt.active_by_card) == {kept.id, arrived.id}
