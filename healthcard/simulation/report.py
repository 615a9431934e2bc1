"""The figures of a simulated day, and their machine-readable form.

Why the event counts are read back from the store rather than tallied: the summary
must say what was written, so a figure that disagrees with the log would be a bug
made visible (the CLI tests compare both). Refusals are never written (a refused
command writes nothing), so they can only be tallied by the simulation.

Nothing here holds personal data in clear: account identifiers and member names
are masked when the report is built.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from healthcard.adapters.log_reader import LogReader
from healthcard.application import HealthCardApp
from healthcard.domain.card_values import AccountKind
from healthcard.domain.clinic_values import AppointmentStatus, CheckInCredential, Period
from healthcard.domain.relation import Relation

READ_BATCH = 1000


def events_by_topic(app: HealthCardApp) -> dict[str, int]:
    """How many events of each topic the application's log holds, topics sorted."""
    counts: Counter[str] = Counter()
    for page in LogReader(app, batch_size=READ_BATCH).pages():
        counts.update(notification.topic for notification in page.notifications)
    return dict(sorted(counts.items()))


@dataclass(frozen=True, slots=True)
class SessionFigures:
    """A clinic session at the end of the day, as read back from its aggregate."""

    session_id: UUID
    department: str
    doctor: str
    period: Period
    capacity: int
    booked: int
    checked_in: int

    @property
    def remaining(self) -> int:
        return self.capacity - self.booked

    @classmethod
    def of(cls, app: HealthCardApp, session_id: UUID) -> SessionFigures:
        session = app.session(session_id)
        checked_in = sum(
            1
            for appointment in session.appointments.values()
            if appointment.status is AppointmentStatus.CHECKED_IN
        )
        return cls(
            session_id=session.id,
            department=session.department,
            doctor=session.doctor,
            period=session.period,
            capacity=session.capacity,
            booked=session.booked,
            checked_in=checked_in,
        )


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """One mobile account and the cards it holds (masked identifier and names)."""

    kind: AccountKind
    masked_identifier: str
    members: tuple[tuple[str, Relation], ...]
    """(masked name, relation) of each bound card, in binding order."""


@dataclass(slots=True)
class DayReport:
    """Everything the demo prints, in one place."""

    seed: int
    cards: int
    day: date
    family_cap: int
    registrations_by_channel: dict[str, int] = field(default_factory=dict)
    volunteer_assisted: int = 0
    formal: int = 0
    temporary: int = 0
    accounts: list[AccountFigures] = field(default_factory=list)
    sessions: list[SessionFigures] = field(default_factory=list)
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(command, error code) -> how many commands the service refused."""
    appointments_made: int = 0
    check_ins: int = 0
    card_uses: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(national step code, channel) -> cards used there with a QR token."""
    events_by_topic: dict[str, int] = field(default_factory=dict)

    @property
    def bindings(self) -> int:
        return sum(len(account.members) for account in self.accounts)

    @property
    def refusals_by_code(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for (_command, code), count in self.refusals.items():
            counts[code] += count
        return dict(sorted(counts.items()))

    def accounts_by_cards_held(self) -> dict[int, int]:
        held = Counter(len(account.members) for account in self.accounts)
        return dict(sorted(held.items()))

    def card_uses_by_step(self) -> dict[str, dict[str, int]]:
        """Step code -> channel -> uses, both sorted."""
        by_step: dict[str, dict[str, int]] = {}
        for (step, channel), count in sorted(self.card_uses.items()):
            by_step.setdefault(step, {})[channel] = count
        return by_step

    def to_json(self) -> dict[str, Any]:
        """The same figures as the printed tables, for machines (``summary.json``)."""
        by_command: dict[str, dict[str, int]] = {}
        for (command, code), count in sorted(self.refusals.items()):
            by_command.setdefault(command, {})[code] = count
        return {
            "seed": self.seed,
            "cards": self.cards,
            "day": self.day.isoformat(),
            "family_cap": self.family_cap,
            "events": {
                "total": sum(self.events_by_topic.values()),
                "by_topic": self.events_by_topic,
            },
            "registrations": {
                "total": sum(self.registrations_by_channel.values()),
                "by_channel": self.registrations_by_channel,
                "volunteer_assisted": self.volunteer_assisted,
            },
            "cards_by_kind": {"formal": self.formal, "temporary": self.temporary},
            "bindings": {
                "total": self.bindings,
                "accounts": len(self.accounts),
                "accounts_by_kind": dict(
                    sorted(Counter(account.kind.value for account in self.accounts).items())
                ),
                "accounts_by_cards_held": {
                    str(held): count for held, count in self.accounts_by_cards_held().items()
                },
            },
            "sessions": [
                {
                    "session_id": str(figures.session_id),
                    "department": figures.department,
                    "doctor": figures.doctor,
                    "period": figures.period.value,
                    "capacity": figures.capacity,
                    "booked": figures.booked,
                    "remaining": figures.remaining,
                    "checked_in": figures.checked_in,
                }
                for figures in self.sessions
            ],
            "appointments": {"made": self.appointments_made},
            "refusals": {
                "total": sum(self.refusals.values()),
                "by_code": self.refusals_by_code,
                "by_command": by_command,
            },
            "check_ins": {
                "total": self.check_ins,
                "by_credential": {CheckInCredential.ID_CARD.value: self.check_ins},
                "no_shows": self.appointments_made - self.check_ins,
            },
            "card_uses": {
                "total": sum(self.card_uses.values()),
                "by_step": self.card_uses_by_step(),
            },
        }
