"""Events of the ClinicSession aggregate: publication, appointments, triage check-in."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import Field

from healthcard.domain.clinic_values import CheckInCredential, Period
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.text import Code, FreeText


class SessionPublished(DomainEvent):
    TOPIC = "healthcard.session.Published"

    department: FreeText
    doctor: Code
    day: date
    period: Period
    capacity: Annotated[int, Field(ge=1, le=10_000)]


class AppointmentMade(DomainEvent):
    TOPIC = "healthcard.session.AppointmentMade"

    appointment_id: UUID
    card_id: UUID


class AppointmentCancelled(DomainEvent):
    TOPIC = "healthcard.session.AppointmentCancelled"

    appointment_id: UUID
    reason: FreeText


class CheckedIn(DomainEvent):
    """The patient reported to the triage desk for this appointment."""

    TOPIC = "healthcard.session.CheckedIn"

    appointment_id: UUID
    card_id: UUID
    credential: CheckInCredential
