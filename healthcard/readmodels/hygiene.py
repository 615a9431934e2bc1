"""What each version of the views is, and clearing away the ones nobody serves.

A version is

- ``live``: the served one (the ``current_version`` pointer);
- ``building``: a rebuild is filling it and its builder is still there;
- ``stale``: it was being built, but its builder is gone (killed, crashed, its host
  lost; see :mod:`healthcard.readmodels.builders`), so it will never be finished;
- ``old``: served once and kept after a swap (``rebuild(keep_old=True)``).

Why clear them: each holds a full set of tables (a stale one from a large log as
much as the live one), and nothing else ever removes them. :func:`collect_garbage`
drops stale and old versions, with their tables, metadata and tracking, never the
live one nor a running build; on SQLite it then compacts the file so the space goes
back to the file system. A rebuild first drops stale builds itself
(:func:`drop_stale_builds`), but keeps old versions: someone asked for those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from healthcard.readmodels.builders import STALE_AFTER_SECONDS, Builder, builder_gone
from healthcard.readmodels.store_sql import BUILDING, LIVE, SqlViewStore, VersionInfo

STALE: Final = "stale"
OLD: Final = "old"
VERSION_STATES: Final = (LIVE, BUILDING, STALE, OLD)


def version_state(
    info: VersionInfo, current: int | None, *, stale_after: float = STALE_AFTER_SECONDS
) -> str:
    """``live``, ``building``, ``stale`` or ``old`` (see the module doc)."""
    if info.version == current:
        return LIVE
    if info.state != BUILDING:
        return OLD  # retired after a swap, or a live row the pointer left
    if builder_gone(info.builder, info.heartbeat_age, stale_after):
        return STALE
    return BUILDING


@dataclass(frozen=True, slots=True)
class VersionStatus:
    """A version as ``status`` shows it: what it is now, and the stored facts."""

    version: int
    state: str
    """live, building, stale or old."""
    position: int
    applied: int
    created_at: str
    stored_state: str
    """The state as stored (building, live or retired), which gc checks again."""
    builder: Builder | None
    heartbeat_at: str | None
    heartbeat_age: float | None
    """Seconds since the last heartbeat (or since creation), by the database's clock."""

    @classmethod
    def of(cls, info: VersionInfo, state: str) -> VersionStatus:
        return cls(
            info.version,
            state,
            info.position,
            info.applied,
            info.created_at,
            info.state,
            info.builder,
            info.heartbeat_at,
            info.heartbeat_age,
        )

    def to_json(self) -> dict[str, Any]:
        builder = self.builder
        return {
            "version": self.version,
            "state": self.state,
            "position": self.position,
            "applied": self.applied,
            "created_at": self.created_at,
            "builder": None
            if builder is None
            else {"host": builder.host, "pid": builder.pid, "process": builder.start},
            "heartbeat_at": self.heartbeat_at,
            "heartbeat_age_seconds": None
            if self.heartbeat_age is None
            else round(self.heartbeat_age, 1),
        }


def version_statuses(
    store: SqlViewStore, *, stale_after: float = STALE_AFTER_SECONDS
) -> tuple[VersionStatus, ...]:
    """Every version of ``store`` with what it is now."""
    current, versions = store.version_table()
    return tuple(
        VersionStatus.of(info, version_state(info, current, stale_after=stale_after))
        for info in versions
    )


@dataclass(frozen=True, slots=True)
class GcResult:
    """What :func:`collect_garbage` dropped, and the space before and after."""

    dropped: tuple[VersionStatus, ...]
    """The versions dropped, as they were judged (stale or old)."""
    kept: tuple[VersionStatus, ...]
    """The versions left: the live one and running builds."""
    tables: tuple[str, ...]
    """Every table dropped (a version's own, or one left by no version)."""
    bytes_before: int
    bytes_after: int
    compacted: bool
    """SQLite: the file was rewritten without the dropped pages and all of it given
    back (False: not asked, nothing dropped, or a reader delayed the checkpoint)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "dropped": [v.to_json() for v in self.dropped],
            "kept": [v.to_json() for v in self.kept],
            "tables": list(self.tables),
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "compacted": self.compacted,
        }


def _drop(
    store: SqlViewStore, statuses: Iterable[VersionStatus], states: Iterable[str], *, always: bool
) -> tuple[tuple[VersionStatus, ...], tuple[str, ...]]:
    """Drop the versions judged to be in one of ``states`` whose stored state has not
    changed since they were judged (a build that swapped in meanwhile is kept), and
    tables of no version; ``always``: look for those even with no version to drop."""
    wanted = set(states)
    doomed = {v.version: v for v in statuses if v.state in wanted}
    if not doomed and not always:
        return (), ()
    expect = {version: v.stored_state for version, v in doomed.items()}
    dropped = store.drop_versions(list(doomed), orphans=True, expect=expect)
    return tuple(doomed[v] for v in dropped.versions if v in doomed), dropped.tables


def drop_stale_builds(
    store: SqlViewStore, *, stale_after: float = STALE_AFTER_SECONDS
) -> tuple[VersionStatus, ...]:
    """Drop the versions whose builder is gone (what a rebuild does first)."""
    statuses = version_statuses(store, stale_after=stale_after)
    dropped, _ = _drop(store, statuses, (STALE,), always=False)
    return dropped


def collect_garbage(
    store: SqlViewStore,
    *,
    stale_after: float = STALE_AFTER_SECONDS,
    compact: bool = True,
) -> GcResult:
    """Drop stale builds and old versions (tables, metadata, tracking, and any table
    left by no version); never the live version nor a running build.

    ``compact``: on SQLite, rewrite the file afterwards so it shrinks
    (``SqliteViewStore.compact``); PostgreSQL gives a dropped table's space back at
    once. ``stale_after``: see :mod:`healthcard.readmodels.builders`.
    """
    before = store.storage_bytes()
    statuses = version_statuses(store, stale_after=stale_after)
    dropped, tables = _drop(store, statuses, (STALE, OLD), always=True)
    compacted = bool(compact and tables) and store.compact()
    names = {v.version for v in dropped}
    kept = tuple(
        v for v in version_statuses(store, stale_after=stale_after) if v.version not in names
    )
    return GcResult(dropped, kept, tables, before, store.storage_bytes(), compacted)


__all__ = [
    "BUILDING",
    "LIVE",
    "OLD",
    "STALE",
    "VERSION_STATES",
    "GcResult",
    "VersionStatus",
    "collect_garbage",
    "drop_stale_builds",
    "version_state",
    "version_statuses",
]
