"""Full rebuild from position zero, blue/green: built beside the served version,
then swapped in atomically.

Why always beside: reads keep being served from version N while version N+1 is
built from the whole log; the batch that reaches the head also creates the query
indexes and moves the ``current_version`` pointer, in one transaction, so a
reader sees N or N+1 and never a half-built table. Version N is then dropped.
A live worker notices the swap on its next batch and follows N+1 from there.

Why a rebuild records its builder and beats: a rebuild killed outright runs none of
its clean-up, and its version would stay "building" forever with all its tables.
Version N+1 is created with its builder (host, process) and a heartbeat that each
of its transactions refreshes, so ``status`` tells a running build from a dead one and
``hygiene.collect_garbage`` can drop the dead one; a rebuild itself first drops
the builds whose builder is gone (:mod:`healthcard.readmodels.builders`).

What makes it fast: large batches (one transaction each, ``executemany``), only
the handled topics read and decoded, rows touched by many events written once
per batch, query indexes built once at the end, a bigger page cache meanwhile,
the next batch read from the log while the current one is written (a thread),
and the cyclic garbage collector paused (nothing in a rebuild makes cycles, and
its passes over the batches' many live objects doubled the cost of decoding).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application

from healthcard.readmodels.builders import STALE_AFTER_SECONDS, this_builder
from healthcard.readmodels.hygiene import drop_stale_builds
from healthcard.readmodels.logreader import Batch, BatchReader, Progress, paused_gc
from healthcard.readmodels.pipeline import Prefetched
from healthcard.readmodels.reader_process import READERS, ProcessBatches, can_read_elsewhere
from healthcard.readmodels.store_sql import SqlViewStore

REBUILD_BATCH = 10_000
"""Events read (and held in memory) at a time."""
TRANSACTION_EVENTS = 100_000
"""Folded events per transaction of a rebuild."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    version: int
    replaced: int | None
    """The version served before (now dropped), if any."""
    position: int
    applied: int
    seconds: float
    cleaned: tuple[int, ...] = ()
    """Versions of dead builds dropped before this one started."""

    @property
    def events_per_second(self) -> float:
        return self.position / self.seconds if self.seconds > 0 else 0.0


def rebuild(
    app: Application[UUID],
    store: SqlViewStore,
    *,
    batch_size: int = REBUILD_BATCH,
    transaction_events: int = TRANSACTION_EVENTS,
    progress: Progress | None = None,
    keep_old: bool = False,
    reader_env: Mapping[str, str] | None = None,
    readers: int = READERS,
    stale_after: float = STALE_AFTER_SECONDS,
    pause: float = 0.0,
) -> RebuildResult:
    """Build a new version from the whole log and make it the served one.

    Reads ``batch_size`` at a time (the memory bound: handled events per read
    here, log positions per range in a reader process) and commits every
    ``transaction_events`` folded events (fewer commits: each index page is written
    once per transaction, not once per batch). Rounds repeat until the log's head
    is within one transaction, which then also swaps the new version in. With
    ``reader_env`` (the settings ``app`` was opened with, see ``Projections``),
    ``readers`` processes read and decode the log; otherwise (or with
    ``readers=0``) a thread of this process does.

    First drops the versions of builds whose builder is gone (judged with
    ``stale_after``, see :mod:`healthcard.readmodels.builders`); then records this
    process as the new version's builder; every transaction also refreshes its
    heartbeat, until the one that swaps it in.

    ``pause``: seconds to wait after each transaction, holding no lock, so that a
    rebuild on a busy database leaves it to the application (a gentler, longer build).
    """
    started = time.perf_counter()
    reader = BatchReader(app, batch_size=batch_size)
    cleaned = tuple(v.version for v in drop_stale_builds(store, stale_after=stale_after))
    replaced = store.current_version()
    version = store.create_version(live=False, builder=this_builder())
    applied = 0
    position = 0
    try:
        with store.bulk_load(), paused_gc():
            while True:
                head = reader.head()
                final = head - position <= transaction_events  # positions >= events
                with _read_ahead(reader, reader_env, position, head, readers) as batches:
                    done = False
                    while not done:
                        with store.transaction(version, position, live=False) as txn:
                            for batch in batches:
                                txn.fold(batch.events, batch.needs)
                                position = batch.end
                                if position >= head or txn.applied >= transaction_events:
                                    break
                            done = position >= head
                            txn.finish(position, swap=final and done)
                        applied += txn.applied
                        if progress is not None:
                            progress(position, head)
                        if pause > 0 and not done:
                            time.sleep(pause)
                if final:
                    break
    except BaseException:
        store.drop_version(version)
        raise
    if replaced is not None and replaced != version and not keep_old:
        store.drop_version(replaced)
    return RebuildResult(
        version, replaced, position, applied, time.perf_counter() - started, cleaned
    )


def _read_ahead(
    reader: BatchReader, env: Mapping[str, str] | None, start: int, head: int, readers: int
) -> AbstractContextManager[Iterator[Batch]]:
    if readers > 0 and env is not None and can_read_elsewhere(env):
        return ProcessBatches(env, start, head, reader.batch_size, readers)
    return Prefetched(reader.batches(start, head))
