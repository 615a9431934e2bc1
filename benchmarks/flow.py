"""The command flow's workload, shared by the benchmark scripts (run from this folder).

Synthetic people (valid resident IDs and phones), and the bare-eventsourcing side: the
same flow's aggregates written with eventsourcing's own ``Aggregate`` and ``@event``
and its default JSON transcoder, so that a ratio against them is healthcard's own cost
(validation, codec, sealing, keyed ids, rules).
"""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from stdnum.cn import ric

from healthcard.domain.audit import Audit
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import IssuerMode
from healthcard.testing.strategies import Person


class BareCard(Aggregate):
    @event("Registered")
    def __init__(self, name: str, phone: str) -> None:
        self.name = name
        self.phone = phone
        self.document: str | None = None
        self.accounts: list[UUID] = []

    @event("IdentityCompleted")
    def complete(self, document: str, birth_date: str) -> None:
        self.document = document

    @event("Bound")
    def bind(self, account_id: UUID) -> None:
        self.accounts.append(account_id)


class BareClaim(Aggregate):
    @event("Claimed")
    def __init__(self, card_id: UUID) -> None:
        self.card_id = card_id


class BareAccount(Aggregate):
    @event("Opened")
    def __init__(self, phone: str) -> None:
        self.phone = phone
        self.cards: list[UUID] = []

    @event("CardAdded")
    def add(self, card_id: UUID) -> None:
        self.cards.append(card_id)


class BareSession(Aggregate):
    @event("Published")
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.booked: list[UUID] = []

    @event("AppointmentMade")
    def book(self, card_id: UUID) -> None:
        self.booked.append(card_id)


class BareApp(Application[UUID]):
    name = "Bare"


def synthetic_people(count: int) -> list[tuple[str, str, str]]:
    people = []
    birth = date(1950, 1, 1)
    for i in range(count):
        born = birth + timedelta(days=(i * 37) % 25_000)
        first17 = f"510104{born:%Y%m%d}{i % 1000:03d}"
        number = first17 + ric.calc_check_digit(first17 + "0")
        phone = f"+86139{i:08d}"
        people.append((f"王{'一二三四五六七八九十'[i % 10]}", phone, number))
    return people


def formal_card(audit: Audit, at: datetime, who: Person) -> HealthCard:
    """A formal card made through the domain alone (no store, no keys, placeholder
    national ids), for benchmarks about what cards do, not how they are made."""
    card = HealthCard.register(
        uuid4(),
        issuer_mode=IssuerMode.PRODUCTION,
        name=who.name,
        phone=None,
        photo=None,
        volunteer=None,
        audit=audit,
        at=at,
    )
    card.complete_identity(
        document=who.document,
        name=who.name,
        sex=who.sex,
        birth_date=who.birth_date,
        verified_by=audit.institution,
        main_index_id="0" * 64,
        ehc_id="0" * 64,
        audit=audit,
        at=at,
    )
    return card


def p99(latencies: list[float]) -> float:
    """The 99th percentile of ``latencies`` (seconds), in milliseconds."""
    return statistics.quantiles(latencies, n=100)[98] * 1e3 if len(latencies) > 1 else 0.0


__all__ = [
    "BareAccount",
    "BareApp",
    "BareCard",
    "BareClaim",
    "BareSession",
    "formal_card",
    "p99",
    "synthetic_people",
]
