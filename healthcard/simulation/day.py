"""A simulated day at a Sichuan hospital, driven through the public application API.

The day, on a fake clock starting at 07:30 (China Standard Time):

* 07:30 the clinic sessions of the day are published (four departments, morning
  and afternoon, a few places each);
* 07:35-08:45 households arrive: each member registers through a channel (WeChat
  official account, kiosk — some helped by a volunteer —, window, app) with a
  photo reference and a phone; a community health centre completes most
  identities (Art. 13), some cards stay temporary; the holder's account binds the
  family's cards, and one family is larger than the cap on purpose;
* 08:45-09:30 patients book; temporary cards and full sessions are refused;
* 09:30-11:30 and 13:30-16:30 most booked patients check in at the triage desk
  with their ID card; 10-45 minutes after checking in, most of those whose card is
  bound to an account show a fresh QR token at the doctor's workstation (diagnosis),
  some then at the lab (examination) and the pharmacy (dispensing); one token is
  scanned twice on purpose (refused: replayed).

Why a plan first (``plan.py``) and then a run: every choice (who, which channel,
who books where) is drawn from one ``random.Random(seed)`` before any command, and the ids
that would otherwise be random (card and appointment ids via idempotency keys,
correlation ids) come from the same generator, so one seed gives the same log.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from uuid import UUID

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.privacy.masking import mask_account, mask_name
from healthcard.application import HealthCardApp
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CheckInWithDocument,
    CompleteIdentity,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UseCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import CHINA_TZ, china_date
from healthcard.domain.errors import (
    HealthCardError,
    RuleViolation,
    SessionFull,
    TokenRejected,
    TokenRejectReason,
)
from healthcard.domain.relation import Relation
from healthcard.domain.usage import TokenUse, UsageStep
from healthcard.simulation.hospital import HOSPITAL, PRIMARY_INSTITUTIONS
from healthcard.simulation.people import Household, synthetic_photo
from healthcard.simulation.plan import REGISTRATION_CHANNELS, CardPlan, bindings_of, plan_day
from healthcard.simulation.report import AccountFigures, DayReport, SessionFigures, events_by_topic

BOOKING_CHANNELS = (Channel.WECHAT_OFFICIAL_ACCOUNT, Channel.APP, Channel.MINI_PROGRAM)
CHECK_IN_SHARE = 0.85
CARD_USE_SHARE = 0.8
"""Share of checked-in patients with a bound card who show a QR token to the doctor."""
LAB_SHARE = 0.4
PHARMACY_SHARE = 0.6
LAB_CHANNELS = (Channel.WINDOW, Channel.KIOSK)
Progress = Callable[[str, int], None]
"""Called with a phase name and how many planned steps were just done."""


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ)


class HospitalDay:
    """Runs a ``DayPlan`` against an application whose clock is ``clock``."""

    def __init__(self, app: HealthCardApp, clock: FakeClock, *, seed: int, cards: int) -> None:
        self.app = app
        self.clock = clock
        self.rng = random.Random(seed)  # noqa: S311 (reproducible simulation, not security)
        # Command ids (recorded in every event) from a stream of their own, so that the
        # day drawn from ``rng`` does not depend on them.
        self._command_ids = random.Random(f"{seed}/command ids")  # noqa: S311
        day = china_date(clock.now)
        self.plan = plan_day(self.rng, cards=cards, day=day, family_cap=app.config.family_cap)
        self.report = DayReport(
            seed=seed,
            cards=cards,
            day=day,
            family_cap=app.config.family_cap,
            registrations_by_channel={channel.value: 0 for channel in REGISTRATION_CHANNELS},
        )
        self.card_ids: list[UUID] = []
        self.session_ids: list[UUID] = []
        self.appointments: list[tuple[int, int]] = []  # (session index, card index)
        self.bound: dict[str, list[tuple[int, Relation]]] = {}  # account identifier -> bound cards
        self.holders: dict[int, AccountRef] = {}  # card index -> account showing its QR code
        self.replayed = False  # one token scanned twice on purpose, once a day
        self._progress: Progress = _no_progress

    # -- helpers ------------------------------------------------------------------------

    def _uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def _command_id(self) -> UUID:
        return UUID(int=self._command_ids.getrandbits(128), version=4)

    def _key(self) -> str:
        return f"demo-{self.rng.getrandbits(96):024x}"

    def _audit(self, actor: str, channel: Channel, institution: str = HOSPITAL) -> Audit:
        return Audit(
            actor=actor, channel=channel, institution=institution, correlation_id=self._uuid()
        )

    def _slot(self, start: datetime, end: datetime, index: int, count: int) -> datetime:
        """The ``index``-th of ``count`` slots between start and end (randomly placed)."""
        return start + (end - start) * ((index + self.rng.random()) / max(count, 1))

    def _spread(self, start: datetime, end: datetime, index: int, count: int) -> None:
        """Move the clock to the ``index``-th of ``count`` slots between start and end."""
        self.clock.set(max(self._slot(start, end, index, count), self.clock.now))

    def _refused(self, command: str, error: HealthCardError) -> None:
        self.report.refusals[(command, error.code)] += 1

    # -- the day ------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> DayReport:
        """Send every command of the plan, then read the figures back from the store."""
        self._progress = progress if progress is not None else _no_progress
        self._publish_sessions()
        self._arrivals()
        self._bookings()
        self._check_ins()
        self._finish_report()
        return self.report

    def _publish_sessions(self) -> None:
        self.clock.set(max(_at(self.plan.day, 7, 30), self.clock.now))
        for session in self.plan.sessions:
            self.session_ids.append(
                self.app.publish_session(
                    PublishSession(
                        command_id=self._command_id(),
                        audit=self._audit("scheduler", Channel.SYSTEM),
                        department=session.department,
                        doctor=session.doctor,
                        day=self.plan.day,
                        period=session.period,
                        capacity=session.capacity,
                    )
                )
            )
            self._progress("publishing sessions", 1)

    def _arrivals(self) -> None:
        start, end = _at(self.plan.day, 7, 35), _at(self.plan.day, 8, 45)
        by_household: dict[int, list[int]] = {}
        for index, card in enumerate(self.plan.cards):
            by_household.setdefault(card.household, []).append(index)
        for number, household in enumerate(self.plan.households):
            self._spread(start, end, number, len(self.plan.households))
            indices = by_household[number]
            for index in indices:
                self._register(self.plan.cards[index])
                self._progress("registering", 1)
            for account, member, relation in bindings_of(household):
                self._bind(account, indices[member], relation)
                self._progress("binding", 1)

    def _register(self, card: CardPlan) -> None:
        person = card.resident
        actor = {
            Channel.WECHAT_OFFICIAL_ACCOUNT: "wechat-oa",
            Channel.APP: "hospital-app",
            Channel.KIOSK: f"kiosk-{self.rng.randrange(1, 9):02d}",
            Channel.WINDOW: f"staff-{self.rng.randrange(1, 31):03d}",
        }[card.channel]
        card_id = self.app.register(
            RegisterCard(
                command_id=self._command_id(),
                audit=self._audit(actor, card.channel),
                name=person.name,
                phone=person.phone,
                photo=synthetic_photo(self.rng),
                volunteer=card.volunteer,
                idempotency_key=self._key(),
            )
        )
        self.card_ids.append(card_id)
        self.report.registrations_by_channel[card.channel.value] += 1
        self.report.volunteer_assisted += card.volunteer is not None
        if not card.complete_identity:
            self.report.temporary += 1
            return
        self.clock.advance(seconds=self.rng.randint(20, 90))
        institution = self.rng.choice(PRIMARY_INSTITUTIONS)
        self.app.complete_identity(
            CompleteIdentity(
                command_id=self._command_id(),
                audit=self._audit(
                    f"staff-{self.rng.randrange(1, 31):03d}", Channel.WINDOW, institution
                ),
                card_id=card_id,
                document=person.document,
                name=person.name,
                sex=person.sex,
                birth_date=person.birth_date,
            )
        )
        self.report.formal += 1

    def _bind(self, account: AccountRef, index: int, relation: Relation) -> None:
        wechat = account.kind is AccountKind.WECHAT
        channel = Channel.WECHAT_OFFICIAL_ACCOUNT if wechat else Channel.APP
        try:
            self.app.bind(
                BindCard(
                    command_id=self._command_id(),
                    audit=self._audit("account-service", channel),
                    card_id=self.card_ids[index],
                    account=account,
                    relation=relation,
                )
            )
        except RuleViolation as refusal:
            self._refused("bind", refusal)
            return
        self.bound.setdefault(account.identifier, []).append((index, relation))
        if relation is Relation.SELF or index not in self.holders:
            self.holders[index] = account  # the patient's own account if any, else family's

    def _bookings(self) -> None:
        start, end = _at(self.plan.day, 8, 45), _at(self.plan.day, 9, 30)
        by_department: dict[str, list[int]] = {}
        for number, planned in enumerate(self.plan.sessions):
            by_department.setdefault(planned.department, []).append(number)
        for position, index in enumerate(self.plan.booking_order):
            self._spread(start, end, position, len(self.plan.booking_order))
            options = by_department[str(self.plan.cards[index].department)]
            for session in self.rng.sample(options, min(2, len(options))):
                if self._book(session, index):
                    break
            self._progress("booking", 1)

    def _book(self, session: int, index: int) -> bool:
        """Try one session; True when booked or refused for a reason other than full."""
        try:
            self.app.make_appointment(
                MakeAppointment(
                    command_id=self._command_id(),
                    audit=self._audit("booking", self.rng.choice(BOOKING_CHANNELS)),
                    session_id=self.session_ids[session],
                    card_id=self.card_ids[index],
                    idempotency_key=self._key(),
                )
            )
        except RuleViolation as refusal:
            self._refused("book", refusal)
            return not isinstance(refusal, SessionFull)
        self.appointments.append((session, index))
        self.report.appointments_made += 1
        return True

    def _check_ins(self) -> None:
        windows = {
            Period.MORNING: (_at(self.plan.day, 9, 30), _at(self.plan.day, 11, 30)),
            Period.AFTERNOON: (_at(self.plan.day, 13, 30), _at(self.plan.day, 16, 30)),
        }
        for period, (start, end) in windows.items():
            arriving = [
                (session, index)
                for session, index in self.appointments
                if self.plan.sessions[session].period is period
            ]
            visits: list[tuple[datetime, int, int]] = []  # (when seen, session, card index)
            for position, (session, index) in enumerate(arriving):
                self._progress("triage check-in", 1)
                if self.rng.random() >= CHECK_IN_SHARE:
                    continue  # did not come
                slot = self._slot(start, end, position, len(arriving))
                visits = self._see_patients(visits, until=slot)
                self.clock.set(max(slot, self.clock.now))
                if (
                    self._check_in(session, index)
                    and index in self.holders
                    and self.rng.random() < CARD_USE_SHARE
                ):
                    seen_at = self.clock.now + timedelta(minutes=self.rng.randint(10, 45))
                    visits.append((seen_at, session, index))
            self._see_patients(visits, until=None)
        self._progress("triage check-in", len(self.plan.booking_order) - len(self.appointments))

    def _see_patients(
        self, visits: list[tuple[datetime, int, int]], until: datetime | None
    ) -> list[tuple[datetime, int, int]]:
        """Hold the visits due by ``until`` (all if ``None``); return those still waiting."""
        visits = sorted(visits, key=lambda visit: visit[0])
        due = [visit for visit in visits if until is None or visit[0] <= until]
        for seen_at, session, index in due:
            self.clock.set(max(seen_at, self.clock.now))
            self._visit(session, index)
        return visits[len(due) :]

    def _visit(self, session: int, index: int) -> None:
        """The doctor, then perhaps the lab and the pharmacy, each scanning a fresh token."""
        department = self.plan.sessions[session].department
        desk = f"ws-{department}-{self.rng.randrange(1, 6):02d}"
        token = self._use(
            index, TokenUse.DIAGNOSIS, UsageStep.DIAGNOSIS, desk, Channel.DOCTOR_WORKSTATION
        )
        if not self.replayed:
            self.replayed = True
            self._replay(token, desk)
        if self.rng.random() < LAB_SHARE:
            self.clock.advance(minutes=self.rng.randint(5, 20))
            channel = self.rng.choice(LAB_CHANNELS)
            actor = f"lab-{channel.value}-{self.rng.randrange(1, 4):02d}"
            self._use(index, TokenUse.BLOOD_DRAW, UsageStep.EXAMINATION, actor, channel)
        if self.rng.random() < PHARMACY_SHARE:
            self.clock.advance(minutes=self.rng.randint(5, 25))
            actor = f"pharmacy-{self.rng.randrange(1, 4):02d}"
            self._use(index, TokenUse.PHARMACY, UsageStep.DISPENSING, actor, Channel.WINDOW)

    def _use(self, index: int, use: TokenUse, step: UsageStep, actor: str, channel: Channel) -> str:
        """Issue a token on the holder's phone and have it scanned seconds later."""
        account = self.holders[index]
        wechat = account.kind is AccountKind.WECHAT
        token = self.app.issue_token(
            IssueToken(
                command_id=self._command_id(),
                audit=self._audit(
                    "wechat-oa" if wechat else "hospital-app",
                    Channel.WECHAT_OFFICIAL_ACCOUNT if wechat else Channel.APP,
                ),
                card_id=self.card_ids[index],
                account=account,
                use=use,
            )
        )
        self.clock.advance(seconds=self.rng.randint(5, 40))  # well within the 60 s lifetime
        self.app.use_card(
            UseCard(
                audit=self._audit(actor, channel),
                command_id=self._command_id(),
                token=token,
                step=step,
            )
        )
        self.report.card_uses[(step.value, channel.value)] += 1
        return token

    def _replay(self, token: str, desk: str) -> None:
        """Scan an accepted token again (a double scan): refused as replayed, nothing written."""
        self.clock.advance(seconds=self.rng.randint(1, 5))
        try:
            self.app.use_card(
                UseCard(
                    command_id=self._command_id(),
                    audit=self._audit(desk, Channel.DOCTOR_WORKSTATION),
                    token=token,
                    step=UsageStep.DIAGNOSIS,
                )
            )
        except TokenRejected as refusal:
            if refusal.reason is not TokenRejectReason.REPLAYED:
                raise
            self._refused("use_card", refusal)
            return
        raise AssertionError("a replayed token was accepted")

    def _check_in(self, session: int, index: int) -> bool:
        try:
            self.app.check_in_with_document(
                CheckInWithDocument(
                    command_id=self._command_id(),
                    audit=self._audit(
                        f"triage-{self.plan.sessions[session].department}", Channel.TRIAGE_DESK
                    ),
                    session_id=self.session_ids[session],
                    document=self.plan.cards[index].resident.document,
                )
            )
        except RuleViolation as refusal:
            self._refused("check_in", refusal)
            return False
        self.report.check_ins += 1
        return True

    def _finish_report(self) -> None:
        report = self.report
        report.sessions = [SessionFigures.of(self.app, sid) for sid in self.session_ids]
        kinds = {ref.identifier: ref.kind for h in self.plan.households for ref in _accounts(h)}
        report.accounts = [
            AccountFigures(
                kind=kinds[identifier],
                masked_identifier=mask_account(kinds[identifier], identifier),
                members=tuple(
                    (mask_name(self.plan.cards[index].resident.name), relation)
                    for index, relation in bound
                ),
            )
            for identifier, bound in self.bound.items()
        ]
        report.events_by_topic = events_by_topic(self.app)


def _accounts(household: Household) -> list[AccountRef]:
    return [household.account] + (
        [household.second_account] if household.second_account is not None else []
    )


def _no_progress(phase: str, steps: int) -> None:
    """The default progress callback: nothing to show."""


def simulate_day(
    app: HealthCardApp,
    clock: FakeClock,
    *,
    seed: int,
    cards: int,
    progress: Progress | None = None,
) -> DayReport:
    """Plan and run one hospital day on ``app`` (whose clock must be ``clock``)."""
    return HospitalDay(app, clock, seed=seed, cards=cards).run(progress)


__all__ = ["HospitalDay", "Progress", "simulate_day"]
