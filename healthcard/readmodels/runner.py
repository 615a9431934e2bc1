"""Keeping the read models current: pull in batches (SQLite), follow (PostgreSQL).

Why pull on SQLite: its recorder has no ``subscribe()``, so the runner reads
``select_notifications(position, limit, stop=head, topics=handled)`` in batches
and, once a batch reaches the head, moves the position to the head itself (events
of other topics need no work). On PostgreSQL it first catches up the same way,
then follows the log through eventsourcing's ``subscribe()`` (LISTEN/NOTIFY),
grouping whatever has arrived into one transaction. Every batch goes through
``SqlViewStore.apply_batch``: rows and position in one transaction, so a worker
killed at any point resumes from its last commit with nothing applied twice.

Run a worker as its own process: ``python -m healthcard.readmodels.runner``
(``--db events.sqlite3`` for SQLite; PostgreSQL from the ``POSTGRES_*`` variables).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    Notification,
    OperationalError,
)

from healthcard.adapters.persistence import sqlite_env
from healthcard.domain.errors import StoreUnavailable
from healthcard.readmodels.connect import open_projections
from healthcard.readmodels.decode import HANDLED_TOPICS
from healthcard.readmodels.logreader import Batch, BatchReader, Progress, paused_gc
from healthcard.readmodels.model import Needs
from healthcard.readmodels.store_sql import PositionMoved, SqlViewStore, VersionChanged

__all__ = ["Projector", "main", "paused_gc"]

LOG = logging.getLogger("healthcard.readmodels")
CATCH_UP_BATCH = 5_000
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
STORE_FAULTS = (OperationalError, InterfaceError, StoreUnavailable, psycopg.OperationalError)
"""What an outage of the event store or the views store raises through a worker."""
FOLLOW_BATCH = 2_000
POLL_SECONDS = 0.5
IDLE_SECONDS = 0.2


class Projector:
    """Moves the read models along the log of one application, exactly once."""

    def __init__(
        self, app: Application[UUID], store: SqlViewStore, *, batch_size: int = CATCH_UP_BATCH
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.reader = BatchReader(app, batch_size=batch_size)
        self.recorder: ApplicationRecorder = app.recorder
        self.decoder = self.reader.decoder
        self.store = store

    def head(self) -> int:
        return self.reader.head()

    def served_version(self) -> int:
        """The served version, created (empty, at position 0) if there is none yet."""
        return self.store.current_version() or self.store.create_version(live=True)

    def catch_up(self, *, progress: Progress | None = None) -> int:
        """Fold everything logged so far into the served version (created empty on
        first use); returns the number of events applied."""
        store = self.store
        version = self.served_version()
        head = self.head()
        applied = 0
        while True:
            start = store.position(version)
            if start >= head:
                return applied
            try:
                applied += self.step(version, start, head, live=True)[0]
            except VersionChanged:
                version = self.served_version()
            except PositionMoved:
                continue
            if progress is not None:
                progress(store.position(version), head)

    def step(
        self, version: int, start: int, head: int, *, live: bool, swap_at_head: bool = False
    ) -> tuple[int, int]:
        """Apply one batch after ``start`` (up to ``head``) to ``version``; returns the
        events applied and the new position. ``swap_at_head``: if the batch reaches
        ``head``, make ``version`` the served one in the same transaction."""
        with paused_gc():
            batch = next(self.reader.batches(start, head), Batch(start, start, [], Needs()))
            applied = self.store.apply_batch(
                version,
                start,
                batch.end,
                batch.events,
                live=live,
                swap=swap_at_head and batch.end >= head,
            )
        return applied, batch.end

    def run(self, stop: threading.Event, *, poll_seconds: float = POLL_SECONDS) -> None:
        """Keep the views current until ``stop`` is set: follow the log if the
        recorder can be subscribed to, otherwise poll it.

        Through an outage of either store it waits (doubling from
        :data:`RETRY_FIRST_SECONDS` up to :data:`RETRY_MAX_SECONDS`) and resumes from
        the last committed position: a batch and its position commit together, so
        nothing is applied twice or skipped.
        """
        wait = RETRY_FIRST_SECONDS
        while not stop.is_set():
            started = time.monotonic()
            try:
                self._run(stop, poll_seconds)
                return
            except STORE_FAULTS as fault:
                if time.monotonic() - started > RETRY_MAX_SECONDS:
                    wait = RETRY_FIRST_SECONDS  # it ran a while: a new outage
                LOG.warning(
                    "read models: a store is unavailable (%s); retrying in %.1f s",
                    type(fault).__name__,
                    wait,
                )
                stop.wait(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
                self._drop_dead_connections()

    def _drop_dead_connections(self) -> None:
        """Test the idle pooled connections of both stores and replace the ones the
        server ended (``ConnectionPool.check``), so the retry does not meet them."""
        for owner in (self.recorder, self.store):
            pool = getattr(getattr(owner, "datastore", None), "pool", None)
            check = getattr(pool, "check", None)
            if check is not None:
                with contextlib.suppress(Exception):
                    check()

    def _run(self, stop: threading.Event, poll_seconds: float) -> None:
        try:
            subscription = self.recorder.subscribe(gt=self.head(), topics=HANDLED_TOPICS)
        except NotImplementedError:
            while not stop.is_set():
                self.catch_up()
                stop.wait(poll_seconds)
            return
        with subscription:
            pass  # only probing: the recorder can be followed
        while not stop.is_set():
            self.catch_up()
            self._follow(stop)

    def _follow(self, stop: threading.Event) -> None:
        """Apply what the subscription delivers, in batches, until stopped or until the
        served version or the position changes under us (then the caller catches up)."""
        store = self.store
        version = self.served_version()
        position = store.position(version)
        inbox: queue.Queue[Notification | None] = queue.Queue(maxsize=4 * FOLLOW_BATCH)
        with self.recorder.subscribe(gt=position, topics=HANDLED_TOPICS) as subscription:
            failed: list[BaseException] = []

            def pump() -> None:
                try:
                    for notification in subscription:
                        inbox.put(notification)
                except Exception as error:  # the connection dropped: the worker decides
                    failed.append(error)
                finally:
                    inbox.put(None)

            thread = threading.Thread(target=pump, name="views-subscription", daemon=True)
            thread.start()
            try:
                while not stop.is_set():
                    batch = _drain(inbox, FOLLOW_BATCH, IDLE_SECONDS)
                    if batch is None:
                        if failed:
                            raise failed[0]
                        return  # the subscription ended (stopped): start again
                    batch = [n for n in batch if n.id > position]
                    if not batch:
                        # Idle: move past events of other topics, then go on following.
                        self.catch_up()
                        position = store.position(version)
                        continue
                    end = batch[-1].id
                    try:
                        store.apply_batch(
                            version, position, end, self.decoder.decode(batch), live=True
                        )
                    except (VersionChanged, PositionMoved):
                        return
                    position = end
            finally:
                subscription.stop()
                while thread.is_alive():  # it may wait to put into a full inbox
                    with contextlib.suppress(queue.Empty):
                        inbox.get(timeout=0.1)
                thread.join()


def _drain(
    inbox: queue.Queue[Notification | None], limit: int, wait: float
) -> list[Notification] | None:
    """Up to ``limit`` queued notifications (waiting at most ``wait`` for the first);
    ``None`` once the producer has finished."""
    try:
        first = inbox.get(timeout=wait)
    except queue.Empty:
        return []
    if first is None:
        return None
    batch = [first]
    while len(batch) < limit:
        try:
            item = inbox.get_nowait()
        except queue.Empty:
            break
        if item is None:
            inbox.put(None)
            break
        batch.append(item)
    return batch


def main(argv: Sequence[str] | None = None) -> int:
    """Worker process: keep the views current until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", help="SQLite event store (default: eventsourcing variables)")
    parser.add_argument("--views", help="views SQLite file (default: beside --db)")
    parser.add_argument("--batch-size", type=int, default=CATCH_UP_BATCH)
    parser.add_argument("--once", action="store_true", help="catch up once and exit")
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, help="SQLite poll seconds")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    env = sqlite_env(args.db) if args.db else None
    with open_projections(env, views_path=args.views) as projections:
        projector = Projector(projections.app, projections.store, batch_size=args.batch_size)
        if args.once:
            projector.catch_up()
        else:
            projector.run(stop, poll_seconds=args.poll)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
