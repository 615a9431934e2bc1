"""Unit tests of the cross-aggregate rules in ``healthcard.domain.policies``: what
cancelling or erasing a card changes beyond the card.

Why test the policies alone: they decide which family accounts lose the card, which
document claim is released and which accounts are erased with the holder; the
service only loads what the :class:`~healthcard.domain.policies.Related` port asks
for and saves what the policy returns, in one save. Here that port is a fake that
keeps each aggregate as its events (built with the ``healthcard.testing.gwt`` kit)
and builds a fresh aggregate on every load, as a repository does, so a policy that
loaded an aggregate twice would lose the first copy's changes and the tests would
see it. The card itself is run through given/when/then; what the policy recorded on
the other aggregates is compared event for event with the next events of their
streams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid4

import pytest

from healthcard.domain.account import Account
from healthcard.domain.aggregate import Aggregate
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import AccountKind, CardStatus, IssuerMode
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.errors import InvalidStatusChange
from healthcard.domain.events.account import AccountErased, AccountOpened, CardAdded, CardRemoved
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import (
    Bound,
    Cancelled,
    Frozen,
    IdentityCompleted,
    PersonalDataErased,
    Registered,
    Unbound,
)
from healthcard.domain.events.document import DocumentClaimed, DocumentReleased
from healthcard.domain.identity import IdentityDocument
from healthcard.domain.policies import Erasure, cancel_card, erase_card, holder_accounts
from healthcard.domain.relation import Relation
from healthcard.testing.gwt import EventStream, Expect, expect, given, stream
from healthcard.testing.world import person

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
EARLIER = NOW - timedelta(days=1)
"""When the given events happened; the policies run at ``NOW``."""
AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
HOLDER = person(2)  # an even serial: a woman, so she is her mother's daughter

A = TypeVar("A", bound=Aggregate)


class FakeRelated:
    """The service's side of :class:`Related`, over aggregates kept as events.

    Every load builds a fresh aggregate from its events (a repository ``get`` hands
    out a new copy each time) and is noted in ``loaded``; an id the scenario did not
    set up fails the test with ``KeyError``. ``save`` appends what aggregates
    recorded, as the service's one save would.
    """

    def __init__(self) -> None:
        self.histories: dict[UUID, list[DomainEvent]] = {}
        self.claims: dict[str, UUID] = {}
        self.loaded: list[UUID] = []

    def account(self, account_id: UUID) -> Account:
        return self._load(Account, account_id)

    def claim_of(self, document: IdentityDocument) -> DocumentClaim:
        return self._load(DocumentClaim, self.claims[document.key()])

    def save(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.histories.setdefault(aggregate.id, []).extend(aggregate.collect_events())

    def _load(self, aggregate_class: type[A], aggregate_id: UUID) -> A:
        self.loaded.append(aggregate_id)
        aggregate = given(*self.histories[aggregate_id], aggregate=aggregate_class).build()
        assert aggregate is not None
        return aggregate


def new_stream() -> EventStream:
    return stream(uuid4(), audit=AUDIT, at=EARLIER)


@dataclass
class Family:
    """The holder's card, bound to her own phone and WeChat accounts (relation 01,
    self) and, as daughter, to her mother's account, which also holds the mother's
    own card; the card's document is claimed when the card is formal.

    Each aggregate is a stream, its past events kept in ``related``, so a test can
    make the exact next event each one should record.
    """

    card: EventStream = field(default_factory=new_stream)
    phone: EventStream = field(default_factory=new_stream)
    mother: EventStream = field(default_factory=new_stream)
    wechat: EventStream = field(default_factory=new_stream)
    claim: EventStream = field(default_factory=new_stream)
    mother_card: UUID = field(default_factory=uuid4)
    related: FakeRelated = field(default_factory=FakeRelated)

    @property
    def card_id(self) -> UUID:
        return self.card.aggregate_id

    @property
    def accounts(self) -> list[EventStream]:
        """The accounts in the order the card was bound to them."""
        return [self.phone, self.mother, self.wechat]

    @property
    def bindings(self) -> dict[UUID, Relation]:
        """Account id -> the relation the card is bound with, in binding order."""
        return {
            self.phone.aggregate_id: Relation.SELF,
            self.mother.aggregate_id: Relation.DAUGHTER,
            self.wechat.aggregate_id: Relation.SELF,
        }

    @property
    def own(self) -> tuple[UUID, ...]:
        """The holder's own accounts (bound as self), in binding order."""
        return (self.phone.aggregate_id, self.wechat.aggregate_id)

    def history(self, aggregate: EventStream) -> list[DomainEvent]:
        return self.related.histories.setdefault(aggregate.aggregate_id, [])

    def record(self, aggregate: EventStream, *events: DomainEvent) -> None:
        self.history(aggregate).extend(events)


