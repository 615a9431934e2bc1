"""Where card snapshots enter the application: loading from them, and taking them.

Why here and not eventsourcing's own snapshotting: its snapshots hold an aggregate's
``vars()`` as they are (personal data in clear beside the sealed events) and need an
event class with a ``mutate`` method; here the snapshot is ``adapters.snapshots``'
sealed, typed copy, and a cold load goes through :class:`SnapshottingRepository`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProjectorFunction, Repository
from eventsourcing.persistence import (
    AggregateRecorder,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)

from healthcard.adapters.privacy.keystore import SubjectErased
from healthcard.adapters.snapshots import CardSnapshots
from healthcard.domain.card import HealthCard

log = logging.getLogger(__name__)


class SnapshottingRepository(Repository[UUID]):
    """eventsourcing's repository, restoring a card from its latest snapshot on a
    cold load (a cache miss, or a past version): the events after it are folded on."""

    snapshots: CardSnapshots | None = None

    def _reconstruct_aggregate(
        self, aggregate_id: UUID, version: int | None, projector_func: ProjectorFunction[Any, Any]
    ) -> Any:
        # Only for a card expected as a card: a snapshot must never stand in for the
        # first event another kind of aggregate's projector would refuse.
        snapshots = self.snapshots
        if snapshots is None or projector_func != HealthCard.project:
            return super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        # Most cards have fewer events than the interval, so no snapshot: one query
        # reads them all (and no more than one past the interval). Only a card with
        # more events than that looks for its latest snapshot.
        store = self.event_store
        first = store.recorder.select_events(
            aggregate_id, lte=version, limit=snapshots.interval + 1
        )
        longer = len(first) > snapshots.interval
        if longer:
            card = snapshots.latest(aggregate_id, version)
            if card is not None:
                return projector_func(card, store.get(aggregate_id, gt=card.version, lte=version))
        events: Iterable[Any] = map(store.mapper.to_domain_event, first)
        if longer:
            rest = store.get(aggregate_id, gt=first[-1].originator_version, lte=version)
            events = chain(events, rest)
        aggregate = projector_func(None, events)
        if aggregate is None:
            raise AggregateNotFoundError(
                f"Aggregate {aggregate_id!r} version {version!r} not found."
            )
        return aggregate


SNAPSHOT_FAULTS = (IntegrityError, OperationalError, InterfaceError, SubjectErased)
"""What may stop a snapshot once its events are committed: another process stored the
same one, the store went away, the card was erased meanwhile. The command succeeded
all the same; the next interval takes another."""


def take_due_snapshots(
    snapshots: CardSnapshots, aggregates: Iterable[Any], events: Sequence[Any]
) -> None:
    """Snapshot the cards among ``aggregates`` that ``events`` (just committed) took
    past a multiple of the interval. Never fails the command that saved them."""
    counts: dict[UUID, int] = {}
    for event in events:
        counts[event.originator_id] = counts.get(event.originator_id, 0) + 1
    for aggregate in aggregates:
        if isinstance(aggregate, HealthCard) and snapshots.due(
            aggregate, counts.get(aggregate.id, 0)
        ):
            try:
                snapshots.take(aggregate)
            except SNAPSHOT_FAULTS as error:
                log.info("card snapshot not taken: %s", type(error).__name__)
            except Exception as error:
                # Anything else is a bug here, but the events are stored: a snapshot
                # must never turn a success into an error. Its class only: no data.
                log.warning("card snapshot failed: %s", type(error).__name__)


def snapshot_table_ready(recorder: AggregateRecorder) -> bool:
    """Whether the snapshot table exists (a process that may not create tables finds
    out at start; without it, cards replay from their events, as before snapshots)."""
    try:
        recorder.select_events(UUID(int=0), limit=1)
    except (ProgrammingError, OperationalError) as error:
        text = str(error).lower()
        if "no such table" in text or "does not exist" in text:
            return False
        raise
    return True
