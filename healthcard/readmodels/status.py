"""Where the read models stand: served version, position, lag, versions being built.

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

from healthcard.readmodels.store_sql import SqlViewStore, VersionInfo


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    version: int | None
    """The served version (None before the first catch-up)."""
    position: int
    head: int
    """The log's last notification id."""
    applied: int
    versions: tuple[VersionInfo, ...]

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
            "versions": [
                {
                    "version": v.version,
                    "state": v.state,
                    "position": v.position,
                    "applied": v.applied,
                    "created_at": v.created_at,
                }
                for v in self.versions
            ],
        }


def status(app: Application[UUID], store: SqlViewStore) -> ProjectionStatus:
    """The projection's status against the application's log."""
    head = app.recorder.max_notification_id() or 0
    versions = tuple(store.versions())
    current = store.current_version()
    served = next((v for v in versions if v.version == current), None)
    return ProjectionStatus(
        current,
        served.position if served else 0,
        head,
        served.applied if served else 0,
        versions,
    )
