"""Property-based invariants of the whole lifecycle (a Hypothesis state machine).

Why a state machine: the set rules (session capacity, one card per document, the
family cap, temporary cards never booked) are kept by aggregates saved together with
optimistic concurrency. Unit tests check each refusal; only random sequences of
commands over a small world (few cards and documents, two accounts, two small
sessions, a clock that moves) show that no *sequence* gets around them. After every
step the invariants are checked twice: on aggregates loaded afresh through the
application's queries, and on a fold of the raw event log, which does not trust the
aggregates' own bookkeeping. A refused command must leave the log untouched.

Size: ``HEALTHCARD_HYPOTHESIS_PROFILE`` = dev (default) | ci | thorough
(see ``hypothesis_profiles.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import event, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.adapters.privacy.sealing import ERASED_TEXT
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CompleteIdentity,
    ErasePersonalData,
    FreezeCard,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UnfreezeCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import CardKind, CardStatus
from healthcard.domain.errors import HealthCardError, NotFound
from healthcard.domain.events.account import CardAdded, CardRemoved
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import Cancelled, Frozen, IdentityCompleted, Registered, Unfrozen
from healthcard.domain.events.session import AppointmentCancelled, AppointmentMade, SessionPublished
from healthcard.domain.identity import IdentityDocument, Sex
from healthcard.domain.relation import Relation
from healthcard.testing.profiles import property_settings

FAMILY_CAP = 2
MAX_CARDS = 5


@dataclass(frozen=True)
class Person:
    """A document with the facts that go with it (sex and birth date must match)."""

    document: IdentityDocument
    sex: Sex
    birth_date: date
    name: str


PEOPLE = [
    Person(
        IdentityDocument(type="01", number="11010519491231002X"),
        Sex.FEMALE,
        date(1949, 12, 31),
        "王芳",
    ),
    Person(
        IdentityDocument(type="01", number="510104199003150023"),
        Sex.FEMALE,
        date(1990, 3, 15),
        "韩梅梅",
    ),
    Person(
        IdentityDocument(type="01", number="51010419880720001X"),
        Sex.MALE,
        date(1988, 7, 20),
        "张伟",
    ),
    Person(
        IdentityDocument(type="03", number="E12345678"),
        Sex.UNSPECIFIED,
        date(2001, 5, 4),
        "Anna Müller",
    ),
]
ACCOUNTS = [
    AccountRef(kind="phone", identifier="13800138000"),
    AccountRef(kind="wechat", identifier="o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
]
CHANNELS = [Channel.WECHAT_OFFICIAL_ACCOUNT, Channel.KIOSK, Channel.WINDOW, Channel.APP]

T = TypeVar("T")


def audit(channel: Channel = Channel.WINDOW) -> Audit:
    return Audit(actor="staff-001", channel=channel, institution="H510100001")


@dataclass
class LogFold:
    """What the raw log says, folded without the aggregates' code."""

    kind: dict[UUID, CardKind] = field(default_factory=dict)
    status: dict[UUID, CardStatus] = field(default_factory=dict)
    document_of: dict[UUID, str] = field(default_factory=dict)
    holders: dict[str, set[UUID]] = field(default_factory=lambda: defaultdict(set))
    active: Counter[UUID] = field(default_factory=Counter)  # session -> made - cancelled
    capacity: dict[UUID, int] = field(default_factory=dict)
    account_cards: dict[UUID, set[UUID]] = field(default_factory=lambda: defaultdict(set))
    violations: list[str] = field(default_factory=list)

    def apply(self, e: DomainEvent) -> None:
        handler = getattr(self, f"_{type(e).__name__}", None)
        if handler is not None:
            handler(e)

    def _Registered(self, e: Registered) -> None:
        self.kind[e.originator_id] = CardKind.TEMPORARY
        self.status[e.originator_id] = CardStatus.NORMAL

    def _IdentityCompleted(self, e: IdentityCompleted) -> None:
        key = e.document.key()
        if e.document.number == ERASED_TEXT:
            # Erased later (its key deleted): the document reads as a placeholder, shared
            # by every erased card. An erased card is cancelled, so it held the document
            # only until then; keep it apart from the others.
            key = f"erased|{e.originator_id}"
        self.kind[e.originator_id] = CardKind.FORMAL
        self.document_of[e.originator_id] = key
        self.holders[key].add(e.originator_id)
        if len(self.holders[key]) > 1:
            self.violations.append(f"two live cards hold one document: {self.holders[key]}")

    def _Frozen(self, e: Frozen) -> None:
        self.status[e.originator_id] = CardStatus.FROZEN

    def _Unfrozen(self, e: Unfrozen) -> None:
        self.status[e.originator_id] = CardStatus.NORMAL

    def _Cancelled(self, e: Cancelled) -> None:
        self.status[e.originator_id] = CardStatus.CANCELLED
        key = self.document_of.get(e.originator_id)
        if key is not None:
            self.holders[key].discard(e.originator_id)

    def _SessionPublished(self, e: SessionPublished) -> None:
        self.capacity[e.originator_id] = e.capacity

    def _AppointmentMade(self, e: AppointmentMade) -> None:
        if self.kind.get(e.card_id) is not CardKind.FORMAL:
            self.violations.append(f"card {e.card_id} booked while temporary")
        if self.status.get(e.card_id) is not CardStatus.NORMAL:
            self.violations.append(f"card {e.card_id} booked while {self.status.get(e.card_id)}")
        self.active[e.originator_id] += 1
        if self.active[e.originator_id] > self.capacity[e.originator_id]:
            self.violations.append(f"session {e.originator_id} overbooked")

    def _AppointmentCancelled(self, e: AppointmentCancelled) -> None:
        self.active[e.originator_id] -= 1

    def _CardAdded(self, e: CardAdded) -> None:
        self.account_cards[e.originator_id].add(e.card_id)
        if len(self.account_cards[e.originator_id]) > FAMILY_CAP:
            self.violations.append(f"account {e.originator_id} above the cap")

    def _CardRemoved(self, e: CardRemoved) -> None:
        self.account_cards[e.originator_id].discard(e.card_id)