IDENTIFIERS = [
    (AccountKind.PHONE, "+8613812345678"),
    (AccountKind.PHONE, "+8613912345678"),
    (AccountKind.WECHAT, "oWx_abc-123"),
]
"""The phone, mother's and WeChat accounts' kinds and identifiers."""


def family(*, formal: bool = True, frozen: bool = False, cancelled: bool = False) -> Family:
    """A :class:`Family` as events. ``formal``: the card has a document (claimed);
    ``cancelled``: the card was cancelled earlier, so its accounts lost it and its
    document was released."""
    f = Family()
    card = f.card
    f.record(card, card(Registered, issuer_mode=IssuerMode.PRODUCTION, name=HOLDER.name))
    if formal:
        f.record(
            card,
            card(
                IdentityCompleted,
                document=HOLDER.document,
                name=HOLDER.name,
                sex=HOLDER.sex,
                birth_date=HOLDER.birth_date,
                verified_by=AUDIT.institution,
                main_index_id="A" * 64,
                ehc_id="B" * 64,
            ),
        )
        f.related.claims[HOLDER.document.key()] = f.claim.aggregate_id
        f.record(f.claim, f.claim(DocumentClaimed, card_id=f.card_id))
    for account, (kind, identifier) in zip(f.accounts, IDENTIFIERS, strict=True):
        relation = f.bindings[account.aggregate_id]
        f.record(card, card(Bound, account_id=account.aggregate_id, relation=relation))
        f.record(account, account(AccountOpened, kind=kind, identifier=identifier))
        if account is f.mother:
            f.record(account, account(CardAdded, card_id=f.mother_card, relation=Relation.SELF))
        f.record(account, account(CardAdded, card_id=f.card_id, relation=relation))
    if frozen:
        f.record(card, card(Frozen, reason="lost_phone"))
    if cancelled:
        f.record(card, card(Cancelled, reason="deceased"))
        for account in f.accounts:
            f.record(account, account(CardRemoved, card_id=f.card_id))
        if formal:
            f.record(f.claim, f.claim(DocumentReleased, card_id=f.card_id))
    return f


def ids(aggregates: list[Aggregate]) -> list[tuple[type[Aggregate], UUID]]:
    return [(type(a), a.id) for a in aggregates]


# -- whose accounts are the holder's own -------------------------------------------------


@pytest.mark.parametrize("cancelled", [False, True], ids=["bound now", "bound before cancelling"])
def test_the_holders_own_accounts_are_those_bound_as_self(cancelled: bool) -> None:
    f = family(cancelled=cancelled)
    card = given(*f.history(f.card), aggregate=HealthCard).build()
    assert card is not None
    assert holder_accounts(card) == f.own


def test_a_card_bound_only_to_relatives_has_no_own_account() -> None:
    card = stream(uuid4(), audit=AUDIT, at=EARLIER)
    built = given(
        card(Registered, issuer_mode=IssuerMode.PRODUCTION, name=HOLDER.name),
        card(Bound, account_id=uuid4(), relation=Relation.DAUGHTER),
        card(Bound, account_id=uuid4(), relation=Relation.SPOUSE),
        aggregate=HealthCard,
    ).build()
    assert built is not None
    assert holder_accounts(built) == ()


