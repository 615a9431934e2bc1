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

from healthcard.adapters.log_reader import LogReader
from healthcard.readmodels import fold
from healthcard.readmodels.decode import HANDLED_TOPICS, EventDecoder, ViewEvent
from healthcard.readmodels.model import Needs

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


class BatchReader:
    """Decoded batches of the handled topics of one application's log, over the one
    log reader (:class:`healthcard.adapters.log_reader.LogReader`)."""

    def __init__(self, app: Application[UUID], *, batch_size: int) -> None:
        self.log = LogReader(app, batch_size=batch_size)
        self.decoder = EventDecoder(self.log.mapper)
        self.batch_size = batch_size

    def head(self) -> int:
        """The log's last notification id (0 when empty)."""
        return self.log.head()

    def batches(self, start: int, head: int) -> Iterator[Batch]:
        """Decoded batches after ``start``; the last one ends exactly at ``head``."""
        for page in self.log.pages(after=start, until=head, topics=HANDLED_TOPICS):
            events = self.decoder.decode(page.notifications)
            yield Batch(page.start, page.end, events, fold.needs(events))
