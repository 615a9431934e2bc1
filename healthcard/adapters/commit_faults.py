"""Knowing when a commit may have happened unheard: connection faults, per thread.

Why: a save that conflicts with events at the versions it writes is normally someone
else's write (optimistic concurrency: retry). It can also be this save's own write,
when the server committed but the reply was lost and eventsourcing sent the insert
again. Only in the second case did a connection fault happen during the save, so the
application reads back what it wrote only then (``HealthCardApp.save``): two
identical events saved concurrently still conflict as they must.

Watched at eventsourcing's PostgreSQL datastore (``datastore.get_connection``, through
which every statement goes); other stores (SQLite, in memory) have no such faults and
are left alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError


class ConnectionFaults(threading.local):
    """Whether a connection fault passed through since :meth:`reset` (this thread)."""

    seen = False

    def reset(self) -> None:
        self.seen = False


def watch_connection_faults(recorder: Any, faults: ConnectionFaults) -> bool:
    """Record in ``faults`` every connection fault of ``recorder``'s datastore; False
    when the store is local (nothing to watch)."""
    datastore = getattr(recorder, "datastore", None)
    inner = getattr(datastore, "get_connection", None)
    if inner is None or not type(datastore).__module__.endswith("postgres"):
        return False  # a local store's commit cannot go unheard

    @contextmanager
    def watched(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            with inner(*args, **kwargs) as connection:
                yield connection
        except (OperationalError, InterfaceError):
            faults.seen = True
            raise

    datastore.get_connection = watched  # type: ignore[union-attr]
    return True


__all__ = ["ConnectionFaults", "watch_connection_faults"]
