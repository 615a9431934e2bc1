"""Funnel figures from the log: registered -> identity completed -> bound ->
appointment -> checked in -> seen, by registration channel or day; channel mix;
no-show rate.

Definitions (written down because every dashboard argues about them):

- The funnel counts **cards**, grouped by the channel and the China date of their
  registration (a cohort). A card reaches a stage when the log holds at least one
  event of it: ``IdentityCompleted``, ``Bound``, ``AppointmentMade``, ``CheckedIn``,
  and for *seen* a ``CardUsed`` with a clinical step (diagnosis, dispensing,
  examination, prescription, surgery; configurable). With a time range, the cohort
  is the cards registered in it; their later stages count whenever they happened.
  Stages are not prerequisites of each other (a card may be booked at a window without
  ever being bound to a phone), so a stage may hold more cards than the one before it.
- **Channel mix**: registrations per channel (share of the cohort); also card uses
  per point-of-care channel and check-ins per credential (ID card, QR).
- **No-show rate**: among appointments booked (in the time range) for sessions whose
  day is before ``as_of``, those neither cancelled nor checked in, divided by those
  not cancelled. ``as_of`` defaults to the China date of the last event read, so a
  replayed old log gives the figures it had then.

One pass over the log, topic-filtered in SQL; memory grows with the number of cards
and appointments, not with the number of events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from healthcard.analytics.log import LogFilter, LogReader, LogRecord, Progress
from healthcard.domain.clock import china_date
from healthcard.domain.events.base import topic_of
from healthcard.domain.events.card import Bound, CardUsed, IdentityCompleted, Registered
from healthcard.domain.events.session import (
    AppointmentCancelled,
    AppointmentMade,
    CheckedIn,
    SessionPublished,
)

STAGES: tuple[str, ...] = (
    "registered",
    "identity_completed",
    "bound",
    "appointment",
    "checked_in",
    "seen",
)
SEEN_STEPS: frozenset[str] = frozenset({"010102", "010103", "010104", "010106", "010107"})
"""Clinical national step codes: a card used for one of these was seen."""

REGISTERED = topic_of(Registered)
IDENTITY = topic_of(IdentityCompleted)
BOUND = topic_of(Bound)
MADE = topic_of(AppointmentMade)
CANCELLED = topic_of(AppointmentCancelled)
CHECKED_IN = topic_of(CheckedIn)
USED = topic_of(CardUsed)
PUBLISHED = topic_of(SessionPublished)
TOPICS = frozenset({REGISTERED, IDENTITY, BOUND, MADE, CANCELLED, CHECKED_IN, USED, PUBLISHED})
_BIT = {name: 1 << index for index, name in enumerate(STAGES)}


class GroupBy(StrEnum):
    CHANNEL = "channel"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """Cards reaching each stage, for one group (or all)."""

    group: str
    counts: dict[str, int]

    def conversion(self, stage: str) -> float | None:
        """Share of the previous stage's cards that reached ``stage``."""
        index = STAGES.index(stage)
        if index == 0:
            return None
        before = self.counts[STAGES[index - 1]]
        return None if before == 0 else self.counts[stage] / before

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "counts": dict(self.counts),
            "conversion": {stage: self.conversion(stage) for stage in STAGES[1:]},
        }


@dataclass(frozen=True, slots=True)
class NoShows:
    as_of: date | None
    past_appointments: int
    """Booked for sessions before ``as_of`` and not cancelled."""
    checked_in: int
    no_shows: int

    @property
    def rate(self) -> float | None:
        return None if self.past_appointments == 0 else self.no_shows / self.past_appointments


@dataclass(frozen=True, slots=True)
class Stats:
    by: GroupBy | None
    rows: list[FunnelRow]
    total: FunnelRow
    channel_mix: dict[str, int]
    usage_channels: dict[str, int]
    check_in_credentials: dict[str, int]
    appointments: int
    cancelled: int
    no_shows: NoShows
    events_read: int

    def to_json(self) -> dict[str, Any]:
        registered = sum(self.channel_mix.values())
        return {
            "by": None if self.by is None else self.by.value,
            "stages": list(STAGES),
            "funnel": [row.to_json() for row in self.rows],
            "total": self.total.to_json(),
            "channel_mix": {
                channel: {"cards": n, "share": n / registered if registered else None}
                for channel, n in self.channel_mix.items()
            },
            "usage_channels": dict(self.usage_channels),
            "check_in_credentials": dict(self.check_in_credentials),
            "appointments": self.appointments,
            "cancelled": self.cancelled,
            "no_shows": {
                "as_of": None if self.no_shows.as_of is None else self.no_shows.as_of.isoformat(),
                "past_appointments": self.no_shows.past_appointments,
                "checked_in": self.no_shows.checked_in,
                "no_shows": self.no_shows.no_shows,
                "rate": self.no_shows.rate,
            },
            "events_read": self.events_read,
        }


