"""Where the read models stand: served version, position, lag, and every version
with what it is now (live, building, stale or old; see ``hygiene``).

``lag`` is how many notifications of the log lie beyond the served version's
position (the pull runner moves the position to the head once it has read up to
it, so a caught-up projection has lag 0 even when the last events are of topics
it does not handle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from healthcard.readmodels.builders import STALE_AFTER_SECONDS
from healthcard.readmodels.hygiene import LIVE, VersionStatus, version_statuses
from healthcard.readmodels.store_sql import SqlViewStore


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    version: int | None
    """The served version (None before the first catch-up)."""
    position: int
    head: int
    """The log's last notification id."""
    applied: int
    versions: tuple[VersionStatus, ...]

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "position": self.position,
            "head": self.head,
            "lag": self.lag,
            "applied": self.applied,
            "versions": [v.to_json() for v in self.versions],
        }


def log_head(app: Application[UUID]) -> int:
    """The log's last notification id (0 for an empty log)."""
    return app.recorder.max_notification_id() or 0


def status(
    app: Application[UUID],
    store: SqlViewStore | None,
    *,
    stale_after: float = STALE_AFTER_SECONDS,
) -> ProjectionStatus:
    """The projection's status against the application's log.

    ``store`` None: no read models exist yet (nothing served, the whole log is lag).
    ``stale_after``: how old a heartbeat of a
    build on another host may be before that build counts as stale (see
    :mod:`healthcard.readmodels.builders`).
    """
    head = log_head(app)
    if store is None:
        return ProjectionStatus(None, 0, head, 0, ())
    versions = version_statuses(store, stale_after=stale_after)
    served = next((v for v in versions if v.state == LIVE), None)
    return ProjectionStatus(
        None if served is None else served.version,
        served.position if served else 0,
        head,
        served.applied if served else 0,
        versions,
    )
