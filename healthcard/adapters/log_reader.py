"""Reading an application's log in order, a page at a time: the one place that pages
through the recorder.

Why pages from the recorder: ``notification_log.select`` caps a read at the log
section size (10), and loading the log into a list does not scale to millions of
events. :meth:`LogReader.pages` asks the recorder for ``batch_size`` notifications
after a position (``select_notifications``), with the topic filter in the SQL query
itself, so memory stays flat whatever the size of the log.

Why a page carries the position it reaches (``end``): a reader that stops at a known
head (a projection catching up) must move past events of topics it does not read, so
the last page ends at the head itself even when its last notification is older.

Decoding is the mapper's (:meth:`healthcard.adapters.codec.PydanticMapper.decode_states`);
readers of the log (analytics, the read models, the demo) combine the two.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Notification

from healthcard.adapters.codec import PydanticMapper

DEFAULT_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class Page:
    """The notifications of the handled topics at log positions ``(start, end]``."""

    start: int
    end: int
    notifications: list[Notification]


class LogReader:
    """Pages through one application's log (constant memory)."""

    def __init__(self, app: Application[UUID], *, batch_size: int = DEFAULT_BATCH) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        mapper = app.mapper
        if not isinstance(mapper, PydanticMapper):
            raise TypeError("the application's mapper must be a PydanticMapper")
        self.app = app
        self.recorder: ApplicationRecorder = app.recorder
        self.mapper: PydanticMapper = mapper
        self.batch_size = batch_size

    def head(self) -> int:
        """The log's last position (notification id; 0 when empty)."""
        return int(self.recorder.max_notification_id() or 0)

    def pages(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        topics: Sequence[str] = (),
        batch_size: int | None = None,
    ) -> Iterator[Page]:
        """Pages of notifications after position ``after``, up to ``until`` (inclusive;
        ``None``: the end of the log as it grows), of ``topics`` (all when empty).

        With ``until``, the pages cover ``(after, until]`` exactly: the last one ends
        at ``until``. Without it, reading stops at the first page that is not full.
        """
        limit = batch_size if batch_size is not None else self.batch_size
        start = after
        while until is None or start < until:
            notifications = self.recorder.select_notifications(
                start, limit, stop=until, topics=topics, inclusive_of_start=False
            )
            full = len(notifications) == limit
            if full:
                end = notifications[-1].id
            elif until is not None:
                end = until
            else:
                end = notifications[-1].id if notifications else start
            yield Page(start, end, list(notifications))
            if not full:
                return
            start = end

    def notifications(
        self, *, after: int = 0, until: int | None = None, topics: Sequence[str] = ()
    ) -> Iterator[Notification]:
        """Every notification of :meth:`pages`, one by one."""
        for page in self.pages(after=after, until=until, topics=topics):
            yield from page.notifications


__all__ = ["DEFAULT_BATCH", "LogReader", "Page"]
