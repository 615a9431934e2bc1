"""Assertions an embedder's tests make against a running application.

Why in the kit: "this command is refused with that code and writes nothing" is the
most common check of an event-sourced rule from the outside, and a test that only
catches the error would miss a refusal that wrote half of its events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from healthcard.adapters.log_reader import LogReader
from healthcard.application import HealthCardApp
from healthcard.domain.errors import HealthCardError


def log_position(app: HealthCardApp) -> int:
    """The application's log head (0 when empty)."""
    return app.recorder.max_notification_id() or 0


def topic_counts(app: HealthCardApp) -> Counter[str]:
    """How many events of each topic the application's log holds."""
    return Counter(n.topic for n in LogReader(app).notifications())


def refused(
    app: HealthCardApp, error: type[HealthCardError], code: str, command: Callable[[], object]
) -> HealthCardError:
    """Run ``command``; expect exactly ``error`` with ``code`` and an unchanged log."""
    before = log_position(app)
    with pytest.raises(error) as excinfo:
        command()
    assert type(excinfo.value) is error, f"expected {error.__name__}, got {excinfo.value!r}"
    assert excinfo.value.code == code, f"expected code {code!r}, got {excinfo.value.code!r}"
    assert log_position(app) == before, f"{error.__name__} raised, but events were written"
    return excinfo.value


__all__ = ["log_position", "refused", "topic_counts"]
