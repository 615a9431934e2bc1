"""Command histories of a clinic, and the read-model tables they must give.

Why in the kit: the booking and triage views are checked against a reference fold
written from the event classes (through the application's own mapper), independently
of ``healthcard.readmodels``: it keeps the read models' rules in their most obvious
form. Three ways to make a log: :class:`History` runs random abstract steps (for
property tests; refused commands are part of a history), :func:`busy_day` a fixed,
busy morning of ``people`` residents, and the constants (``PEOPLE``, ``document``,
``phone``, the audits) build hand-written scenarios. ``reference_tables`` gives the
five tables as ``SqlViewStore.dump()`` lists them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.log_reader import LogReader
from healthcard.adapters.privacy.masking import mask_document_number, mask_name
from healthcard.application import HealthCardApp
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CheckInWithDocument,
    CheckInWithQr,
    CompleteIdentity,
    ErasePersonalData,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UseCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import HealthCardError
from healthcard.domain.events.card import CardUsed, IdentityCompleted, PersonalDataErased
from healthcard.domain.events.session import (
    AppointmentCancelled,
    AppointmentMade,
    CheckedIn,
    SessionPublished,
)
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex
from healthcard.domain.usage import UsageStep
from healthcard.testing.strategies.values import with_check_digit

WINDOW = Audit(actor="staff-1", channel=Channel.WINDOW, institution="H510100001")
DESK = Audit(actor="nurse-1", channel=Channel.TRIAGE_DESK, institution="H510100001")
DOCTOR = Audit(actor="doc-1", channel=Channel.DOCTOR_WORKSTATION, institution="H510100001")
DEPARTMENTS = ("cardio", "derm")
DOCTORS = ("d1", "d2")
PERIODS = (Period.MORNING, Period.AFTERNOON)
NAMES = ("张三丰", "李四", "王小明", "欧阳娜娜", "赵六", "陈静")


def _resident_id(i: int) -> tuple[str, date, Sex]:
    born = date(1960 + i, 1 + i % 12, 1 + i)
    number = with_check_digit(f"510104{born:%Y%m%d}{100 + i:03d}")
    return number, born, Sex.MALE if int(number[16]) % 2 else Sex.FEMALE


PEOPLE = tuple((NAMES[i], *_resident_id(i)) for i in range(len(NAMES)))


def document(person: int) -> IdentityDocument:
    return IdentityDocument(type=DocumentType.RESIDENT_ID, number=PEOPLE[person][1])


def phone(person: int) -> AccountRef:
    return AccountRef(kind=AccountKind.PHONE, identifier=f"+861380013{person:04d}")


# -- random command histories ---------------------------------------------------------


@dataclass
class History:
    """Runs abstract steps against the application, choosing among what exists."""

    app: HealthCardApp
    clock: FakeClock
    cards: list[tuple[UUID, int]] = field(default_factory=list)
    sessions: list[UUID] = field(default_factory=list)
    appointments: list[tuple[UUID, UUID]] = field(default_factory=list)
    booked: list[tuple[UUID, int]] = field(default_factory=list)
    """(session, card index) of every booking made: check-ins mostly pick one."""
    arrived: list[int] = field(default_factory=list)
    """Card indexes that checked in: card uses mostly pick one."""

    def preamble(self) -> None:
        """Three formal, bound cards, two sessions today and three bookings, so that
        most random steps can succeed."""
        for person in range(3):
            self.step(0, person, 0)
            self.step(1, person, 0)
            self.step(2, person, 0)
        self.step(3, 0, 2)
        self.step(3, 1, 2)
        for session, card in ((0, 0), (0, 1), (1, 2)):
            self.step(4, session, card)

    def step(self, op: int, a: int, b: int) -> None:
        with contextlib.suppress(HealthCardError):  # a refused command writes nothing
            self._step(op, a, b)

    def _card(self, i: int) -> tuple[UUID, int]:
        return self.cards[i % len(self.cards)]

    def _step(self, op: int, a: int, b: int) -> None:
        app, today = self.app, self.clock.now.date()
        if op == 0:
            person = a % len(PEOPLE)
            card = app.register(RegisterCard(name=PEOPLE[person][0], audit=WINDOW))
            self.cards.append((card, person))
        elif not self.cards:
            return
        elif op == 1:
            card, person = self._card(a)
            name, _, born, sex = PEOPLE[person]
            app.complete_identity(
                CompleteIdentity(
                    card_id=card,
                    document=document(person),
                    name=name,
                    sex=sex,
                    birth_date=born,
                    audit=WINDOW,
                )
            )
        elif op == 2:
            card, person = self._card(a)
            app.bind(BindCard(card_id=card, account=phone(person), audit=WINDOW))
        elif op == 3:
            self.sessions.append(
                app.publish_session(
                    PublishSession(
                        department=DEPARTMENTS[a % 2],
                        doctor=DOCTORS[(a // 2) % 2],
                        day=today + timedelta(days=(b // 3) % 3),
                        period=PERIODS[(a // 4) % 2],
                        capacity=1 + b % 3,
                        audit=WINDOW,
                    )
                )
            )
        elif not self.sessions:
            return
        elif op == 4:
            session = self.sessions[a % len(self.sessions)]
            card, _ = self._card(b)
            made = app.make_appointment(
                MakeAppointment(session_id=session, card_id=card, audit=WINDOW)
            )
            self.appointments.append((session, made))
            self.booked.append((session, b % len(self.cards)))
        elif op == 5 and self.appointments:
            session, appointment = self.appointments[a % len(self.appointments)]
            app.cancel_appointment(
                CancelAppointment(session_id=session, appointment_id=appointment, audit=WINDOW)
            )
        elif op in (6, 7):
            session, card_index = self.sessions[a % len(self.sessions)], b
            if self.booked and a % 3:
                session, card_index = self.booked[b % len(self.booked)]
            if op == 6:
                person = self._card(card_index)[1]
                app.check_in_with_document(
                    CheckInWithDocument(session_id=session, document=document(person), audit=DESK)
                )
            else:
                token = self._token(card_index)
                app.check_in_with_qr(CheckInWithQr(session_id=session, token=token, audit=DESK))
            self.arrived.append(card_index % len(self.cards))
        elif op == 8:
            step = (
                UsageStep.DIAGNOSIS if b % 3 else (UsageStep.PAYMENT, UsageStep.DISPENSING)[b % 2]
            )
            card_index = self.arrived[a % len(self.arrived)] if self.arrived and a % 4 else a
            app.use_card(UseCard(token=self._token(card_index), step=step, audit=DOCTOR))
        elif op == 9 and a % 2 == 0:
            app.erase_personal_data(ErasePersonalData(card_id=self._card(b)[0], audit=WINDOW))
        elif op == 10:
            if b % 4 == 0:
                tomorrow = datetime.combine(today + timedelta(days=1), time(8), tzinfo=CHINA_TZ)
                self.clock.set(tomorrow)
            else:
                self.clock.advance(minutes=1 + a)

    def _token(self, i: int) -> str:
        card, person = self._card(i)
        return self.app.issue_token(IssueToken(card_id=card, account=phone(person), audit=WINDOW))


OPS = (0, 1, 2, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 8, 8, 9, 9, 10, 10)
"""Step kinds, weighted towards bookings, check-ins and card uses."""


def busy_day(app: HealthCardApp, clock: FakeClock, people: int) -> None:
    """A deterministic hospital morning: ``people`` residents register, complete their
    identity and bind a phone, book one of four sessions, check in (ID card or QR, some
    never come) and are seen (diagnosis) or only pay (no "seen")."""
    cards = []
    for i in range(people):
        born = date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
        doc = IdentityDocument(
            type=DocumentType.RESIDENT_ID,
            number=with_check_digit(f"510105{born:%Y%m%d}{i // 28 % 1000:03d}"),
        )
        sex = Sex.MALE if int(doc.number[16]) % 2 else Sex.FEMALE
        name = NAMES[i % len(NAMES)]
        card = app.register(RegisterCard(name=name, audit=WINDOW))
        app.complete_identity(
            CompleteIdentity(
                card_id=card, document=doc, name=name, sex=sex, birth_date=born, audit=WINDOW
            )
        )
        account = AccountRef(kind=AccountKind.PHONE, identifier=f"+86139{i:08d}")
        app.bind(BindCard(card_id=card, account=account, audit=WINDOW))
        cards.append((card, doc, account))
    today = clock.now.date()
    sessions = [
        app.publish_session(
            PublishSession(
                department=DEPARTMENTS[s % 2],
                doctor=f"m{s}",
                day=today,
                period=Period.MORNING,
                capacity=people,
                audit=WINDOW,
            )
        )
        for s in range(4)
    ]
    for i, (card, _, _) in enumerate(cards):
        app.make_appointment(
            MakeAppointment(session_id=sessions[i % 4], card_id=card, audit=WINDOW)
        )
    for i, (card, doc, account) in enumerate(cards):
        clock.advance(minutes=1)
        session = sessions[i % 4]
        if i % 7 == 6:
            continue  # never comes: a no-show once the day is over
        if i % 2:
            token = app.issue_token(IssueToken(card_id=card, account=account, audit=WINDOW))
            app.check_in_with_qr(CheckInWithQr(session_id=session, token=token, audit=DESK))
        else:
            app.check_in_with_document(
                CheckInWithDocument(session_id=session, document=doc, audit=DESK)
            )
    for i, (card, _, account) in enumerate(cards):
        clock.advance(minutes=2)
        steps_taken = (
            (UsageStep.PAYMENT,) if i % 5 == 4 else (UsageStep.DIAGNOSIS, UsageStep.PAYMENT)
        )
        for step in steps_taken:
            token = app.issue_token(IssueToken(card_id=card, account=account, audit=WINDOW))
            app.use_card(UseCard(token=token, step=step, audit=DOCTOR))


def history_steps() -> st.SearchStrategy[list[tuple[int, int, int]]]:
    """Random step lists for :meth:`History.step`: ``(kind, a, b)``."""
    return st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 40), st.integers(0, 40)),
        min_size=8,
        max_size=40,
    )


# -- the reference fold -----------------------------------------------------------------


def _at(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat()


def events(app: HealthCardApp) -> Iterator[Any]:
    """Every event of the log, decoded by the application's own mapper."""
    for notification in LogReader(app).notifications():
        yield app.mapper.to_domain_event(notification)


