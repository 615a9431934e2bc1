"""Value objects of clinic sessions and appointments."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
"""Dates in the domain are dates in China Standard Time (UTC+8, no DST since 1991)."""


def china_date(at: datetime) -> date:
    """The calendar date in China of an aware timestamp."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(CHINA_TZ).date()


class Period(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"


class CheckInCredential(StrEnum):
    """What the patient showed at the triage desk (seed: bound phone's QR or ID card)."""

    ID_CARD = "id_card"
    QR = "qr"
