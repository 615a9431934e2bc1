"""Erasing one person never erases another person's account.

Relation 01 (self) is declared by whoever binds, so a mother may bind her own phone
to her daughter's card "as self"; erasing the daughter then only removes that binding:
the phone account, which still holds the mother's own card, keeps its identifier.
"""

from __future__ import annotations

from uuid import UUID

from healthcard import HealthCardApp
from healthcard.application.commands import AccountRef, BindCard, ErasePersonalData, UnbindCard
from healthcard.domain.account import Account
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.relation import Relation
from healthcard.testing.world import Driver


def account_of(app: HealthCardApp, account_id: UUID) -> Account:
    """An account by its stream id (an erased one is no longer found by its number)."""
    account = app.repository.get(account_id, projector_func=Account.project)
    assert isinstance(account, Account)
    return account


STAFF = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
MOTHERS_PHONE = AccountRef(kind="phone", identifier="13812345678")


def test_an_erasure_keeps_an_account_that_holds_another_card(app: HealthCardApp) -> None:
    driver = Driver(app)
    mother, daughter = driver.register(name="王芳"), driver.register(name="王小红")
    for card in (mother, daughter):
        app.bind(BindCard(audit=STAFF, card_id=card, account=MOTHERS_PHONE, relation="01"))
    app.erase_personal_data(ErasePersonalData(audit=STAFF, card_id=daughter))
    account = app.account(MOTHERS_PHONE)
    assert not account.erased
    assert account.identifier == "+8613812345678"
    assert account.cards == {mother: Relation.SELF}
    assert app.card(mother).accounts == {account.id: Relation.SELF}
    assert app.card(daughter).erased
    assert not app.keystore.is_erased(account.id)


def test_an_account_that_holds_only_the_erased_card_goes_with_it(app: HealthCardApp) -> None:
    driver = Driver(app)
    card = driver.register()
    app.bind(BindCard(audit=STAFF, card_id=card, account=MOTHERS_PHONE, relation="01"))
    account_id = app.account(MOTHERS_PHONE).id
    app.erase_personal_data(ErasePersonalData(audit=STAFF, card_id=card))
    assert app.keystore.is_erased(account_id)


def test_the_holders_own_account_unbound_before_the_erasure_goes_with_it(
    app: HealthCardApp,
) -> None:
    """An account once bound as self and unbound since still carries the holder's number."""
    driver = Driver(app)
    card = driver.register()
    app.bind(BindCard(audit=STAFF, card_id=card, account=MOTHERS_PHONE, relation="01"))
    account_id = app.account(MOTHERS_PHONE).id
    app.unbind(UnbindCard(audit=STAFF, card_id=card, account=MOTHERS_PHONE))
    app.erase_personal_data(ErasePersonalData(audit=STAFF, card_id=card))
    assert app.keystore.is_erased(account_id)
    assert account_of(app, account_id).erased
    assert account_id not in app.pending_erasures()


def test_an_unbound_own_account_that_now_holds_another_card_is_kept(app: HealthCardApp) -> None:
    driver = Driver(app)
    card, other = driver.register(), driver.register(name="李华")
    app.bind(BindCard(audit=STAFF, card_id=card, account=MOTHERS_PHONE, relation="01"))
    app.unbind(UnbindCard(audit=STAFF, card_id=card, account=MOTHERS_PHONE))
    app.bind(BindCard(audit=STAFF, card_id=other, account=MOTHERS_PHONE, relation="01"))
    app.erase_personal_data(ErasePersonalData(audit=STAFF, card_id=card))
    account = app.account(MOTHERS_PHONE)
    assert not account.erased
    assert account.cards == {other: Relation.SELF}


def test_a_relatives_account_left_holding_no_card_goes_with_it(app: HealthCardApp) -> None:
    """The father's phone held only his son's card: it would keep a live number beside
    the erased card's binding, so it is erased too, and his next binding opens a new
    account that knows nothing of the erased son."""
    driver = Driver(app)
    son, daughter = driver.register(name="王小明"), driver.register(name="王小红")
    fathers = AccountRef(kind="phone", identifier="13912345678")
    app.bind(BindCard(audit=STAFF, card_id=son, account=fathers, relation="20"))
    before = app.account(fathers).id
    app.erase_personal_data(ErasePersonalData(audit=STAFF, card_id=son))
    assert account_of(app, before).erased
    assert app.keystore.is_erased(before)
    app.bind(BindCard(audit=STAFF, card_id=daughter, account=fathers, relation="30"))
    after = app.account(fathers)
    assert after.id != before
    assert after.cards == {daughter: Relation.DAUGHTER}
    assert not after.erased