@dataclass
class FunnelBuilder:
    """Accumulates funnel figures from log records (feed it every record of TOPICS)."""

    by: GroupBy | None = None
    since: datetime | None = None
    until: datetime | None = None
    seen_steps: frozenset[str] = SEEN_STEPS
    cards: dict[str, list[Any]] = field(default_factory=dict)  # id -> [group, channel, bits]
    session_days: dict[str, date] = field(default_factory=dict)
    appointments: dict[str, list[Any]] = field(default_factory=dict)  # id -> [session, status]
    usage_channels: Counter[str] = field(default_factory=Counter)
    credentials: Counter[str] = field(default_factory=Counter)
    booked: int = 0
    cancelled: int = 0
    events: int = 0
    last_day: date | None = None

    def _in_range(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)

    def _reach(self, card_id: Any, stage: str) -> None:
        # Events of one save may precede the card's registration in the log (a save
        # writes its aggregates in argument order), so stages are kept for every card
        # and the cohort is decided when the registration is read.
        card = self.cards.get(str(card_id))
        if card is None:
            self.cards[str(card_id)] = [None, None, _BIT[stage]]
        else:
            card[2] |= _BIT[stage]

    def add(self, record: LogRecord) -> None:
        self.events += 1
        topic, state = record.topic, record.state
        at = record.timestamp
        self.last_day = china_date(at)
        if topic == REGISTERED:
            card = self.cards.setdefault(str(record.originator_id), [None, None, 0])
            if self._in_range(at):
                channel = state["audit"]["channel"]
                group = channel if self.by is GroupBy.CHANNEL else self.last_day.isoformat()
                card[0] = "all" if self.by is None else group
                card[1] = channel
                card[2] |= _BIT["registered"]
        elif topic == IDENTITY:
            self._reach(record.originator_id, "identity_completed")
        elif topic == BOUND:
            self._reach(record.originator_id, "bound")
        elif topic == PUBLISHED:
            self.session_days[str(record.originator_id)] = date.fromisoformat(state["day"])
        elif topic == MADE:
            self._reach(state["card_id"], "appointment")
            if self._in_range(at):
                self.booked += 1
                self.appointments[str(state["appointment_id"])] = [
                    str(record.originator_id),
                    "booked",
                ]
        elif topic == CANCELLED:
            self._set_status(state["appointment_id"], "cancelled")
        elif topic == CHECKED_IN:
            self._reach(state["card_id"], "checked_in")
            self._set_status(state["appointment_id"], "checked_in")
            if self._in_range(at):
                self.credentials[str(state["credential"])] += 1
        elif topic == USED:
            if state.get("step") in self.seen_steps:
                self._reach(record.originator_id, "seen")
            if self._in_range(at):
                self.usage_channels[state["audit"]["channel"]] += 1

    def _set_status(self, appointment_id: Any, status: str) -> None:
        appointment = self.appointments.get(str(appointment_id))
        if appointment is not None:
            if status == "cancelled":
                self.cancelled += 1
            appointment[1] = status

    def result(self, as_of: date | None = None) -> Stats:
        groups: dict[str, Counter[str]] = {}
        total: Counter[str] = Counter()
        channel_mix: Counter[str] = Counter()
        for group, channel, bits in self.cards.values():
            if group is None:  # not registered in the time range (or not in the log read)
                continue
            counts = groups.setdefault(group, Counter())
            channel_mix[channel] += 1
            for stage in STAGES:
                if bits & _BIT[stage]:
                    counts[stage] += 1
                    total[stage] += 1
        rows = [
            FunnelRow(group, {stage: counts[stage] for stage in STAGES})
            for group, counts in sorted(groups.items())
        ]
        day = as_of if as_of is not None else self.last_day
        past = checked = 0
        if day is not None:
            for session_id, status in self.appointments.values():
                session_day = self.session_days.get(session_id)
                if session_day is None or session_day >= day or status == "cancelled":
                    continue
                past += 1
                checked += status == "checked_in"
        return Stats(
            by=self.by,
            rows=rows,
            total=FunnelRow("total", {stage: total[stage] for stage in STAGES}),
            channel_mix=dict(channel_mix.most_common()),
            usage_channels=dict(self.usage_channels.most_common()),
            check_in_credentials=dict(self.credentials.most_common()),
            appointments=self.booked,
            cancelled=self.cancelled,
            no_shows=NoShows(day, past, checked, past - checked),
            events_read=self.events,
        )


def stats_from_records(
    records: Iterable[LogRecord],
    *,
    by: GroupBy | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: date | None = None,
    seen_steps: frozenset[str] = SEEN_STEPS,
) -> Stats:
    """Funnel figures from log records (in log order)."""
    builder = FunnelBuilder(by=by, since=since, until=until, seen_steps=seen_steps)
    for record in records:
        if record.topic in TOPICS:
            builder.add(record)
    return builder.result(as_of)


def compute_stats(
    app: Application[UUID],
    *,
    by: GroupBy | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: date | None = None,
    seen_steps: frozenset[str] = SEEN_STEPS,
    progress: Progress | None = None,
) -> Stats:
    """Funnel, channel mix and no-show rate of ``app``'s log (one streaming pass)."""
    records = LogReader(app).records(LogFilter(topics=TOPICS), progress=progress)
    return stats_from_records(
        records, by=by, since=since, until=until, as_of=as_of, seen_steps=seen_steps
    )


__all__ = [
    "SEEN_STEPS",
    "STAGES",
    "FunnelBuilder",
    "FunnelRow",
    "GroupBy",
    "NoShows",
    "Stats",
    "compute_stats",
    "stats_from_records",
]