# -- cancelling ------------------------------------------------------------------------


@pytest.mark.parametrize("frozen", [False, True], ids=["normal", "frozen"])
def test_cancelling_frees_every_binding_and_releases_the_document(frozen: bool) -> None:
    f = family(frozen=frozen)
    removed = {a.aggregate_id: [a(CardRemoved, card_id=f.card_id, at=NOW)] for a in f.accounts}
    released = [f.claim(DocumentReleased, card_id=f.card_id, at=NOW)]

    def bindings_kept_as_former(card: HealthCard) -> None:
        assert card.status is CardStatus.CANCELLED
        assert card.accounts == {}
        assert card.former_accounts == f.bindings

    outcome = (
        given(*f.history(f.card), aggregate=HealthCard)
        .when(lambda c: cancel_card(c, "deceased", f.related, audit=AUDIT, at=NOW))
        .then(expect(Cancelled, reason="deceased", audit=AUDIT))
        .then_state(bindings_kept_as_former)
    )
    changed = outcome.result
    assert isinstance(changed, list)
    assert ids(changed) == [
        (HealthCard, f.card_id),
        *((Account, a.aggregate_id) for a in f.accounts),
        (DocumentClaim, f.claim.aggregate_id),
    ]
    card, *accounts, claim = changed
    assert card is outcome.aggregate
    assert {a.id: a.pending_events for a in accounts} == removed
    assert claim.pending_events == released
    assert {a.id: a.cards for a in accounts if isinstance(a, Account)} == {
        f.phone.aggregate_id: {},
        f.mother.aggregate_id: {f.mother_card: Relation.SELF},  # her own card stays
        f.wechat.aggregate_id: {},
    }
    assert isinstance(claim, DocumentClaim)
    assert claim.holder is None


def test_cancelling_a_cancelled_card_is_refused_before_anything_around_it_is_loaded() -> None:
    f = family(cancelled=True)
    (
        given(*f.history(f.card), aggregate=HealthCard)
        .when(lambda c: cancel_card(c, "again", f.related, audit=AUDIT, at=NOW))
        .then(InvalidStatusChange, code="invalid_status_change")
    )
    assert f.related.loaded == []


Policy = Callable[[HealthCard, FakeRelated], list[Aggregate]]
POLICIES: dict[str, tuple[Policy, list[Expect]]] = {
    "cancel": (
        lambda card, related: cancel_card(card, "x", related, audit=AUDIT, at=NOW),
        [expect(Cancelled)],
    ),
    "erase": (
        lambda card, related: erase_card(card, "x", related, audit=AUDIT, at=NOW).changed,
        [expect(Cancelled), expect(PersonalDataErased)],
    ),
}
"""Each policy's changed aggregates, and what it records on a normal card."""


@pytest.mark.parametrize(("policy", "recorded"), POLICIES.values(), ids=POLICIES.keys())
def test_a_temporary_card_asks_for_no_document_claim(
    policy: Policy, recorded: list[Expect]
) -> None:
    f = family(formal=False)  # no claim is set up: asking for one raises KeyError
    outcome = (
        given(*f.history(f.card), aggregate=HealthCard)
        .when(lambda c: policy(c, f.related))
        .then(*recorded)
    )
    assert isinstance(outcome.result, list)
    assert ids(outcome.result) == [
        (HealthCard, f.card_id),
        *((Account, a.aggregate_id) for a in f.accounts),
    ]
    assert f.related.loaded == [a.aggregate_id for a in f.accounts]


# -- erasing ---------------------------------------------------------------------------


