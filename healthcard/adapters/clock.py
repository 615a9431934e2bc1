"""Clocks the application can be given: the system clock, and one you set by hand.

Why here and not in the test kit: the demo (``healthcard.simulation``) drives a whole
simulated day on a clock it moves, tests do the same, and replays pin time; all of
them sit above this layer. Both clocks satisfy :class:`healthcard.domain.clock.Clock`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from healthcard.domain.clock import CHINA_TZ


def system_clock() -> datetime:
    """Now, in China Standard Time."""
    return datetime.now(CHINA_TZ)


class FakeClock:
    """Callable clock that returns a set time; ``advance`` moves it forward.

    Each call returns the current time plus a microsecond tick, so events written
    one after the other still have strictly increasing timestamps.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start if start is not None else datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
        if self.now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FakeClock needs timezone-aware times")
        self.now = moment


__all__ = ["FakeClock", "system_clock"]
