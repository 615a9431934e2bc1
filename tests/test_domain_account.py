"""Unit tests of the Account aggregate: the family cards one mobile account holds.

Why the cap is a parameter of ``add_card``: hospitals configure 3, 5 or 7; the
aggregate must hold whatever cap the application passes, so the tests run it with
several. Refusals are checked for class, stable ``code`` and "nothing recorded".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest

from healthcard.domain.account import Account
from healthcard.domain.aggregate import Aggregate
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import AlreadyBound, FamilyCapReached, HealthCardError, NotBound
from healthcard.domain.relation import Relation
from healthcard.domain.events.account import AccountOpened, CardAdded, CardRemoved

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
AUDIT = Audit(actor="wx-user", channel=Channel.WECHAT_OFFICIAL_ACCOUNT, institution="H510100001")


@contextmanager
def refused(aggregate: Aggregate, error: type[HealthCardError], code: str) -> Iterator[Any]:
    """Expect exactly ``error`` with ``code``, and no change recorded on ``aggregate``."""
    events_before = aggregate.pending_events
    version_before = aggregate.version
    with pytest.raises(error) as excinfo:
        yield excinfo
    assert type(excinfo.value) is error
    assert excinfo.value.code == code
    assert aggregate.pending_events == events_before
    assert aggregate.version == version_before


def open_account() -> Account:
    return Account.open(
        uuid4(), kind=AccountKind.PHONE, identifier="+8613812345678", audit=AUDIT, at=NOW
    )


def test_open_records_the_kind_and_identifier() -> None:
    account = Account.open(
        uuid4(), kind=AccountKind.WECHAT, identifier="oWx_abc-123", audit=AUDIT, at=NOW
    )
    [event] = account.pending_events
    assert isinstance(event, AccountOpened)
    assert (account.kind, account.identifier) == (AccountKind.WECHAT, "oWx_abc-123")
    assert account.cards == {}
    assert account.version == 1


def test_family_members_are_held_with_their_relation_codes() -> None:
    account = open_account()
    me, wife, son, mother = uuid4(), uuid4(), uuid4(), uuid4()
    account.add_card(me, Relation.SELF, cap=5, audit=AUDIT, at=NOW)
    account.add_card(wife, Relation.WIFE, cap=5, audit=AUDIT, at=NOW)
    account.add_card(son, Relation.SON, cap=5, audit=AUDIT, at=NOW)
    account.add_card(mother, Relation.MOTHER, cap=5, audit=AUDIT, at=NOW)
    assert account.cards == {
        me: Relation.SELF,
        wife: Relation.WIFE,
        son: Relation.SON,
        mother: Relation.MOTHER,
    }
    assert all(isinstance(e, CardAdded) for e in account.pending_events[1:])


@pytest.mark.parametrize("cap", [1, 3, 5, 7])
def test_the_cap_is_reached_after_exactly_cap_cards(cap: int) -> None:
    account = open_account()
    for _ in range(cap):
        account.add_card(uuid4(), Relation.OTHER_RELATIVE, cap=cap, audit=AUDIT, at=NOW)
    with refused(account, FamilyCapReached, "family_cap_reached") as excinfo:
        account.add_card(uuid4(), Relation.SON, cap=cap, audit=AUDIT, at=NOW)
    assert excinfo.value.cap == cap
    assert len(account.cards) == cap


def test_a_lower_cap_applies_to_an_account_that_already_holds_more() -> None:
    # Configuration may lower the cap; existing bindings stay, new ones are refused.
    account = open_account()
    for _ in range(5):
        account.add_card(uuid4(), Relation.SON, cap=5, audit=AUDIT, at=NOW)
    with refused(account, FamilyCapReached, "family_cap_reached"):
        account.add_card(uuid4(), Relation.SON, cap=3, audit=AUDIT, at=NOW)


def test_removing_a_card_frees_a_place() -> None:
    account = open_account()
    first, second = uuid4(), uuid4()
    account.add_card(first, Relation.SELF, cap=2, audit=AUDIT, at=NOW)
    account.add_card(second, Relation.SON, cap=2, audit=AUDIT, at=NOW)
    account.remove_card(first, audit=AUDIT, at=NOW)
    assert isinstance(account.pending_events[-1], CardRemoved)
    third = uuid4()
    account.add_card(third, Relation.DAUGHTER, cap=2, audit=AUDIT, at=NOW)
    assert set(account.cards) == {second, third}


def test_adding_a_card_twice_is_refused() -> None:
    account = open_account()
    card = uuid4()
    account.add_card(card, Relation.SELF, cap=5, audit=AUDIT, at=NOW)
    with refused(account, AlreadyBound, "already_bound"):
        account.add_card(card, Relation.SON, cap=5, audit=AUDIT, at=NOW)
    assert account.cards == {card: Relation.SELF}


def test_a_full_account_reports_already_bound_for_a_card_it_holds() -> None:
    # The more specific refusal wins: the card is there, the cap is not the problem.
    account = open_account()
    card = uuid4()
    account.add_card(card, Relation.SELF, cap=1, audit=AUDIT, at=NOW)
    with refused(account, AlreadyBound, "already_bound"):
        account.add_card(card, Relation.SELF, cap=1, audit=AUDIT, at=NOW)


def test_removing_a_card_that_is_not_held_is_refused() -> None:
    account = open_account()
    account.add_card(uuid4(), Relation.SELF, cap=5, audit=AUDIT, at=NOW)
    with refused(account, NotBound, "not_bound"):
        account.remove_card(uuid4(), audit=AUDIT, at=NOW)


def test_project_rebuilds_an_equal_account() -> None:
    account = open_account()
    kept, removed = uuid4(), uuid4()
    account.add_card(kept, Relation.SELF, cap=5, audit=AUDIT, at=NOW)
    account.add_card(removed, Relation.FATHER, cap=5, audit=AUDIT, at=NOW)
    account.remove_card(removed, audit=AUDIT, at=NOW)
    events = account.collect_events()
    rebuilt = Account.project(None, events)
    assert rebuilt is not None
    assert {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"} == {
        k: v for k, v in vars(account).items() if k != "_pending_events"
    }
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