class HealthCardLifecycle(RuleBasedStateMachine):
    """Random commands against one in-memory application per example."""

    cards = Bundle("cards")
    appointments = Bundle("appointments")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.app = HealthCardApp(
            memory_env(), clock=self.clock, config=HealthCardConfig(family_cap=FAMILY_CAP)
        )
        self.card_ids: list[UUID] = []
        self.session_ids: list[UUID] = []
        self.steps = 0
        self.fullest = 0  # sessions at capacity + accounts at the cap, at best so far
        self.full_sessions = 0

    def teardown(self) -> None:
        event(f"steps: {self.steps // 10 * 10}+")
        # Steer generation towards full sessions and full accounts: the rules at the edge.
        target(float(self.fullest), label="places and slots taken at the limit")
        self.app.close()

    # -- running commands --------------------------------------------------------------

    def _log(self) -> list[Any]:
        return list(self.app.recorder.select_notifications(start=None, limit=1_000_000))

    def attempt(self, label: str, command: Callable[[], T]) -> T | None:
        """Run a command; a refusal (a ``HealthCardError``) must have written nothing."""
        self.steps += 1
        before = self._log()
        refused: HealthCardError | None = None
        try:
            result = command()
        except HealthCardError as exc:
            refused = exc
        if refused is None:
            event(f"{label} done")
            return result
        event(f"{label} refused: {refused.code}")
        assert self._log() == before, f"{refused.code} refused but the log changed"
        return None

    # -- the world ---------------------------------------------------------------------

    @initialize(
        capacities=st.tuples(st.integers(1, 2), st.integers(1, 3)),
        days=st.tuples(st.integers(0, 1), st.integers(0, 2)),
    )
    def publish_sessions(self, capacities: tuple[int, int], days: tuple[int, int]) -> None:
        today = self.clock.now.date()
        for index, (capacity, offset) in enumerate(zip(capacities, days, strict=True)):
            session_id = self.app.publish_session(
                PublishSession(
                    audit=audit(),
                    department="pediatrics",
                    doctor=f"dr-{index}",
                    day=today + timedelta(days=offset),
                    period="morning",
                    capacity=capacity,
                )
            )
            self.session_ids.append(session_id)

    @initialize(
        target=cards,
        people=st.permutations(PEOPLE).map(lambda ps: ps[:2]),
        channel=st.sampled_from(CHANNELS),
    )
    def first_cards(self, people: list[Person], channel: Channel) -> Any:
        """Two formal cards from the start, so bookings (and full sessions) happen early."""
        for person in people:
            card_id = self.app.register(RegisterCard(audit=audit(channel), name=person.name))
            self.app.complete_identity(
                CompleteIdentity(
                    audit=audit(),
                    card_id=card_id,
                    document=person.document,
                    name=person.name,
                    sex=person.sex,
                    birth_date=person.birth_date,
                )
            )
            self.card_ids.append(card_id)
        return multiple(*self.card_ids)

    @rule(hours=st.sampled_from([1, 3, 6, 24]))
    def time_passes(self, hours: int) -> None:
        """Sessions move from future to today to past."""
        self.clock.advance(hours=hours)

    # -- cards -----------------------------------------------------------------------

    @precondition(lambda self: len(self.card_ids) < MAX_CARDS)
    @rule(
        target=cards,
        channel=st.sampled_from(CHANNELS),
        volunteer=st.sampled_from([False, False, True]),
        key=st.sampled_from([None, "reg-1", "reg-2"]),
        name=st.sampled_from([p.name for p in PEOPLE]),
    )
    def register(self, channel: Channel, volunteer: bool, key: str | None, name: str) -> Any:
        cmd = RegisterCard(
            audit=audit(channel),
            name=name,
            volunteer="vol-007" if volunteer else None,
            idempotency_key=key,
        )
        card_id = self.attempt("register", lambda: self.app.register(cmd))
        if card_id is None:
            return multiple()
        if card_id not in self.card_ids:
            self.card_ids.append(card_id)
        return card_id

    @rule(
        card=cards,
        person=st.sampled_from(PEOPLE),
        truthful=st.sampled_from([True, True, True, False]),
    )
    def complete_identity(self, card: UUID, person: Person, truthful: bool) -> None:
        birth = person.birth_date if truthful else person.birth_date + timedelta(days=1)
        self.attempt(
            "complete_identity",
            lambda: self.app.complete_identity(
                CompleteIdentity(
                    audit=audit(),
                    card_id=card,
                    document=person.document,
                    name=person.name,
                    sex=person.sex,
                    birth_date=birth,
                )
            ),
        )

    @rule(card=cards, account=st.sampled_from(ACCOUNTS), relation=st.sampled_from(Relation))
    def bind(self, card: UUID, account: AccountRef, relation: Relation) -> None:
        self.attempt(
            "bind",
            lambda: self.app.bind(
                BindCard(audit=audit(), card_id=card, account=account, relation=relation)
            ),
        )

    @rule(card=cards, account=st.sampled_from(ACCOUNTS))
    def unbind(self, card: UUID, account: AccountRef) -> None:
        self.attempt(
            "unbind",
            lambda: self.app.unbind(UnbindCard(audit=audit(), card_id=card, account=account)),
        )

    @rule(
        card=cards,
        change=st.sampled_from(["freeze", "unfreeze", "unfreeze", "cancel", "erase"]),
    )
    def change_status(self, card: UUID, change: str) -> None:
        """One rule for every status change, so frozen and cancelled cards do not crowd
        out the bookings (Hypothesis picks rules evenly)."""
        if change == "freeze":
            self.attempt(
                "freeze",
                lambda: self.app.freeze(FreezeCard(audit=audit(), card_id=card, reason="x")),
            )
        elif change == "unfreeze":
            self.attempt(
                "unfreeze", lambda: self.app.unfreeze(UnfreezeCard(audit=audit(), card_id=card))
            )
        elif len(self.card_ids) < 3:
            return  # cancel and erase only once the world has grown
        elif change == "erase":
            self.attempt(
                "erase_personal_data",
                lambda: self.app.erase_personal_data(
                    ErasePersonalData(audit=audit(), card_id=card)
                ),
            )
        else:
            self.attempt(
                "cancel_card",
                lambda: self.app.cancel_card(CancelCard(audit=audit(), card_id=card, reason="x")),
            )

    # -- appointments ----------------------------------------------------------------

    @rule(
        target=appointments,
        session=st.sampled_from([0, 1]),
        card=cards,
        key=st.sampled_from([None, "book-1", "book-2"]),
    )
    def book(self, session: int, card: UUID, key: str | None) -> Any:
        session_id = self.session_ids[session]
        cmd = MakeAppointment(
            audit=audit(), session_id=session_id, card_id=card, idempotency_key=key
        )
        appointment_id = self.attempt("make_appointment", lambda: self.app.make_appointment(cmd))
        return multiple() if appointment_id is None else (session_id, appointment_id)

    @rule(appointment=appointments)
    def cancel_appointment(self, appointment: tuple[UUID, UUID]) -> None:
        session_id, appointment_id = appointment
        self.attempt(
            "cancel_appointment",
            lambda: self.app.cancel_appointment(
                CancelAppointment(
                    audit=audit(), session_id=session_id, appointment_id=appointment_id
                )
            ),
        )

    @rule(session=st.sampled_from([0, 1]), person=st.sampled_from(PEOPLE))
    def check_in(self, session: int, person: Person) -> None:
        self.attempt(
            "check_in_with_document",
            lambda: self.app.check_in_with_document(
                CheckInWithDocument(
                    audit=audit(Channel.TRIAGE_DESK),
                    session_id=self.session_ids[session],
                    document=person.document,
                )
            ),
        )

    # -- invariants ------------------------------------------------------------------

    def _fold(self) -> LogFold:
        fold = LogFold()
        for notification in self._log():
            domain_event = self.app.mapper.to_domain_event(notification)
            assert isinstance(domain_event, DomainEvent)
            fold.apply(domain_event)
        return fold

    @invariant()
    def the_log_never_breaks_a_rule(self) -> None:
        fold = self._fold()
        assert fold.violations == []
        for session_id in self.session_ids:
            assert fold.active[session_id] <= fold.capacity[session_id]
        for key, holders in fold.holders.items():
            assert len(holders) <= 1, key

    @invariant()
    def sessions_are_never_overbooked(self) -> None:
        fold = self._fold()
        full = 0
        for session_id in self.session_ids:
            session = self.app.session(session_id)
            assert session.booked <= session.capacity
            assert session.booked == fold.active[session_id]
            full += session.booked == session.capacity
            for appointment in session.appointments.values():
                card = self.app.card(appointment.card_id)
                assert card.kind is CardKind.FORMAL  # formal then, and formality is for good
        self.full_sessions = full

    @invariant()
    def one_live_card_per_document(self) -> None:
        live: dict[str, UUID] = {}
        for card_id in self.card_ids:
            card = self.app.card(card_id)
            if card.document is None or card.status is CardStatus.CANCELLED:
                continue
            key = card.document.key()
            assert key not in live, f"{card_id} and {live.get(key)} hold one document"
            live[key] = card_id
        for person in PEOPLE:
            assert self.app.find_card_by_document(person.document) == live.get(
                person.document.key()
            )

    @invariant()
    def accounts_and_cards_agree(self) -> None:
        accounts = {}
        for ref in ACCOUNTS:
            try:
                account = self.app.account(ref)
            except NotFound:
                continue
            assert len(account.cards) <= FAMILY_CAP
            assert set(account.cards) <= set(self.card_ids)
            accounts[account.id] = account
        capped = sum(len(account.cards) == FAMILY_CAP for account in accounts.values())
        self.fullest = max(self.fullest, capped + self.full_sessions)
        for card_id in self.card_ids:
            card = self.app.card(card_id)
            holding = {
                aid: acc.cards[card_id] for aid, acc in accounts.items() if card_id in acc.cards
            }
            assert card.accounts == holding, f"card {card_id} disagrees with its accounts"
            if card.status is CardStatus.CANCELLED:
                assert card.accounts == {}


HealthCardLifecycle.TestCase.settings = settings(property_settings())
TestHealthCardLifecycle = HealthCardLifecycle.TestCase
