"""Time in the domain: China Standard Time, and the clock the rules are given.

Why a protocol and not ``datetime.now()``: every rule that depends on time (no booking
in the past, check-in on the session's day, a token's lifetime) is handed the moment
by the application, which asks an injected clock. Tests, the demo and replays run on
a clock they control, so the same commands give the same log.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Protocol

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
"""Dates in the domain are dates in China Standard Time (UTC+8, no DST since 1991)."""


class Clock(Protocol):
    """Anything that says what time it is now (timezone-aware)."""

    def __call__(self) -> datetime: ...


def china_date(at: datetime) -> date:
    """The calendar date in China of an aware timestamp."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(CHINA_TZ).date()