def reference_tables(app: HealthCardApp) -> tuple[dict[str, list[tuple[Any, ...]]], int]:
    """The five tables, as a plain fold; and how many events the read models use."""
    sessions: dict[UUID, list[Any]] = {}
    appointments: dict[UUID, list[Any]] = {}
    cards: dict[UUID, list[Any]] = {}
    triage: dict[UUID, list[Any]] = {}
    counters: dict[tuple[str, str], int] = {}
    used = 0
    for event in events(app):
        at = _at(event.timestamp)
        if isinstance(event, SessionPublished):
            used += 1
            sessions[event.originator_id] = [
                event.originator_id.hex,
                event.department,
                event.doctor,
                event.day.isoformat(),
                event.period.value,
                event.capacity,
                0,
                at,
            ]
        elif isinstance(event, AppointmentMade):
            used += 1
            sessions[event.originator_id][6] += 1
            appointments[event.appointment_id] = [
                event.appointment_id.hex,
                event.originator_id.hex,
                event.card_id.hex,
                "booked",
                at,
                None,
            ]
        elif isinstance(event, AppointmentCancelled):
            used += 1
            sessions[event.originator_id][6] -= 1
            appointment = appointments[event.appointment_id]
            appointment[3], appointment[5] = "cancelled", at
        elif isinstance(event, CheckedIn):
            used += 1
            session = sessions[event.originator_id]
            key = (session[1], session[3])
            counters[key] = counters.get(key, 0) + 1
            triage[event.appointment_id] = [
                event.appointment_id.hex,
                session[1],
                session[3],
                event.originator_id.hex,
                event.card_id.hex,
                counters[key],
                event.credential.value,
                at,
                "waiting",
                None,
            ]
        elif isinstance(event, CardUsed) and event.step is UsageStep.DIAGNOSIS:
            used += 1
            waiting = [
                row
                for row in triage.values()
                if row[4] == event.originator_id.hex and row[8] == "waiting" and row[2] == at[:10]
            ]
            if waiting:
                first = min(waiting, key=lambda row: (row[7], row[5]))
                first[8:] = ["seen", at]
        elif isinstance(event, IdentityCompleted):
            used += 1
            if event.name == "[erased]":  # decoded after the holder's key was deleted
                cards[event.originator_id] = [event.originator_id.hex, None, None, None, 1]
            else:
                cards[event.originator_id] = [
                    event.originator_id.hex,
                    mask_name(event.name),
                    mask_document_number(event.document.number),
                    event.document.type.value,
                    0,
                ]
        elif isinstance(event, PersonalDataErased):
            used += 1
            cards[event.originator_id] = [event.originator_id.hex, None, None, None, 1]
    tables = {
        "sessions": sessions,
        "appointments": appointments,
        "cards": cards,
        "triage": triage,
    }
    out = {name: sorted(tuple(row) for row in rows.values()) for name, rows in tables.items()}
    out["triage_counters"] = sorted((d, day, n) for (d, day), n in counters.items())
    return out, used


__all__ = [
    "DEPARTMENTS",
    "DESK",
    "DOCTOR",
    "NAMES",
    "OPS",
    "PEOPLE",
    "WINDOW",
    "History",
    "busy_day",
    "document",
    "events",
    "history_steps",
    "phone",
    "reference_tables",
]
