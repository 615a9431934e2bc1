"""The audit trail of a card: who did what, through which channel and institution.

Read from the event metadata (``audit``) that every event carries: the card's own
events, and the clinic-session events about the card (appointments, cancellations,
check-ins), found by streaming the session topics of the log. Nothing personal is
shown: actors and institutions are codes, the card is its id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from healthcard.adapters.log_reader import LogReader
from healthcard.application import HealthCardApp
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.session import AppointmentCancelled, AppointmentMade, CheckedIn

_SESSION_TOPICS = [AppointmentMade.TOPIC, AppointmentCancelled.TOPIC, CheckedIn.TOPIC]
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One step in a card's life, as the audit metadata records it."""

    at: datetime
    what: str
    stream: UUID
    version: int
    actor: str
    channel: str
    institution: str
    correlation_id: UUID


def audit_trail(app: HealthCardApp, card_id: UUID) -> list[AuditEntry]:
    """Every recorded step concerning ``card_id``, in time order."""
    entries = [_entry(event) for event in app.events.get(card_id) if isinstance(event, DomainEvent)]
    entries.extend(_session_entries(app, card_id))
    entries.sort(key=lambda entry: (entry.at, entry.stream, entry.version))
    return entries


def _session_entries(app: HealthCardApp, card_id: UUID) -> Iterator[AuditEntry]:
    """Session events about the card; cancellations are matched by appointment id."""
    needle = str(card_id).encode()
    appointments: set[UUID] = set()
    opaque = app.mapper.cipher is not None or app.mapper.compressor is not None
    for notification in LogReader(app, batch_size=_BATCH).notifications(topics=_SESSION_TOPICS):
        if not (
            opaque
            or needle in notification.state
            or notification.topic == AppointmentCancelled.TOPIC
        ):
            continue  # cheap pre-filter on the JSON bytes
        event = app.mapper.to_domain_event(notification)
        if isinstance(event, AppointmentMade | CheckedIn) and event.card_id == card_id:
            appointments.add(event.appointment_id)
            yield _entry(event)
        elif isinstance(event, AppointmentCancelled) and event.appointment_id in appointments:
            yield _entry(event)


def _entry(event: DomainEvent) -> AuditEntry:
    return AuditEntry(
        at=event.timestamp,
        what=type(event).__name__,
        stream=event.originator_id,
        version=event.originator_version,
        actor=event.audit.actor,
        channel=event.audit.channel.value,
        institution=event.audit.institution,
        correlation_id=event.audit.correlation_id,
    )
