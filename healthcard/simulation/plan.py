"""The plan of a simulated day: every choice drawn before any command is sent.

Why a plan first: all choices (who arrives, through which channel, who stays
temporary, who books where) come from the caller's seeded ``random.Random`` in a
fixed order, so a seed gives the same plan; ``plan_day`` also guarantees that every
channel and every refusal kind shows up, whatever the seed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date

from healthcard.application.commands import AccountRef
from healthcard.domain.audit import Channel
from healthcard.domain.relation import Relation
from healthcard.simulation.hospital import SessionPlan, plan_sessions, preferred_department
from healthcard.simulation.people import CHILD_RELATIONS, Household, PeopleFactory, Resident

MIN_CARDS = 10
"""Fewest cards for which every refusal kind is guaranteed (see ``plan_day``)."""

REGISTRATION_CHANNELS = (
    Channel.WECHAT_OFFICIAL_ACCOUNT,
    Channel.KIOSK,
    Channel.WINDOW,
    Channel.APP,
)
CHANNEL_WEIGHTS = (35, 25, 15, 25)
HOUSEHOLD_SIZES = (1, 2, 3, 4, 5)
HOUSEHOLD_WEIGHTS = (25, 25, 25, 15, 10)
TEMPORARY_SHARE = 0.12
BOOKING_SHARE = 0.75


@dataclass(frozen=True, slots=True)
class CardPlan:
    """What happens to one resident's card during the day."""

    resident: Resident
    relation: Relation
    household: int
    channel: Channel
    volunteer: str | None
    complete_identity: bool
    department: str | None
    """The department this person tries to book in (``None``: no appointment)."""


@dataclass(frozen=True, slots=True)
class DayPlan:
    """Every choice of the day, drawn before any command is sent."""

    day: date
    family_cap: int
    households: tuple[Household, ...]
    cards: tuple[CardPlan, ...]
    """All cards in registration order (households' members are contiguous)."""
    sessions: tuple[SessionPlan, ...]
    booking_order: tuple[int, ...]
    """Indices into ``cards`` of the people who try to book, in the order they do."""

    @property
    def bind_attempts(self) -> int:
        return sum(len(bindings_of(household)) for household in self.households)

    @property
    def steps(self) -> int:
        """Planned steps, for a progress bar (check-ins count one per booker)."""
        return (
            len(self.sessions) + len(self.cards) + self.bind_attempts + 2 * len(self.booking_order)
        )


def bindings_of(household: Household) -> list[tuple[AccountRef, int, Relation]]:
    """(account, member index, relation) of every binding the household asks for."""
    asked = [(household.account, index, m.relation) for index, m in enumerate(household.members)]
    if household.second_account is not None:
        for index, member in enumerate(household.members):
            if member.relation is Relation.SPOUSE:
                asked.append((household.second_account, index, Relation.SELF))
            elif member.relation in CHILD_RELATIONS:
                asked.append((household.second_account, index, member.relation))
    return asked


def _household_sizes(rng: random.Random, cards: int, family_cap: int) -> list[int]:
    """Sizes adding up to ``cards``, with one family of ``family_cap + 1`` somewhere."""
    sizes: list[int] = []
    remaining = cards - (family_cap + 1)
    while remaining > 0:
        size = min(rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0], remaining)
        sizes.append(size)
        remaining -= size
    sizes.insert(rng.randrange(len(sizes) + 1), family_cap + 1)
    return sizes


def plan_day(rng: random.Random, *, cards: int, day: date, family_cap: int) -> DayPlan:
    """Draw the day's people and choices.

    Guarantees, for ``cards >= max(MIN_CARDS, family_cap + 1)``: every registration
    channel and a volunteer-assisted kiosk registration appear; one family has one
    card more than the cap (a binding is refused); at least one temporary card tries
    to book (refused: identity incomplete); at least 5 formal cards try to book,
    so some department has two or more patients and fewer places (a full session).
    """
    if cards < max(MIN_CARDS, family_cap + 1):
        raise ValueError(f"the demo needs at least {max(MIN_CARDS, family_cap + 1)} cards")
    people = PeopleFactory(rng, day)
    households = tuple(
        people.household(size, wechat=rng.random() < 0.35)
        for size in _household_sizes(rng, cards, family_cap)
    )
    members = [
        (number, member)
        for number, household in enumerate(households)
        for member in household.members
    ]
    channels = rng.choices(REGISTRATION_CHANNELS, CHANNEL_WEIGHTS, k=cards)
    for index, channel in zip(rng.sample(range(cards), 4), REGISTRATION_CHANNELS, strict=True):
        channels[index] = channel
    volunteers: list[str | None] = [
        f"vol-{rng.randrange(1, 13):03d}"
        if channel is Channel.KIOSK and rng.random() < 0.4
        else None
        for channel in channels
    ]
    if not any(volunteers):
        volunteers[channels.index(Channel.KIOSK)] = "vol-001"
    temporary = set(rng.sample(range(cards), max(1, round(cards * TEMPORARY_SHARE))))
    formal = [index for index in range(cards) if index not in temporary]
    bookers = rng.sample(formal, min(len(formal), max(5, round(len(formal) * BOOKING_SHARE))))
    temporary_bookers = rng.sample(sorted(temporary), max(1, len(temporary) // 2))
    booking_order = bookers + temporary_bookers
    rng.shuffle(booking_order)
    departments = {
        index: preferred_department(members[index][1].resident, day, rng).code
        for index in sorted(booking_order)
    }
    demand = Counter(departments[index] for index in bookers)
    card_plans = tuple(
        CardPlan(
            resident=member.resident,
            relation=member.relation,
            household=number,
            channel=channels[index],
            volunteer=volunteers[index],
            complete_identity=index not in temporary,
            department=departments.get(index),
        )
        for index, (number, member) in enumerate(members)
    )
    return DayPlan(
        day=day,
        family_cap=family_cap,
        households=households,
        cards=card_plans,
        sessions=tuple(plan_sessions(dict(demand), rng)),
        booking_order=tuple(booking_order),
    )


__all__ = [
    "BOOKING_SHARE",
    "MIN_CARDS",
    "REGISTRATION_CHANNELS",
    "CardPlan",
    "DayPlan",
    "bindings_of",
    "plan_day",
]