@pytest.mark.parametrize("frozen", [False, True], ids=["normal", "frozen"])
def test_erasing_cancels_first_then_erases_the_holder_and_her_own_accounts(
    frozen: bool,
) -> None:
    f = family(frozen=frozen)
    expected = {
        f.phone.aggregate_id: [
            f.phone(CardRemoved, card_id=f.card_id, at=NOW),
            f.phone(AccountErased, reason="holder_request", at=NOW),
        ],
        f.mother.aggregate_id: [f.mother(CardRemoved, card_id=f.card_id, at=NOW)],
        f.wechat.aggregate_id: [
            f.wechat(CardRemoved, card_id=f.card_id, at=NOW),
            f.wechat(AccountErased, reason="holder_request", at=NOW),
        ],
        f.claim.aggregate_id: [f.claim(DocumentReleased, card_id=f.card_id, at=NOW)],
    }
    outcome = (
        given(*f.history(f.card), aggregate=HealthCard)
        .when(lambda c: erase_card(c, "holder_request", f.related, audit=AUDIT, at=NOW))
        .then(
            expect(Cancelled, reason="holder_request"),
            expect(PersonalDataErased, reason="holder_request", audit=AUDIT),
        )
        .then_state(lambda c: c.erased and c.status is CardStatus.CANCELLED)
    )
    erasure = outcome.result
    assert isinstance(erasure, Erasure)
    assert erasure.subjects == (f.card_id, *f.own)
    assert ids(erasure.changed) == [
        (HealthCard, f.card_id),
        *((Account, a.aggregate_id) for a in f.accounts),
        (DocumentClaim, f.claim.aggregate_id),
    ]
    assert erasure.changed[0] is outcome.aggregate
    assert {a.id: a.pending_events for a in erasure.changed[1:]} == expected
    assert f.related.loaded == list(expected)  # each once: the erasure reuses what it loaded


def test_erasing_a_card_cancelled_earlier_erases_the_accounts_it_left_empty() -> None:
    f = family(cancelled=True)
    expected = {
        account.aggregate_id: [account(AccountErased, reason="holder_request", at=NOW)]
        for account in (f.phone, f.wechat)
    }
    outcome = (
        given(*f.history(f.card), aggregate=HealthCard)
        .when(lambda c: erase_card(c, "holder_request", f.related, audit=AUDIT, at=NOW))
        .then(expect(PersonalDataErased, reason="holder_request"))
    )
    erasure = outcome.result
    assert isinstance(erasure, Erasure)
    assert erasure.subjects == (f.card_id, *f.own)
    assert ids(erasure.changed) == [
        (HealthCard, f.card_id),
        (Account, f.phone.aggregate_id),
        (Account, f.wechat.aggregate_id),
    ]
    assert {a.id: a.pending_events for a in erasure.changed[1:]} == expected
    # Every account it was bound to is looked at (the mother's holds her own card and
    # stays); the released claim is not loaded again.
    assert f.related.loaded == [a.aggregate_id for a in f.accounts]


def test_erasing_an_erased_card_changes_nothing_and_names_the_same_subjects() -> None:
    f = family()
    card = given(*f.history(f.card), aggregate=HealthCard).build()
    assert card is not None
    first = erase_card(card, "holder_request", f.related, audit=AUDIT, at=NOW)
    f.related.save(*first.changed)
    f.related.loaded.clear()
    outcome = (
        given(*f.history(f.card), aggregate=HealthCard)
        .when(lambda c: erase_card(c, "holder_request", f.related, audit=AUDIT, at=NOW))
        .then_nothing()
        .then_state(lambda c: c.erased)
    )
    again = outcome.result
    assert isinstance(again, Erasure)
    assert again.changed == []
    assert again.subjects == first.subjects == (f.card_id, *f.own)
    # only to see which of them were erased
    assert f.related.loaded == [a.aggregate_id for a in f.accounts]


def erase_recorded(related: FakeRelated, card: EventStream) -> Erasure:
    """Erase the card whose history ``related`` holds (it records its cancellation and
    its erasure) and return what the erasure changed."""
    outcome = (
        given(*related.histories[card.aggregate_id], aggregate=HealthCard)
        .when(lambda c: erase_card(c, "holder_request", related, audit=AUDIT, at=NOW))
        .then(expect(Cancelled), expect(PersonalDataErased))
    )
    erasure = outcome.result
    assert isinstance(erasure, Erasure)
    return erasure


