"""Value objects of clinic sessions and appointments.

``CHINA_TZ`` and ``china_date`` live in :mod:`healthcard.domain.clock`; they are
re-exported here because 0.1.0 code imports them from this module.
"""

from __future__ import annotations

from enum import StrEnum

from healthcard.domain.clock import CHINA_TZ, china_date

__all__ = [
    "CHINA_TZ",
    "AppointmentStatus",
    "CheckInCredential",
    "Period",
    "china_date",
]


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
