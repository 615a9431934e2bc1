"""Read models rebuilt from the event log: booking and triage.

Start here: ``catch_up_all(events.sqlite3)`` brings the views beside a SQLite event
store up to date; ``open_projections(env)`` gives the log and the view store for
queries (``store.available_sessions``, ``store.card_appointments``,
``store.session_appointments``, ``store.triage_day``), ``Projector`` keeps them
current, ``rebuild`` builds a new version beside the served one and swaps it in,
``status`` reports position, lag and versions (live, building, stale, old), and
``collect_garbage`` drops the versions nobody serves or builds any more (killed
rebuilds, kept old ones). See docs/projections.md.
"""

from __future__ import annotations

import os

from healthcard.adapters.persistence import local_sqlite_env
from healthcard.readmodels.connect import (
    Projections,
    ViewsConfigError,
    open_projections,
    views_path_for,
)
from healthcard.readmodels.decode import HANDLED_TOPICS
from healthcard.readmodels.hygiene import GcResult, VersionStatus, collect_garbage
from healthcard.readmodels.rebuild import RebuildResult, rebuild
from healthcard.readmodels.runner import Projector
from healthcard.readmodels.status import ProjectionStatus, status
from healthcard.readmodels.views import AppointmentView, SessionView, TriageDay, TriageEntry


def catch_up_all(
    event_db_path: str | os.PathLike[str], views_path: str | os.PathLike[str] | None = None
) -> dict[str, int]:
    """Bring the read models beside a SQLite event store up to date.

    Returns ``{"version", "position", "head", "applied"}``: the served version, its
    position after catching up, the log's head, and how many events this call folded.
    The views file defaults to ``views_path_for(event_db_path)``.
    """
    env = local_sqlite_env(event_db_path)  # encrypted at rest when <db>.key exists
    with open_projections(env, views_path=views_path) as projections:
        projector = Projector(projections.app, projections.store)
        applied = projector.catch_up()
        state = status(projections.app, projections.store)
        return {
            "version": state.version or 0,
            "position": state.position,
            "head": state.head,
            "applied": applied,
        }


__all__ = [
    "HANDLED_TOPICS",
    "AppointmentView",
    "GcResult",
    "ProjectionStatus",
    "Projections",
    "Projector",
    "RebuildResult",
    "SessionView",
    "TriageDay",
    "TriageEntry",
    "VersionStatus",
    "ViewsConfigError",
    "catch_up_all",
    "collect_garbage",
    "open_projections",
    "rebuild",
    "status",
    "views_path_for",
]
