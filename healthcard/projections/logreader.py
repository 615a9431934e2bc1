"""Reading the log for the read models: decoded batches of the handled topics.

Why batches end at a given ``head``: a batch that reaches the head read at the
start of a pass carries the position ``head`` itself, so events of other topics at
the end of the log still move the position (and the lag reads 0 once caught up).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder

from healthcard.projections import fold
from healthcard.projections.decode import HANDLED_TOPICS, EventDecoder, ViewEvent
from healthcard.projections.model import Needs

Progress = Callable[[int, int], None]
"""Called with (position, head) after each batch or transaction."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Decoded events of the log positions ``(start, end]``."""

    start: int
    end: int
    events: list[ViewEvent]
    needs: Needs
    """The rows of earlier batches these events refer to (``fold.needs``)."""


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while batches are processed.

    Why: a batch builds tens of thousands of small dicts and tuples that all live
    until its end, and each automatic collection walks every one of them: measured,
    that doubled the cost of decoding. Nothing in a batch makes reference cycles
    (a rebuild of a million events left zero unreachable objects), so nothing is
    left for the collector; it resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class LogReader:
    """Pulls the handled topics of one application's log, ``batch_size`` at a time."""

    def __init__(self, app: Application[UUID], *, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.recorder: ApplicationRecorder = app.recorder
        self.decoder = EventDecoder.for_mapper(app.mapper)
        self.batch_size = batch_size

    def head(self) -> int:
        """The log's last notification id (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def batches(self, start: int, head: int) -> Iterator[Batch]:
        """Decoded batches after ``start``; the last one ends exactly at ``head``."""
        while start < head:
            notifications = self.recorder.select_notifications(
                start, self.batch_size, stop=head, topics=HANDLED_TOPICS, inclusive_of_start=False
            )
            end = head if len(notifications) < self.batch_size else notifications[-1].id
            events = self.decoder.decode(notifications)
            del notifications
            yield Batch(start, end, events, fold.needs(events))
            start = end
