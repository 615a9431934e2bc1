"""What the read models answer: typed, masked rows, and the statuses derived at query time.

Why derive at query time: "no-show" depends on what day it is and "waiting time"
on what time it is, so the tables store facts (booked, checked in at, seen at) and
a query computes these against the ``today``/``now`` its caller gives, which keeps
the tables a pure function of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from uuid import UUID

from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels.model import BOOKED, CANCELLED, CHECKED_IN, NO_SHOW, SEEN


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: UUID
    department: str
    doctor: str
    day: date
    period: str
    capacity: int
    booked: int

    @property
    def remaining(self) -> int:
        return self.capacity - self.booked


@dataclass(frozen=True, slots=True)
class AppointmentView:
    appointment_id: UUID
    session_id: UUID
    card_id: UUID
    department: str
    doctor: str
    day: date
    period: str
    status: str
    """booked, cancelled, checked_in, seen or no_show."""
    booked_at: datetime
    masked_name: str | None
    masked_document: str | None
    credential: str | None
    queue_no: int | None


@dataclass(frozen=True, slots=True)
class TriageEntry:
    queue_no: int
    appointment_id: UUID
    card_id: UUID
    session_id: UUID
    doctor: str
    period: str
    masked_name: str | None
    masked_document: str | None
    credential: str
    checked_in_at: datetime
    status: str
    """waiting or seen."""
    seen_at: datetime | None
    waiting_minutes: float
    """Until seen; while waiting, until ``now`` (at most the end of that day)."""


@dataclass(frozen=True, slots=True)
class TriageDay:
    """A department's triage desk on a day."""

    department: str
    day: date
    expected: tuple[AppointmentView, ...]
    """Appointments holding a place (booked, checked in or seen), by session."""
    queue: tuple[TriageEntry, ...]
    """Check-ins in arrival order."""
    no_shows: tuple[AppointmentView, ...]
    """Still booked once the day is over (empty until then)."""


def hex_id(value: UUID | str) -> str:
    """The stored form of an id (32 hex digits) from a UUID or any UUID text."""
    return value.hex if isinstance(value, UUID) else UUID(value).hex


def appointment_status(status: str, triage_status: str | None, day: date, today: date) -> str:
    """The status shown for an appointment, as of ``today``: the stored booked/cancelled,
    refined by its triage entry (checked in, seen) or by the day being over (no-show)."""
    if status == CANCELLED:
        return CANCELLED
    if triage_status == SEEN:
        return SEEN
    if triage_status is not None:
        return CHECKED_IN
    if day < today:
        return NO_SHOW
    return BOOKED


def waiting_minutes(
    checked_in_at: datetime, seen_at: datetime | None, day: date, now: datetime
) -> float:
    """Minutes between arrival and being seen (or ``now``, capped at the day's end)."""
    end = seen_at
    if end is None:
        day_end = datetime.combine(day, time.max, tzinfo=CHINA_TZ)
        end = min(now, day_end)
    return max(0.0, (end - checked_in_at).total_seconds() / 60)
