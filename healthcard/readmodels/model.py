"""Rows of the read models and the working set one batch of events is folded into.

Why a working set: the tables are the projection's state. Before a batch is
folded, the store loads just the rows the batch touches (by key, in bulk); the
fold changes them in memory; the store writes back the changed rows once, with
the tracking position, in one transaction. A row touched by many events of a
batch is read once and written once, and nothing else is held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

BOOKED = "booked"
CANCELLED = "cancelled"
CHECKED_IN = "checked_in"
SEEN = "seen"
NO_SHOW = "no_show"
"""Appointment statuses shown by the booking read model. The appointments table
stores booked/cancelled; ``checked_in`` and ``seen`` come from the triage row of the
same appointment; ``no_show`` is derived: still booked once the session's day is over."""

WAITING = "waiting"
"""Triage status of a checked-in patient not yet seen (then ``seen``)."""

DIAGNOSIS_STEP = "010102"
"""National usage step code of diagnosis: the card used for it means "seen"."""

PERIOD_ORDER = {"morning": 0, "afternoon": 1, "evening": 2}


@dataclass(slots=True)
class SessionRow:
    session_id: str
    department: str
    doctor: str
    day: str
    period: str
    capacity: int
    booked: int
    published_at: str

    def values(self) -> tuple[str, str, str, str, str, int, int, str]:
        return (
            self.session_id,
            self.department,
            self.doctor,
            self.day,
            self.period,
            self.capacity,
            self.booked,
            self.published_at,
        )


@dataclass(slots=True)
class AppointmentRow:
    """A booking; its check-in and being seen live in the triage row of the same id."""

    appointment_id: str
    session_id: str
    card_id: str
    status: str
    """booked or cancelled."""
    booked_at: str
    cancelled_at: str | None

    def values(self) -> tuple[str, str, str, str, str, str | None]:
        return (
            self.appointment_id,
            self.session_id,
            self.card_id,
            self.status,
            self.booked_at,
            self.cancelled_at,
        )


@dataclass(slots=True)
class CardRow:
    """Only masked values: the read models never hold a clear name or number."""

    card_id: str
    masked_name: str | None
    masked_document: str | None
    document_type: str | None
    erased: int

    def values(self) -> tuple[str, str | None, str | None, str | None, int]:
        return (
            self.card_id,
            self.masked_name,
            self.masked_document,
            self.document_type,
            self.erased,
        )


@dataclass(slots=True)
class TriageRow:
    appointment_id: str
    department: str
    day: str
    session_id: str
    card_id: str
    queue_no: int
    credential: str
    checked_in_at: str
    status: str
    seen_at: str | None

    def values(self) -> tuple[str, str, str, str, str, int, str, str, str, str | None]:
        return (
            self.appointment_id,
            self.department,
            self.day,
            self.session_id,
            self.card_id,
            self.queue_no,
            self.credential,
            self.checked_in_at,
            self.status,
            self.seen_at,
        )


@dataclass(slots=True)
class CounterRow:
    """The last queue number given at a department's triage desk on a day."""

    department: str
    day: str
    last_queue_no: int

    def values(self) -> tuple[str, str, int]:
        return (self.department, self.day, self.last_queue_no)


CounterKey = tuple[str, str]
CounterLoader = Callable[[CounterKey], CounterRow | None]


class MissingRow(LookupError):
    """An event refers to a row its own aggregate's earlier events should have made:
    the log is corrupt or was filtered. Carries the position, never personal data."""


@dataclass
class Needs:
    """Keys a batch refers to that earlier batches may have written."""

    session_ids: set[str] = field(default_factory=set)
    appointment_ids: set[str] = field(default_factory=set)
    used_card_ids: set[str] = field(default_factory=set)


def _no_counter(_key: CounterKey) -> CounterRow | None:
    return None


@dataclass
class Tables:
    """The rows one batch works on, and which of them it changed."""

    sessions: dict[str, SessionRow] = field(default_factory=dict)
    appointments: dict[str, AppointmentRow] = field(default_factory=dict)
    cards: dict[str, CardRow] = field(default_factory=dict)
    triage: dict[str, TriageRow] = field(default_factory=dict)
    counters: dict[CounterKey, CounterRow] = field(default_factory=dict)
    waiting_by_card: dict[str, list[str]] = field(default_factory=dict)
    """Card id -> appointment ids of its triage entries still waiting."""
    counter_loader: CounterLoader = _no_counter
    triage_loaded_for: set[str] = field(default_factory=set)
    """Cards whose waiting triage rows have been loaded already."""
    dirty_sessions: set[str] = field(default_factory=set)
    dirty_appointments: set[str] = field(default_factory=set)
    dirty_cards: set[str] = field(default_factory=set)
    dirty_triage: set[str] = field(default_factory=set)
    dirty_counters: set[CounterKey] = field(default_factory=set)

    def add_triage(self, row: TriageRow) -> None:
        """Add a loaded or new triage row, indexing it by card while it waits."""
        self.triage[row.appointment_id] = row
        if row.status == WAITING:
            self.waiting_by_card.setdefault(row.card_id, []).append(row.appointment_id)

    def clear_dirty(self) -> None:
        """After the changed rows were written (the rows themselves stay loaded)."""
        for dirty in (
            self.dirty_sessions,
            self.dirty_appointments,
            self.dirty_cards,
            self.dirty_triage,
            self.dirty_counters,
        ):
            dirty.clear()

    def counter(self, key: CounterKey) -> CounterRow:
        row = self.counters.get(key)
        if row is None:
            row = self.counter_loader(key) or CounterRow(key[0], key[1], 0)
            self.counters[key] = row
        return row
