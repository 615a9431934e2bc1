"""The ClinicSession aggregate: a doctor's half-day with a capacity, its appointments
and their triage check-ins.

Why the appointments live here: capacity is a rule over all appointments of the
session, so the session is the consistency boundary; concurrent bookings of the
last place conflict on its version and one of them is retried and refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from healthcard.domain.aggregate import Aggregate, applies
from healthcard.domain.audit import Audit
from healthcard.domain.card import HealthCard
from healthcard.domain.clinic_values import AppointmentStatus, CheckInCredential, Period
from healthcard.domain.clock import china_date
from healthcard.domain.errors import (
    AppointmentInPast,
    AppointmentNotActive,
    AppointmentNotFound,
    CheckInNotOpen,
    CommandIdReused,
    DuplicateAppointment,
    IdempotencyKeyReused,
    SessionFull,
)
from healthcard.domain.events.session import (
    AppointmentCancelled,
    AppointmentMade,
    CheckedIn,
    SessionPublished,
)


@dataclass(frozen=True, slots=True)
class Appointment:
    """An appointment inside its session (an entity of the session aggregate).

    Frozen: a change replaces the record, so copying the session (the repository's
    cache copies on every load) shares the records instead of copying each one.
    """

    appointment_id: UUID
    card_id: UUID
    status: AppointmentStatus
    booked_at: datetime
    checked_in_at: datetime | None = None
    credential: CheckInCredential | None = None


class ClinicSession(Aggregate):
    """Department, doctor, date and period, with a fixed number of places."""

    def _blank(self) -> None:
        self.department = ""
        self.doctor = ""
        self.day = date.min
        self.period = Period.MORNING
        self.capacity = 0
        self.appointments: dict[UUID, Appointment] = {}
        self.active_by_card: dict[UUID, UUID] = {}

    @classmethod
    def publish(
        cls,
        session_id: UUID,
        *,
        department: str,
        doctor: str,
        day: date,
        period: Period,
        capacity: int,
        audit: Audit,
        at: datetime,
    ) -> ClinicSession:
        if day < china_date(at):
            raise AppointmentInPast("day")
        session = cls.__new__(cls)
        Aggregate.__init__(session, session_id)
        session._blank()
        session._trigger(
            SessionPublished,
            department=department,
            doctor=doctor,
            day=day,
            period=period,
            capacity=capacity,
            audit=audit,
            at=at,
        )
        return session

    @property
    def booked(self) -> int:
        """Places taken: booked or checked-in appointments."""
        return len(self.active_by_card)

    @property
    def remaining(self) -> int:
        return self.capacity - self.booked

    def holds(self, appointment_id: UUID, card_id: UUID) -> bool:
        """True when ``appointment_id`` is already this card's appointment here (a retried
        booking, which then changes nothing); refused when the id, made from an
        idempotency key, was first used for another card."""
        existing = self.appointments.get(appointment_id)
        if existing is None:
            return False
        if existing.card_id != card_id:
            raise IdempotencyKeyReused()
        return True

    def is_full_for(self, card_id: UUID) -> bool:
        """Whether every place is taken and none by ``card_id``.

        Why a rule of its own: a full session refuses a booking whatever the card (its
        identity, its status), so in a rush the refusal needs no card loaded; a card
        that already holds a place here hears ``duplicate_appointment`` from ``book``.
        """
        return self.booked >= self.capacity and card_id not in self.active_by_card

    def ensure_place_for(self, card_id: UUID) -> None:
        """Refuse with ``SessionFull`` when the session :meth:`is_full_for` the card."""
        if self.is_full_for(card_id):
            raise SessionFull(self.id, self.capacity)

    def book(self, appointment_id: UUID, card: HealthCard, *, audit: Audit, at: datetime) -> None:
        """Book a place for ``card``: not full, identity complete, not past, once per card."""
        self.ensure_place_for(card.id)
        card.ensure_can_book()
        if china_date(at) > self.day:
            raise AppointmentInPast("session_id")
        if card.id in self.active_by_card:
            raise DuplicateAppointment(card.id, self.id)
        self._trigger(
            AppointmentMade, appointment_id=appointment_id, card_id=card.id, audit=audit, at=at
        )

    def cancel(self, appointment_id: UUID, reason: str, *, audit: Audit, at: datetime) -> None:
        appointment = self._appointment(appointment_id)
        if appointment.status is not AppointmentStatus.BOOKED:
            raise AppointmentNotActive(appointment_id, appointment.status.value)
        self._trigger(
            AppointmentCancelled, appointment_id=appointment_id, reason=reason, audit=audit, at=at
        )

    def check_in(
        self, card: HealthCard, credential: CheckInCredential, *, audit: Audit, at: datetime
    ) -> UUID:
        """Record the patient's arrival at the triage desk; returns the appointment id."""
        card.ensure_active()
        appointment_id = self.appointment_of(card.id)
        appointment = self.appointments[appointment_id]
        if appointment.status is not AppointmentStatus.BOOKED:
            raise AppointmentNotActive(appointment_id, appointment.status.value)
        if china_date(at) != self.day:
            raise CheckInNotOpen()
        self._trigger(
            CheckedIn,
            appointment_id=appointment_id,
            card_id=card.id,
            credential=credential,
            audit=audit,
            at=at,
        )
        return appointment_id

    def appointment_of(self, card_id: UUID) -> UUID:
        """The card's booked or checked-in appointment in this session."""
        appointment_id = self.active_by_card.get(card_id)
        if appointment_id is None:
            raise AppointmentNotFound(f"card {card_id} has no appointment in session {self.id}")
        return appointment_id

    def checked_in_appointment_of(self, card_id: UUID) -> UUID:
        """The card's checked-in appointment in this session (the answer to a retried
        check-in); ``CommandIdReused`` when the card has none: the command id that
        checked in someone came back for another card."""
        appointment_id = self.active_by_card.get(card_id)
        if (
            appointment_id is None
            or self.appointments[appointment_id].status is not AppointmentStatus.CHECKED_IN
        ):
            raise CommandIdReused()
        return appointment_id

    def _appointment(self, appointment_id: UUID) -> Appointment:
        try:
            return self.appointments[appointment_id]
        except KeyError:
            raise AppointmentNotFound(
                f"appointment {appointment_id} is not in session {self.id}"
            ) from None

    @applies(SessionPublished)
    def _published(self, event: SessionPublished) -> None:
        self.department = event.department
        self.doctor = event.doctor
        self.day = event.day
        self.period = event.period
        self.capacity = event.capacity

    @applies(AppointmentMade)
    def _made(self, event: AppointmentMade) -> None:
        self.appointments[event.appointment_id] = Appointment(
            event.appointment_id, event.card_id, AppointmentStatus.BOOKED, event.timestamp
        )
        self.active_by_card[event.card_id] = event.appointment_id

    @applies(AppointmentCancelled)
    def _cancelled(self, event: AppointmentCancelled) -> None:
        appointment = self.appointments[event.appointment_id]
        self.appointments[event.appointment_id] = replace(
            appointment, status=AppointmentStatus.CANCELLED
        )
        self.active_by_card.pop(appointment.card_id, None)

    @applies(CheckedIn)
    def _checked_in(self, event: CheckedIn) -> None:
        self.appointments[event.appointment_id] = replace(
            self.appointments[event.appointment_id],
            status=AppointmentStatus.CHECKED_IN,
            checked_in_at=event.timestamp,
            credential=event.credential,
        )
