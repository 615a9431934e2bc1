"""Tables of the read models, per version, in the two SQL dialects.

Why versions: a blue/green rebuild writes version N+1 into tables of its own
(``views_v2_sessions`` ...) while version N keeps serving reads; the swap is one
update of the ``current_version`` row. Query indexes are created after a bulk
load (cheaper than maintaining them row by row); the one index the fold itself
needs (waiting triage entries by card) exists from the start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    """(name, type) with type ``text`` or ``int``."""
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


SESSIONS = Table(
    "sessions",
    (
        ("session_id", "text"),
        ("department", "text"),
        ("doctor", "text"),
        ("day", "text"),
        ("period", "text"),
        ("capacity", "int"),
        ("booked", "int"),
        ("published_at", "text"),
    ),
    ("session_id",),
)
APPOINTMENTS = Table(
    "appointments",
    (
        ("appointment_id", "text"),
        ("session_id", "text"),
        ("card_id", "text"),
        ("status", "text"),
        ("booked_at", "text"),
        ("cancelled_at", "text"),
    ),
    ("appointment_id",),
)
CARDS = Table(
    "cards",
    (
        ("card_id", "text"),
        ("masked_name", "text"),
        ("masked_document", "text"),
        ("document_type", "text"),
        ("erased", "int"),
    ),
    ("card_id",),
)
TRIAGE = Table(
    "triage",
    (
        ("appointment_id", "text"),
        ("department", "text"),
        ("day", "text"),
        ("session_id", "text"),
        ("card_id", "text"),
        ("queue_no", "int"),
        ("credential", "text"),
        ("checked_in_at", "text"),
        ("status", "text"),
        ("seen_at", "text"),
    ),
    ("appointment_id",),
)
COUNTERS = Table(
    "triage_counters",
    (("department", "text"), ("day", "text"), ("last_queue_no", "int")),
    ("department", "day"),
)

TABLES: tuple[Table, ...] = (SESSIONS, APPOINTMENTS, CARDS, TRIAGE, COUNTERS)


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: str
    where: str = ""


FOLD_INDEXES: tuple[Index, ...] = (
    Index("triage_waiting", "triage", "card_id", "status = 'waiting'"),
)
"""Indexes the fold itself needs (loading a card's waiting triage entries)."""

QUERY_INDEXES: tuple[Index, ...] = (
    Index("sessions_dept_day", "sessions", "department, day"),
    Index("appointments_session", "appointments", "session_id"),
    Index("appointments_card", "appointments", "card_id"),
    Index("triage_dept_day", "triage", "department, day, queue_no"),
)
"""Indexes only the queries need: created once a rebuild's bulk load is done."""

META_TABLE = "views_meta"
VERSIONS_TABLE = "views_versions"
CURRENT_VERSION = "current_version"
LAST_VERSION = "last_version"
"""The highest version number given out (``views_meta``): numbers are never reused."""


_VERSION_TABLE = re.compile(r"views_v([0-9]+)_[a-z_]+")


def table_name(version: int, table: str) -> str:
    return f"views_v{version}_{table}"


def version_of_table(name: str) -> int | None:
    """The version a table (or index) name of :func:`table_name`'s form belongs to."""
    match = _VERSION_TABLE.fullmatch(name)
    return None if match is None else int(match.group(1))
