"""A Hypothesis state machine of the whole lifecycle, checked against a reference model.

Why: unit tests show each refusal once; only random *sequences* of commands over a
small world (a handful of cards, people, three accounts, small sessions, a clock that
moves) show that no sequence gets around a rule. Every step runs one command on the
application and asks :class:`~healthcard.testing.reference.ReferenceModel` what must
happen: success, or a refusal with one of the codes of the rules the command breaks.
A refusal must write nothing. After every step the invariants compare every card,
account, document holder and session the application returns with the reference.

Embedders subclass :class:`HealthCardMachine` (override :meth:`make_app` to run on
their persistence or configuration, add rules, or extend :meth:`check_extra`) or call
:func:`lifecycle_machine`; then ``TestLifecycle = Machine.TestCase``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from hypothesis import event
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

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.adapters.snapshots import card_from_state, state_of
from healthcard.application import HealthCardApp
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CheckInWithQr,
    CompleteIdentity,
    FreezeCard,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UnfreezeCard,
    UseCard,
)
from healthcard.application.config import HealthCardConfig
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import AccountKind, IssuerMode
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import china_date
from healthcard.domain.errors import HealthCardError, NotFound
from healthcard.domain.identity import IdentityDocument
from healthcard.domain.relation import Relation
from healthcard.domain.usage import (
    CHECK_IN_USES,
    POINT_OF_CARE_CHANNELS,
    USE_ALLOWS,
    TokenUse,
    UsageStep,
)
from healthcard.testing.reference import (
    AccountKey,
    DocumentKey,
    ReferenceModel,
    Violations,
)
from healthcard.testing.strategies import Person, persons, registration_channels

T = TypeVar("T")

DEFAULT_ACCOUNTS: tuple[AccountRef, ...] = (
    AccountRef(kind=AccountKind.PHONE, identifier="13800138000"),
    AccountRef(kind=AccountKind.PHONE, identifier="18612345678"),
    AccountRef(kind=AccountKind.WECHAT, identifier="o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
)


class ModelMismatch(AssertionError):
    """The application and the reference model disagree (a bug in one of them)."""


def audit(channel: Channel = Channel.WINDOW) -> Audit:
    return Audit(actor="machine", channel=channel, institution="H510100001")


def done(run: Callable[[], object]) -> Callable[[], bool]:
    """Wrap a command that returns nothing so that success reads as ``True``."""

    def call() -> bool:
        run()
        return True

    return call


def account_key(ref: AccountRef) -> AccountKey:
    return (ref.kind.value, ref.identifier)


def document_key(document: IdentityDocument) -> DocumentKey:
    return (document.type.value, document.number)


class HealthCardMachine(RuleBasedStateMachine):
    """Random lifecycle commands against one application per example.

    Class attributes size the world; keep it small so that rules collide often
    (the same document twice, a full account, the last place of a session).
    """

    family_cap: ClassVar[int] = 2
    max_cards: ClassVar[int] = 8
    max_people: ClassVar[int] = 5
    max_sessions: ClassVar[int] = 4
    max_capacity: ClassVar[int] = 3
    accounts: ClassVar[tuple[AccountRef, ...]] = DEFAULT_ACCOUNTS

    cards: Bundle[UUID] = Bundle("cards")
    people: Bundle[Person] = Bundle("people")
    sessions: Bundle[UUID] = Bundle("sessions")
    appointments: Bundle[tuple[UUID, UUID]] = Bundle("appointments")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.app = self.make_app(self.clock)
        self.model = ReferenceModel(family_cap=self.family_cap, today=self.clock.now.date())
        self.documents: dict[DocumentKey, IdentityDocument] = {}
        self.register_keys: dict[str, tuple[UUID, tuple[object, ...]]] = {}
        """Idempotency key -> the card it registered and what the command said."""
        self.booking_keys: dict[tuple[UUID, str], UUID] = {}
        """(session, idempotency key) -> the appointment it made."""
        self.steps = 0
        self.last_accepted: tuple[str, Callable[[], object], object] | None = None
        """The last command that succeeded, to be retried as a caller that heard nothing."""

    # -- hooks for embedders --------------------------------------------------------

    def make_app(self, clock: FakeClock) -> HealthCardApp:
        """The application under test (override for another persistence or config)."""
        return HealthCardApp(
            memory_env(), clock=clock, config=HealthCardConfig(family_cap=self.family_cap)
        )

    def check_extra(self) -> None:
        """Extra invariants (read models of the embedding app); called after each step."""

    def teardown(self) -> None:
        self.app.close()

    # -- running a command against the model ----------------------------------------

    def attempt(self, name: str, allowed: Violations, run: Callable[[], T]) -> T | None:
        """Run ``run``: refused with one of ``allowed``, or accepted when it is empty."""
        before = self.app.recorder.max_notification_id()
        try:
            result = run()
        except HealthCardError as error:
            event(f"{name}: refused {error.code}")
            if error.code not in allowed:
                expected = sorted(allowed) or "success"
                raise ModelMismatch(
                    f"{name}: refused with {error.code}, expected {expected}"
                ) from error
            if self.app.recorder.max_notification_id() != before:
                raise ModelMismatch(
                    f"{name}: refused with {error.code} but wrote events"
                ) from error
            return None
        event(f"{name}: accepted")
        if allowed:
            raise ModelMismatch(
                f"{name}: accepted, but the reference refuses it: {sorted(allowed)}"
            )
        if name != "issue_token":  # writes nothing; every token is a new one
            self.last_accepted = (name, run, result)
        return result

    @precondition(lambda self: self.last_accepted is not None)
    @rule()
    def retry_last_success(self) -> None:
        """The caller of the last successful command heard nothing and sends the same
        command again, perhaps after other commands and time: it gets the first
        result and nothing is written."""
        assert self.last_accepted is not None
        name, run, result = self.last_accepted
        before = self.app.recorder.max_notification_id()
        try:
            again = run()
        except HealthCardError as error:
            raise ModelMismatch(f"{name} retried: refused with {error.code}") from error
        event(f"{name}: retried")
        if again != result:
            raise ModelMismatch(f"{name} retried: answered {again!r}, first {result!r}")
        if self.app.recorder.max_notification_id() != before:
            raise ModelMismatch(f"{name} retried: wrote events")

    # -- world ---------------------------------------------------------------------------

    @initialize(target=sessions, capacity=st.sampled_from([1, 1, 2, 3]))
    def first_session(self, capacity: int) -> Any:
        return self._publish("internal_medicine", "dr-1", 0, Period.MORNING, capacity)

    # A card and a person from the start, so that every rule is enabled early and
    # Hypothesis does not have to reject examples whose first draws find none.
    @initialize(target=cards, channel=registration_channels(), person=persons())
    def first_card(self, channel: Channel, person: Person) -> Any:
        return self._onboard(channel, person)

    @initialize(target=people, person=persons())
    def first_person(self, person: Person) -> Person:
        return self._remember(person)

    @precondition(lambda self: len(self.model.sessions) < self.max_sessions)
    @rule(
        target=sessions,
        department=st.sampled_from(["internal_medicine", "paediatrics"]),
        doctor=st.sampled_from(["dr-1", "dr-2"]),
        offset=st.sampled_from([0, 0, 0, 1, 2, -1]),
        period=st.sampled_from(Period),
        capacity=st.sampled_from([1, 1, 2, 3]),
    )
    def publish_session(
        self, department: str, doctor: str, offset: int, period: Period, capacity: int
    ) -> Any:
        return self._publish(department, doctor, offset, period, capacity)

    def _publish(
        self, department: str, doctor: str, offset: int, period: Period, capacity: int
    ) -> Any:
        capacity = min(capacity, self.max_capacity)
        day = self.model.today + timedelta(days=offset)
        slot = (department, doctor, day, period.value)
        cmd = PublishSession(
            audit=audit(),
            department=department,
            doctor=doctor,
            day=day,
            period=period,
            capacity=capacity,
        )
        session_id = self.attempt(
            "publish", self.model.check_publish(slot), lambda: self.app.publish_session(cmd)
        )
        if session_id is None:
            return multiple()
        self.model.apply_publish(session_id, slot, capacity)
        return session_id

    @rule(hours=st.sampled_from([1, 2, 2, 3, 24]))
    def time_passes(self, hours: int) -> None:
        """Sessions move from future to today to past."""
        self.clock.advance(hours=hours)
        self.model.today = china_date(self.clock.now)

    @precondition(lambda self: len(self.documents) < self.max_people)
    @rule(target=people, person=persons(max_birth=date(2026, 11, 24)))
    def new_person(self, person: Person) -> Person:
        return self._remember(person)

    def _remember(self, person: Person) -> Person:
        self.documents[document_key(person.document)] = person.document
        return person

    # -- cards ---------------------------------------------------------------------------

    @precondition(lambda self: len(self.model.cards) < self.max_cards)
    @rule(
        target=cards,
        channel=registration_channels(),
        volunteer=st.sampled_from([False, False, False, True]),
        mode=st.sampled_from(IssuerMode),
        name=st.sampled_from(["王芳", "张伟", "欧阳娜娜", "Anna Müller"]),
        key=st.sampled_from([None, None, "reg-1", "reg-2"]),
    )
    def register(
        self, channel: Channel, volunteer: bool, mode: IssuerMode, name: str, key: str | None
    ) -> Any:
        cmd = RegisterCard(
            audit=audit(channel),
            name=name,
            issuer_mode=mode,
            volunteer="vol-007" if volunteer else None,
            idempotency_key=key,
        )
        content = (channel, volunteer, mode, name)
        known = self.register_keys.get(key) if key is not None else None
        if known is not None:  # a retry: the same card if the same command, else refused
            same = known[1] == content
            allowed = frozenset() if same else frozenset({"idempotency_key_reused"})
        else:
            allowed = self.model.check_register(channel=channel.value, volunteer=volunteer)
        card_id = self.attempt("register", allowed, lambda: self.app.register(cmd))
        if card_id is None:
            return multiple()
        if known is not None:
            if card_id != known[0]:
                raise ModelMismatch("register: a retried request made a second card")
            return multiple()
        if key is not None:
            self.register_keys[key] = (card_id, content)
        self.model.apply_register(card_id, channel=channel.value, issuer_mode=mode.value, name=name)
        return card_id

    @precondition(lambda self: len(self.model.cards) < self.max_cards)
    @rule(
        target=cards,
        channel=registration_channels(),
        person=persons(),
        account=st.sampled_from([None, 0, 1, 2]),
    )
    def onboard(self, channel: Channel, person: Person, account: int | None) -> Any:
        """Register, complete identity and (mostly) bind a phone in one step: the
        common path, so that many examples reach booking, check-in and card use."""
        card_id = self._onboard(channel, person)
        if account is not None:
            self._bind(card_id, self.accounts[account % len(self.accounts)], Relation.SELF)
        return card_id

    def _onboard(self, channel: Channel, person: Person) -> UUID:
        cmd = RegisterCard(audit=audit(channel), name="临时")
        card_id = self.attempt("register", frozenset(), lambda: self.app.register(cmd))
        assert card_id is not None
        self.model.apply_register(
            card_id, channel=channel.value, issuer_mode=IssuerMode.PRODUCTION.value, name="临时"
        )
        self.documents[document_key(person.document)] = person.document
        self._complete(card_id, person, person.birth_date)
        return card_id

    @rule(card=cards, person=people, truthful=st.booleans())
    def complete_identity(self, card: UUID, person: Person, truthful: bool) -> None:
        birth = person.birth_date if truthful else person.birth_date - timedelta(days=1)
        self._complete(card, person, birth)

    def _complete(self, card: UUID, person: Person, birth: date) -> None:
        doc = document_key(person.document)
        cmd = CompleteIdentity(
            audit=audit(),
            card_id=card,
            document=person.document,
            name=person.name,
            sex=person.sex,
            birth_date=birth,
        )
        allowed = self.model.check_complete_identity(
            card, doc, sex=person.sex.value, birth_date=birth
        )
        if self.attempt(
            "complete_identity", allowed, done(lambda: self.app.complete_identity(cmd))
        ):
            self.model.apply_complete_identity(
                card, doc, name=person.name, sex=person.sex.value, birth_date=birth
            )

    @rule(card=cards, index=st.integers(0, 2), relation=st.sampled_from(Relation))
    def bind(self, card: UUID, index: int, relation: Relation) -> None:
        self._bind(card, self.accounts[index % len(self.accounts)], relation)

    def _bind(self, card: UUID, ref: AccountRef, relation: Relation) -> None:
        cmd = BindCard(audit=audit(), card_id=card, account=ref, relation=relation)
        allowed = self.model.check_bind(card, account_key(ref))
        if self.attempt("bind", allowed, lambda: self.app.bind(cmd)) is not None:
            self.model.apply_bind(card, account_key(ref), relation.value)

    @rule(card=cards, index=st.integers(0, 2))
    def unbind(self, card: UUID, index: int) -> None:
        ref = self.accounts[index % len(self.accounts)]
        cmd = UnbindCard(audit=audit(), card_id=card, account=ref)
        allowed = self.model.check_unbind(card, account_key(ref))
        if self.attempt("unbind", allowed, done(lambda: self.app.unbind(cmd))) is not None:
            self.model.apply_unbind(card, account_key(ref))

    @rule(card=cards, unknown=st.sampled_from([False] * 9 + [True]), other=st.uuids())
    def freeze(self, card: UUID, unknown: bool, other: UUID) -> None:
        """Freeze a card (now and then one that does not exist)."""
        card = other if unknown else card
        cmd = FreezeCard(audit=audit(), card_id=card, reason="lost_phone")
        self._status_change("freeze", card, lambda: self.app.freeze(cmd))

    @rule(card=cards)
    def unfreeze(self, card: UUID) -> None:
        cmd = UnfreezeCard(audit=audit(), card_id=card)
        self._status_change("unfreeze", card, lambda: self.app.unfreeze(cmd))

    @rule(card=cards)
    def cancel_card(self, card: UUID) -> None:
        cmd = CancelCard(audit=audit(), card_id=card, reason="request")
        self._status_change("cancel", card, lambda: self.app.cancel_card(cmd))

    def _status_change(self, change: str, card: UUID, run: Callable[[], None]) -> None:
        allowed = self.model.check_status_change(card, change)
        if self.attempt(change, allowed, done(lambda: run())) is not None:
            self.model.apply_status_change(card, change)

    # -- appointments --------------------------------------------------------------------

    @rule(target=appointments, session=sessions, card=cards, key=st.sampled_from([None, "book-1"]))
    def book(self, session: UUID, card: UUID, key: str | None) -> Any:
        appointment_id = self._book(session, card, key)
        return multiple() if appointment_id is None else (session, appointment_id)

    @rule(target=appointments, session=sessions, card=cards)
    def walk_in(self, session: UUID, card: UUID) -> Any:
        """Book and report to the triage desk with the ID card (the path to being seen)."""
        appointment_id = self._book(session, card, None)
        if appointment_id is None:
            return multiple()
        document = self.model.cards[card].document
        assert document is not None, "only formal cards book"
        self._check_in(session, self.documents[document], "check_in_walk_in")
        return (session, appointment_id)

    def _book(self, session: UUID, card: UUID, key: str | None) -> UUID | None:
        """Book; the new appointment's id, or None when refused or a retried request."""
        cmd = MakeAppointment(audit=audit(), session_id=session, card_id=card, idempotency_key=key)
        replayed = None
        if key is not None and (session, key) in self.booking_keys:
            replayed = self.model.sessions[session].appointments[self.booking_keys[session, key]]
        if replayed is not None:  # a retried request: same card -> same id, else refused
            same_card = replayed.card_id == card
            allowed = frozenset() if same_card else frozenset({"idempotency_key_reused"})
        else:
            allowed = self.model.check_book(session, card)
        appointment_id = self.attempt("book", allowed, lambda: self.app.make_appointment(cmd))
        if replayed is not None:
            if appointment_id not in (None, replayed.appointment_id):
                raise ModelMismatch("book: a retried request made a second appointment")
            return None
        if appointment_id is not None:
            self.model.apply_book(session, appointment_id, card)
            if key is not None:
                self.booking_keys[session, key] = appointment_id
        return appointment_id

    @rule(appointment=appointments)
    def cancel_appointment(self, appointment: tuple[UUID, UUID]) -> None:
        session, appointment_id = appointment
        cmd = CancelAppointment(audit=audit(), session_id=session, appointment_id=appointment_id)
        allowed = self.model.check_cancel_appointment(session, appointment_id)
        if (
            self.attempt(
                "cancel_appointment", allowed, done(lambda: self.app.cancel_appointment(cmd))
            )
            is not None
        ):
            self.model.apply_cancel_appointment(session, appointment_id)

    @rule(appointment=appointments)
    def check_in_for_appointment(self, appointment: tuple[UUID, UUID]) -> None:
        """Check in with the document of a card that booked (the usual arrival)."""
        session, appointment_id = appointment
        booked = self.model.sessions[session].appointments[appointment_id]
        document = self.model.cards[booked.card_id].document
        assert document is not None, "only formal cards book"
        self._check_in(session, self.documents[document], "check_in_booked")

    @rule(session=sessions, person=people)
    def check_in(self, session: UUID, person: Person) -> None:
        self._check_in(session, person.document, "check_in")

    def _check_in(self, session: UUID, document: IdentityDocument, name: str) -> None:
        cmd = CheckInWithDocument(
            audit=audit(Channel.TRIAGE_DESK), session_id=session, document=document
        )
        holder = self.model.holder_of(document_key(document))
        allowed = self.model.check_check_in(session, holder)
        appointment_id = self.attempt(name, allowed, lambda: self.app.check_in_with_document(cmd))
        if appointment_id is not None and holder is not None:
            expected = self.model.apply_check_in(session, holder)
            if appointment_id != expected:
                raise ModelMismatch("check_in: checked in another appointment than the card's")

    # -- QR tokens: use at a point of care, check-in with the bound phone --------------

    def _issue(self, card: UUID, ref: AccountRef, use: TokenUse) -> str | None:
        cmd = IssueToken(audit=audit(Channel.MINI_PROGRAM), card_id=card, account=ref, use=use)
        allowed = self.model.check_issue_token(card, account_key(ref))
        return self.attempt("issue_token", allowed, lambda: self.app.issue_token(cmd))

    def _holder_account(self, card: UUID, index: int) -> AccountRef:
        """Mostly an account the card is bound to (tokens are issued to those only)."""
        ref = self.model.cards.get(card)
        bound = sorted(ref.accounts) if ref is not None else []
        pool = self.accounts
        if bound and index < 3:  # 3 in 4: a bound account, when there is one
            wanted = bound[index % len(bound)]
            pool = tuple(a for a in self.accounts if account_key(a) == wanted)
        return pool[index % len(pool)]

    @rule(
        card=cards,
        index=st.integers(0, 3),
        use=st.sampled_from(TokenUse),
        pick=st.integers(0, 6),
        allowed_step=st.sampled_from([True, True, True, False]),
        channel=st.sampled_from(sorted(POINT_OF_CARE_CHANNELS)),
        again=st.booleans(),
    )
    def use_card(
        self,
        card: UUID,
        index: int,
        use: TokenUse,
        pick: int,
        allowed_step: bool,
        channel: Channel,
        again: bool,
    ) -> None:
        """Open the QR for ``use`` and scan it at a point of care (once more: replayed)."""
        steps = sorted(USE_ALLOWS[use]) if allowed_step else sorted(UsageStep)
        step = steps[pick % len(steps)]
        token = self._issue(card, self._holder_account(card, index), use)
        if token is None:
            return
        step_ok = step in USE_ALLOWS[use]
        for fresh in (True, False) if again else (True,):
            # A replay is another request with the same token, not a retry of this one.
            cmd = UseCard(audit=audit(channel), token=token, step=step)
            allowed = self.model.check_use(card, step_allowed=step_ok, fresh=fresh)
            if self.attempt("use_card", allowed, done(partial(self.app.use_card, cmd))):
                self.model.apply_use(card)

    @rule(
        appointment=appointments,
        index=st.integers(0, 3),
        use=st.sampled_from([TokenUse.ANY, TokenUse.TRIAGE, TokenUse.PHARMACY]),
    )
    def check_in_with_qr(self, appointment: tuple[UUID, UUID], index: int, use: TokenUse) -> None:
        """Report to triage with the QR of a bound phone."""
        session, appointment_id = appointment
        card = self.model.sessions[session].appointments[appointment_id].card_id
        token = self._issue(card, self._holder_account(card, index), use)
        if token is None:
            return
        cmd = CheckInWithQr(audit=audit(Channel.TRIAGE_DESK), session_id=session, token=token)
        allowed = self.model.check_check_in(session, card)
        if use not in CHECK_IN_USES:
            allowed = allowed | {"token_rejected"}
        checked = self.attempt("check_in_qr", allowed, lambda: self.app.check_in_with_qr(cmd))
        if checked is not None and checked != self.model.apply_check_in(session, card):
            raise ModelMismatch("check_in_qr: checked in another appointment than the card's")

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def cards_match_the_model(self) -> None:
        for card_id, ref in self.model.cards.items():
            card = self.app.card(card_id)
            got = {
                "status": card.status.value,
                "formal": card.is_formal,
                "document": None if card.document is None else document_key(card.document),
                "name": card.name,
                "channel": card.channel.value,
                "issuer_mode": card.issuer_mode.value,
                "sex": None if card.sex is None else card.sex.value,
                "birth_date": card.birth_date,
                "accounts": {aid: rel.value for aid, rel in card.accounts.items()},
            }
            want = {
                "status": ref.status,
                "formal": ref.formal,
                "document": ref.document,
                "name": ref.name,
                "channel": ref.channel,
                "issuer_mode": ref.issuer_mode,
                "sex": ref.sex,
                "birth_date": ref.birth_date,
                "accounts": {
                    self.app.account(AccountRef(kind=kind, identifier=ident)).id: rel
                    for (kind, ident), rel in ref.accounts.items()
                },
            }
            if got != want:
                diff = sorted(k for k in got if got[k] != want[k])
                raise ModelMismatch(f"card {card_id} differs from the model in {diff}")

    @invariant()
    def cards_load_cold_as_they_replay(self) -> None:
        """A card loaded cold (from its latest snapshot, if it has one, and the events
        after) and its snapshot state read back are the card replayed from its whole
        log, attribute by attribute, whatever happened to it (erasure included)."""
        for card_id in self.model.cards:
            card = self.app.card(card_id)
            replayed = HealthCard.project(None, self.app.repository.event_store.get(card_id))
            cold = self.app.card_as_of(card_id, card.version)
            restored = card_from_state(card_id, card.version, state_of(card))
            for name, loaded in (("cached", card), ("cold", cold), ("restored", restored)):
                if vars(loaded) != vars(replayed):
                    diff = sorted(
                        k for k in vars(replayed) if vars(loaded).get(k) != vars(replayed)[k]
                    )
                    raise ModelMismatch(f"card {card_id} {name} differs from its replay in {diff}")

    @invariant()
    def accounts_match_the_model(self) -> None:
        for ref in self.accounts:
            expected = self.model.accounts.get(account_key(ref))
            try:
                account = self.app.account(ref)
            except NotFound:
                if expected is not None:
                    raise ModelMismatch("an account the model opened is missing") from None
                continue
            if expected is None:
                raise ModelMismatch("an account exists that the model never opened")
            got = {card_id: rel.value for card_id, rel in account.cards.items()}
            if got != expected:
                raise ModelMismatch(f"account {account.id} holds other cards than the model")
            if len(got) > self.family_cap:
                raise ModelMismatch(f"account {account.id} is above the family cap")

    @invariant()
    def document_holders_match_the_model(self) -> None:
        for key, document in self.documents.items():
            if self.app.find_card_by_document(document) != self.model.holder_of(key):
                raise ModelMismatch(
                    f"the holder of a type {key[0]} document differs from the model"
                )

    @invariant()
    def sessions_match_the_model(self) -> None:
        for session_id, ref in self.model.sessions.items():
            session = self.app.session(session_id)
            got = {
                a.appointment_id: (a.card_id, a.status.value) for a in session.appointments.values()
            }
            want = {a.appointment_id: (a.card_id, a.status) for a in ref.appointments.values()}
            if got != want:
                raise ModelMismatch(f"session {session_id} appointments differ from the model")
            if session.booked > session.capacity:
                raise ModelMismatch(f"session {session_id} is overbooked")

    @invariant()
    def extra(self) -> None:
        self.check_extra()


def lifecycle_machine(
    *,
    family_cap: int = 2,
    env: Callable[[], dict[str, str]] = memory_env,
    config: HealthCardConfig | None = None,
    name: str = "Lifecycle",
) -> type[HealthCardMachine]:
    """A :class:`HealthCardMachine` subclass for one persistence and configuration.

    ``env`` is called once per example (return a fresh SQLite path or PostgreSQL
    schema each time); ``config`` overrides ``family_cap`` when given.
    """
    cap = config.family_cap if config is not None else family_cap

    def make_app(self: HealthCardMachine, clock: FakeClock) -> HealthCardApp:
        chosen = config if config is not None else HealthCardConfig(family_cap=cap)
        return HealthCardApp(env(), clock=clock, config=chosen)

    return type(name, (HealthCardMachine,), {"family_cap": cap, "make_app": make_app})


__all__ = [
    "DEFAULT_ACCOUNTS",
    "HealthCardMachine",
    "ModelMismatch",
    "lifecycle_machine",
]
