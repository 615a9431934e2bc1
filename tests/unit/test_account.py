"""Unit tests of the Account aggregate: the family cards one mobile account holds,
under a cap, and the erasure of its identifier.

Why the cap is a parameter of ``add_card``: hospitals configure 3, 5 or 7; the
aggregate must hold whatever cap the application passes, so the tests run it with
several. Scenarios are stated with the ``healthcard.testing.gwt`` kit; a refusal is
checked for its class and stable ``code``, and ``then`` checks it recorded nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from healthcard.domain.account import Account
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import AlreadyBound, FamilyCapReached, NotBound
from healthcard.domain.events.account import AccountErased, AccountOpened, CardAdded, CardRemoved
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.personal import ERASED_TEXT
from healthcard.domain.relation import Relation
from healthcard.testing.compare import aggregate_state
from healthcard.testing.gwt import EventStream, expect, given, stream

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
EARLIER = NOW - timedelta(days=1)
"""When the given events happened; commands run at ``NOW``."""
AUDIT = Audit(actor="wx-user", channel=Channel.WECHAT_OFFICIAL_ACCOUNT, institution="H510100001")
PHONE = "+8613812345678"


def opened(account: EventStream, *cards: tuple[UUID, Relation]) -> list[DomainEvent]:
    """A phone account opened, then holding ``cards`` (id, relation) in this order."""
    return [
        account(AccountOpened, kind=AccountKind.PHONE, identifier=PHONE),
        *(account(CardAdded, card_id=card, relation=relation) for card, relation in cards),
    ]


def account_stream() -> EventStream:
    return stream(uuid4(), audit=AUDIT, at=EARLIER)


def test_open_records_the_kind_and_identifier() -> None:
    account_id = uuid4()

    def empty_wechat_account(account: Account) -> None:
        assert (account.kind, account.identifier) == (AccountKind.WECHAT, "oWx_abc-123")
        assert account.cards == {}
        assert account.version == 1

    (
        given(aggregate=Account)
        .when_new(
            lambda: Account.open(
                account_id, kind=AccountKind.WECHAT, identifier="oWx_abc-123", audit=AUDIT, at=NOW
            )
        )
        .then(
            expect(
                AccountOpened,
                originator_id=account_id,
                kind=AccountKind.WECHAT,
                identifier="oWx_abc-123",
            )
        )
        .then_state(empty_wechat_account)
    )


def test_family_members_are_held_with_their_relation_codes() -> None:
    family = {
        uuid4(): Relation.SELF,
        uuid4(): Relation.WIFE,
        uuid4(): Relation.SON,
        uuid4(): Relation.MOTHER,
    }

    def add_the_family(account: Account) -> None:
        for card, relation in family.items():
            account.add_card(card, relation, cap=5, audit=AUDIT, at=NOW)

    (
        given(*opened(account_stream()), aggregate=Account)
        .when(add_the_family)
        .then(*(expect(CardAdded, card_id=c, relation=r) for c, r in family.items()))
        .then_state(lambda a: a.cards == family)
    )


@pytest.mark.parametrize("cap", [1, 3, 5, 7])
def test_the_cap_is_reached_after_exactly_cap_cards(cap: int) -> None:
    account = account_stream()
    history = opened(account)
    cards = [uuid4() for _ in range(cap)]

    def fill_up(a: Account) -> None:
        for card in cards:
            a.add_card(card, Relation.OTHER_RELATIVE, cap=cap, audit=AUDIT, at=NOW)

    (
        given(*history, aggregate=Account)
        .when(fill_up)
        .then(*(expect(CardAdded, card_id=card) for card in cards))
    )
    history += [account(CardAdded, card_id=c, relation=Relation.OTHER_RELATIVE) for c in cards]
    outcome = (
        given(*history, aggregate=Account)
        .when(lambda a: a.add_card(uuid4(), Relation.SON, cap=cap, audit=AUDIT, at=NOW))
        .then(FamilyCapReached, code="family_cap_reached")
        .then_state(lambda a: len(a.cards) == cap)
    )
    assert isinstance(outcome.error, FamilyCapReached)
    assert outcome.error.cap == cap


def test_a_lower_cap_applies_to_an_account_that_already_holds_more() -> None:
    # Configuration may lower the cap; existing bindings stay, new ones are refused.
    held = [(uuid4(), Relation.SON) for _ in range(5)]
    (
        given(*opened(account_stream(), *held), aggregate=Account)
        .when(lambda a: a.add_card(uuid4(), Relation.SON, cap=3, audit=AUDIT, at=NOW))
        .then(FamilyCapReached, code="family_cap_reached")
        .then_state(lambda a: len(a.cards) == 5)
    )


def test_removing_a_card_frees_a_place() -> None:
    first, second, third = uuid4(), uuid4(), uuid4()

    def remove_then_add(account: Account) -> None:
        account.remove_card(first, audit=AUDIT, at=NOW)
        account.add_card(third, Relation.DAUGHTER, cap=2, audit=AUDIT, at=NOW)

    (
        given(
            *opened(account_stream(), (first, Relation.SELF), (second, Relation.SON)),
            aggregate=Account,
        )
        .when(remove_then_add)
        .then(
            expect(CardRemoved, card_id=first),
            expect(CardAdded, card_id=third, relation=Relation.DAUGHTER),
        )
        .then_state(lambda a: set(a.cards) == {second, third})
    )


def test_adding_a_card_twice_is_refused() -> None:
    card = uuid4()
    (
        given(*opened(account_stream(), (card, Relation.SELF)), aggregate=Account)
        .when(lambda a: a.add_card(card, Relation.SON, cap=5, audit=AUDIT, at=NOW))
        .then(AlreadyBound, code="already_bound")
        .then_state(lambda a: a.cards == {card: Relation.SELF})
    )


def test_a_full_account_reports_already_bound_for_a_card_it_holds() -> None:
    # The more specific refusal wins: the card is there, the cap is not the problem.
    card = uuid4()
    (
        given(*opened(account_stream(), (card, Relation.SELF)), aggregate=Account)
        .when(lambda a: a.add_card(card, Relation.SELF, cap=1, audit=AUDIT, at=NOW))
        .then(AlreadyBound, code="already_bound")
    )


def test_removing_a_card_that_is_not_held_is_refused() -> None:
    (
        given(*opened(account_stream(), (uuid4(), Relation.SELF)), aggregate=Account)
        .when(lambda a: a.remove_card(uuid4(), audit=AUDIT, at=NOW))
        .then(NotBound, code="not_bound")
    )


def test_erasing_an_account_wipes_its_identifier_once() -> None:
    account = account_stream()
    history = opened(account, (uuid4(), Relation.SELF))
    (
        given(*history, aggregate=Account)
        .when(lambda a: a.erase("holder_request", audit=AUDIT, at=NOW))
        .then(expect(AccountErased, reason="holder_request"))
        .then_state(lambda a: (a.erased, a.identifier) == (True, ERASED_TEXT))
    )
    history.append(account(AccountErased, reason="holder_request"))
    (
        given(*history, aggregate=Account)
        .when(lambda a: a.erase("again", audit=AUDIT, at=NOW))
        .then_nothing()
    )


def test_project_rebuilds_an_equal_account() -> None:
    account = Account.open(uuid4(), kind=AccountKind.PHONE, identifier=PHONE, audit=AUDIT, at=NOW)
    kept, removed = uuid4(), uuid4()
    account.add_card(kept, Relation.SELF, cap=5, audit=AUDIT, at=NOW)
    account.add_card(removed, Relation.FATHER, cap=5, audit=AUDIT, at=NOW)
    account.remove_card(removed, audit=AUDIT, at=NOW)
    events = account.collect_events()
    rebuilt = given(*events, aggregate=Account).build()
    assert rebuilt is not None
    assert aggregate_state(rebuilt) == aggregate_state(account)
    assert rebuilt.cards == {kept: Relation.SELF}
    assert rebuilt.version == len(events)


def test_relation_codes_follow_gbt_4761() -> None:
    # Stored in events: these values are a contract with every log ever written.
    expected = {
        "SELF": "01",
        "HOUSEHOLDER": "02",
        "SPOUSE": "10",
        "HUSBAND": "11",
        "WIFE": "12",
        "SON": "20",
        "DAUGHTER": "30",
        "GRANDCHILD": "40",
        "PARENT": "50",
        "FATHER": "51",
        "MOTHER": "52",
        "GRANDPARENT": "60",
        "SIBLING": "70",
        "OTHER_RELATIVE": "80",
        "NON_RELATIVE": "99",
    }
    for name, code in expected.items():
        assert Relation[name].value == code
