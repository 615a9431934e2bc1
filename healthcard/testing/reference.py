"""A simple reference model of the lifecycle: the rules as plain Python sets and dicts.

Why a second model: the aggregates keep the rules spread over four consistency
boundaries (card, account, document claim, session), saved together with optimistic
concurrency. The reference keeps the same rules in the most obvious form, with no
events and no persistence, so a state machine can run both side by side and any
difference is a bug in one of them.

Each ``check_*`` method returns the set of error codes the command may legitimately be
refused with (every rule the command breaks); an empty set means it must succeed.
Which of several broken rules the library reports first is its own business, so
the state machine accepts any of them. ``apply_*`` methods change the model after
the library accepted a command. The model never imports the domain's rule code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

Violations = frozenset[str]
OK: Violations = frozenset()

NORMAL, FROZEN, CANCELLED = "normal", "frozen", "cancelled"
BOOKED, CHECKED_IN, APPOINTMENT_CANCELLED = "booked", "checked_in", "cancelled"

AccountKey = tuple[str, str]
"""(kind, normalised identifier) of a mobile account."""
DocumentKey = tuple[str, str]
"""(document type code, canonical number)."""


@dataclass
class RefCard:
    card_id: UUID
    channel: str
    issuer_mode: str
    name: str
    status: str = NORMAL
    document: DocumentKey | None = None
    sex: str | None = None
    birth_date: date | None = None
    accounts: dict[AccountKey, str] = field(default_factory=dict)
    uses: int = 0

    @property
    def formal(self) -> bool:
        return self.document is not None


@dataclass
class RefAppointment:
    appointment_id: UUID
    card_id: UUID
    status: str = BOOKED


@dataclass
class RefSession:
    session_id: UUID
    slot: tuple[str, str, date, str]
    capacity: int
    appointments: dict[UUID, RefAppointment] = field(default_factory=dict)

    @property
    def day(self) -> date:
        return self.slot[2]

    def active_of(self, card_id: UUID) -> RefAppointment | None:
        for appointment in self.appointments.values():
            if appointment.card_id == card_id and appointment.status in (BOOKED, CHECKED_IN):
                return appointment
        return None

    @property
    def taken(self) -> int:
        return sum(a.status in (BOOKED, CHECKED_IN) for a in self.appointments.values())


@dataclass
class ReferenceModel:
    """Cards, accounts, document holders and sessions, as the rules describe them."""

    family_cap: int
    today: date
    cards: dict[UUID, RefCard] = field(default_factory=dict)
    accounts: dict[AccountKey, dict[UUID, str]] = field(default_factory=dict)
    holders: dict[DocumentKey, UUID] = field(default_factory=dict)
    sessions: dict[UUID, RefSession] = field(default_factory=dict)

    # -- cards ------------------------------------------------------------------------

    def check_register(self, *, channel: str, volunteer: bool) -> Violations:
        return frozenset({"invalid_input"}) if volunteer and channel != "kiosk" else OK

    def apply_register(self, card_id: UUID, *, channel: str, issuer_mode: str, name: str) -> None:
        self.cards[card_id] = RefCard(card_id, channel, issuer_mode, name)

    def _card(self, card_id: UUID) -> tuple[RefCard | None, set[str]]:
        card = self.cards.get(card_id)
        return card, (set() if card is not None else {"card_not_found"})

    def check_complete_identity(
        self, card_id: UUID, document: DocumentKey, *, sex: str, birth_date: date
    ) -> Violations:
        card, broken = self._card(card_id)
        if card is not None:
            if card.status != NORMAL:
                broken.add("card_not_active")
            if card.formal:
                broken.add("identity_already_completed")
        if birth_date > self.today:
            broken.add("invalid_input")
        if document[0] == "01":
            number = document[1]
            if date(int(number[6:10]), int(number[10:12]), int(number[12:14])) != birth_date:
                broken.add("identity_mismatch")
            stated_male = {"1": True, "2": False}.get(sex)
            if stated_male is not None and (int(number[16]) % 2 == 1) != stated_male:
                broken.add("identity_mismatch")
        if document in self.holders:
            broken.add("document_already_registered")
        return frozenset(broken)

    def apply_complete_identity(
        self, card_id: UUID, document: DocumentKey, *, name: str, sex: str, birth_date: date
    ) -> None:
        card = self.cards[card_id]
        card.document, card.name, card.sex, card.birth_date = document, name, sex, birth_date
        self.holders[document] = card_id

    def check_bind(self, card_id: UUID, account: AccountKey) -> Violations:
        card, broken = self._card(card_id)
        if card is not None:
            if card.status != NORMAL:
                broken.add("card_not_active")
            if account in card.accounts:
                broken.add("already_bound")
        if len(self.accounts.get(account, {})) >= self.family_cap:
            broken.add("family_cap_reached")
        return frozenset(broken)

    def apply_bind(self, card_id: UUID, account: AccountKey, relation: str) -> None:
        self.cards[card_id].accounts[account] = relation
        self.accounts.setdefault(account, {})[card_id] = relation

    def check_unbind(self, card_id: UUID, account: AccountKey) -> Violations:
        card, broken = self._card(card_id)
        if account not in self.accounts:
            broken.add("not_found")
        elif card is not None and account not in card.accounts:
            broken.add("not_bound")
        return frozenset(broken)

    def apply_unbind(self, card_id: UUID, account: AccountKey) -> None:
        del self.cards[card_id].accounts[account]
        del self.accounts[account][card_id]

    def check_status_change(self, card_id: UUID, change: str) -> Violations:
        """``change`` is freeze, unfreeze or cancel."""
        card, broken = self._card(card_id)
        if card is not None:
            allowed = {"freeze": {NORMAL}, "unfreeze": {FROZEN}, "cancel": {NORMAL, FROZEN}}
            if card.status not in allowed[change]:
                broken.add("invalid_status_change")
        return frozenset(broken)

    def apply_status_change(self, card_id: UUID, change: str) -> None:
        card = self.cards[card_id]
        card.status = {"freeze": FROZEN, "unfreeze": NORMAL, "cancel": CANCELLED}[change]
        if change == "cancel":  # frees the family slots and the document
            for account in card.accounts:
                del self.accounts[account][card_id]
            card.accounts.clear()
            if card.document is not None and self.holders.get(card.document) == card_id:
                del self.holders[card.document]

    # -- QR tokens and use at a point of care ------------------------------------------

    def check_issue_token(self, card_id: UUID, account: AccountKey) -> Violations:
        """A token is issued for a normal card to an account bound to it now."""
        card, broken = self._card(card_id)
        if account not in self.accounts:
            broken.add("not_found")
        if card is not None:
            if card.status != NORMAL:
                broken.add("card_not_active")
            elif account not in card.accounts:
                broken.add("not_bound")
        return frozenset(broken)

    def check_use(self, card_id: UUID, *, step_allowed: bool, fresh: bool) -> Violations:
        """Use of a just-issued token: refused when its use does not allow the step,
        when it was accepted before (replayed) or the card is no longer normal."""
        card = self.cards[card_id]
        if not step_allowed or not fresh or card.status != NORMAL:
            return frozenset({"token_rejected"})
        return OK

    def apply_use(self, card_id: UUID) -> None:
        self.cards[card_id].uses += 1

    # -- sessions and appointments ----------------------------------------------------

    def check_publish(self, slot: tuple[str, str, date, str]) -> Violations:
        broken = set()
        if slot[2] < self.today:
            broken.add("appointment_in_past")
        if any(session.slot == slot for session in self.sessions.values()):
            broken.add("session_already_published")
        return frozenset(broken)

    def apply_publish(
        self, session_id: UUID, slot: tuple[str, str, date, str], capacity: int
    ) -> None:
        self.sessions[session_id] = RefSession(session_id, slot, capacity)

    def check_book(self, session_id: UUID, card_id: UUID) -> Violations:
        card, broken = self._card(card_id)
        session = self.sessions.get(session_id)
        if session is None:
            broken.add("session_not_found")
        if card is not None:
            if card.status != NORMAL:
                broken.add("card_not_active")
            elif not card.formal:
                broken.add("identity_incomplete")
        if session is not None:
            if self.today > session.day:
                broken.add("appointment_in_past")
            if session.active_of(card_id) is not None:
                broken.add("duplicate_appointment")
            if session.taken >= session.capacity:
                broken.add("session_full")
        return frozenset(broken)

    def apply_book(self, session_id: UUID, appointment_id: UUID, card_id: UUID) -> None:
        self.sessions[session_id].appointments[appointment_id] = RefAppointment(
            appointment_id, card_id
        )

    def check_cancel_appointment(self, session_id: UUID, appointment_id: UUID) -> Violations:
        session = self.sessions.get(session_id)
        if session is None:
            return frozenset({"session_not_found"})
        appointment = session.appointments.get(appointment_id)
        if appointment is None:
            return frozenset({"appointment_not_found"})
        return OK if appointment.status == BOOKED else frozenset({"appointment_not_active"})

    def apply_cancel_appointment(self, session_id: UUID, appointment_id: UUID) -> None:
        self.sessions[session_id].appointments[appointment_id].status = APPOINTMENT_CANCELLED

    def check_check_in(self, session_id: UUID, card_id: UUID | None) -> Violations:
        """Check-in of the card holding the shown document (``None``: no card holds it)."""
        broken: set[str] = set()
        session = self.sessions.get(session_id)
        if session is None:
            broken.add("session_not_found")
        if card_id is None:
            broken.add("appointment_not_found")
            return frozenset(broken)
        card = self.cards[card_id]
        if card.status != NORMAL:
            broken.add("card_not_active")
        if session is not None:
            appointment = session.active_of(card_id)
            if appointment is None:
                broken.add("appointment_not_found")
            elif appointment.status != BOOKED:
                broken.add("appointment_not_active")
            if session.day != self.today:
                broken.add("check_in_not_open")
        return frozenset(broken)

    def apply_check_in(self, session_id: UUID, card_id: UUID) -> UUID:
        appointment = self.sessions[session_id].active_of(card_id)
        assert appointment is not None
        appointment.status = CHECKED_IN
        return appointment.appointment_id

    def holder_of(self, document: DocumentKey) -> UUID | None:
        return self.holders.get(document)