def test_an_account_bound_as_self_that_holds_another_card_is_not_erased() -> None:
    """Relation 01 is whatever the binder declared: the mother's phone, bound to the
    daughter's card as "self", also holds the mother's own card, so erasing the
    daughter removes only her binding and leaves the mother's account (and its key)."""
    related = FakeRelated()
    card, mother = new_stream(), new_stream()
    mothers_card = uuid4()
    related.histories[card.aggregate_id] = [
        card(Registered, issuer_mode=IssuerMode.PRODUCTION, name=HOLDER.name),
        card(Bound, account_id=mother.aggregate_id, relation=Relation.SELF),
    ]
    related.histories[mother.aggregate_id] = [
        mother(AccountOpened, kind=AccountKind.PHONE, identifier="+8613912345678"),
        mother(CardAdded, card_id=mothers_card, relation=Relation.SELF),
        mother(CardAdded, card_id=card.aggregate_id, relation=Relation.SELF),
    ]
    erasure = erase_recorded(related, card)
    assert erasure.subjects == (card.aggregate_id,)  # the mother's key stays
    account = erasure.changed[1]
    assert isinstance(account, Account)
    assert [type(e) for e in account.pending_events] == [CardRemoved]
    assert not account.erased
    assert set(account.cards) == {mothers_card}


@pytest.mark.parametrize("unbound", [False, True], ids=["bound now", "unbound before"])
def test_a_relatives_account_left_holding_no_card_is_erased_too(unbound: bool) -> None:
    """The father's phone held only his son's card: once the son is erased, the phone's
    account would keep a live number beside the erased card's binding, so it goes too
    (also when the binding ended before the erasure)."""
    related = FakeRelated()
    card, father = new_stream(), new_stream()
    related.histories[card.aggregate_id] = [
        card(Registered, issuer_mode=IssuerMode.PRODUCTION, name=HOLDER.name),
        card(Bound, account_id=father.aggregate_id, relation=Relation.SON),
    ]
    related.histories[father.aggregate_id] = [
        father(AccountOpened, kind=AccountKind.PHONE, identifier="+8613912345678"),
        father(CardAdded, card_id=card.aggregate_id, relation=Relation.SON),
    ]
    if unbound:
        related.histories[card.aggregate_id].append(card(Unbound, account_id=father.aggregate_id))
        related.histories[father.aggregate_id].append(
            father(CardRemoved, card_id=card.aggregate_id)
        )
    erasure = erase_recorded(related, card)
    assert erasure.subjects == (card.aggregate_id, father.aggregate_id)
    account = erasure.changed[-1]
    assert isinstance(account, Account)
    assert account.erased
    assert [type(e) for e in account.pending_events][-1] is AccountErased


def test_an_account_erased_before_is_not_erased_again() -> None:
    related = FakeRelated()
    card, phone = new_stream(), new_stream()
    related.histories[card.aggregate_id] = [
        card(Registered, issuer_mode=IssuerMode.PRODUCTION, name=HOLDER.name),
        card(Bound, account_id=phone.aggregate_id, relation=Relation.SON),
        card(Unbound, account_id=phone.aggregate_id),
    ]
    related.histories[phone.aggregate_id] = [
        phone(AccountOpened, kind=AccountKind.PHONE, identifier="+8613912345678"),
        phone(CardAdded, card_id=card.aggregate_id, relation=Relation.SON),
        phone(CardRemoved, card_id=card.aggregate_id),
        phone(AccountErased, reason="another_erasure"),
    ]
    built = given(*related.histories[card.aggregate_id], aggregate=HealthCard).build()
    assert built is not None
    erasure = erase_card(built, "holder_request", related, audit=AUDIT, at=NOW)
    assert erasure.subjects == (card.aggregate_id,)
    assert [type(a) for a in erasure.changed] == [HealthCard]
