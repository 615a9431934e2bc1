"""Booking read model: clinic sessions with their places, appointments and statuses.

Pure functions of (working set, event): no I/O, so the same code serves incremental
catch-up, a full rebuild and the tests. A session's ``booked`` counts appointments
holding a place (booked or checked in); ``remaining`` is ``capacity - booked``.
Check-ins and being seen are triage facts (``triage.py``); the booking queries join
them, so a check-in writes one row, not two.
"""

from __future__ import annotations

from healthcard.adapters.privacy.masking import mask_document_number, mask_name
from healthcard.readmodels.decode import ERASED_KEY, ViewEvent
from healthcard.readmodels.model import (
    BOOKED,
    CANCELLED,
    AppointmentRow,
    CardRow,
    MissingRow,
    SessionRow,
    Tables,
)


def session_of(tables: Tables, event: ViewEvent) -> SessionRow:
    """The session an event of a session aggregate belongs to."""
    session = tables.sessions.get(event.originator_id)
    if session is None:
        raise MissingRow(f"event at position {event.position} refers to an unknown session")
    return session


def appointment_of(tables: Tables, event: ViewEvent) -> AppointmentRow:
    appointment = tables.appointments.get(event.state["appointment_id"])
    if appointment is None:
        raise MissingRow(f"event at position {event.position} refers to an unknown appointment")
    return appointment


def on_published(tables: Tables, event: ViewEvent) -> None:
    state = event.state
    session_id = event.originator_id
    tables.sessions[session_id] = SessionRow(
        session_id,
        state["department"],
        state["doctor"],
        state["day"],
        state["period"],
        state["capacity"],
        0,
        state["timestamp"],
    )
    tables.dirty_sessions.add(session_id)


def on_appointment_made(tables: Tables, event: ViewEvent) -> None:
    session = session_of(tables, event)
    session.booked += 1
    tables.dirty_sessions.add(session.session_id)
    state = event.state
    appointment_id = state["appointment_id"]
    at = state["timestamp"]
    tables.appointments[appointment_id] = AppointmentRow(
        appointment_id, session.session_id, state["card_id"], BOOKED, at, None
    )
    tables.dirty_appointments.add(appointment_id)


def on_appointment_cancelled(tables: Tables, event: ViewEvent) -> None:
    session = session_of(tables, event)
    appointment = appointment_of(tables, event)
    if appointment.status == BOOKED:  # the aggregate refuses anything else
        session.booked -= 1
        tables.dirty_sessions.add(session.session_id)
    appointment.status = CANCELLED
    appointment.cancelled_at = event.state["timestamp"]
    tables.dirty_appointments.add(appointment.appointment_id)


def on_identity_completed(tables: Tables, event: ViewEvent) -> None:
    """Masked name and document number (the clear values are never stored here)."""
    state = event.state
    card_id = event.originator_id
    if state.get(ERASED_KEY):
        row = CardRow(card_id, None, None, None, 1)
    else:
        document = state["document"]
        row = CardRow(
            card_id,
            mask_name(state["name"]),
            mask_document_number(document["number"]),
            document["type"],
            0,
        )
    tables.cards[card_id] = row
    tables.dirty_cards.add(card_id)


def on_personal_data_erased(tables: Tables, event: ViewEvent) -> None:
    """Erasure removes even the masked values: the card stays, pseudonymous."""
    card_id = event.originator_id
    tables.cards[card_id] = CardRow(card_id, None, None, None, 1)
    tables.dirty_cards.add(card_id)
