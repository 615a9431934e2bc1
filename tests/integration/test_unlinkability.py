"""After an erasure, nothing stored leads from the person to the erased card.

The attacker holds the whole database and the lookup key (and, for the strongest
checks, every key the application holds): from the person's document and phone
number they derive 0.1.0's keyed-hash ids, and they follow whatever the application
itself finds from them. A person is registered, bound to her own phone and to her
father's (which also holds her sister's card), books, checks in with the QR code and
is seen; she is erased, the operator completes the erasure, and she registers again
with the same document and phone. Checked on memory, SQLite and PostgreSQL; a guard
runs the same story through a key store without locators (0.1.0's ids) and shows the
same searches find the links there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import orjson
import pytest

from healthcard import HealthCardApp
from healthcard.adapters.persistence import memory_env
from healthcard.adapters.privacy.keystore import InMemoryKeyStore, Locators
from healthcard.application.commands import AccountRef, ErasePersonalData
from healthcard.application.keyed_ids import (
    account_id,
    account_locator,
    document_claim_id,
    document_locator,
)
from healthcard.domain.card_values import AccountKind
from healthcard.domain.events.card import Bound, CardUsed, TokenAccepted
from healthcard.domain.events.document import DocumentClaimed
from healthcard.domain.personal import ERASED_ID
from healthcard.domain.relation import Relation
from healthcard.testing import FakeClock
from healthcard.testing.strategies import Person
from healthcard.testing.world import Driver, person, phone_account


@dataclass
class Story:
    """The ids of the story, as the application gave them."""

    who: Person
    own_phone: AccountRef
    fathers_phone: AccountRef
    erased: UUID
    sister: UUID
    later: UUID
    own_account_before: UUID
    fathers_account: UUID
    session: UUID


@dataclass(frozen=True)
class Stored:
    originator_id: UUID
    topic: str
    state: bytes


def tell(app: HealthCardApp) -> Story:
    driver = Driver(app)
    who, own, fathers = person(1), phone_account(1), phone_account(2)
    erased = driver.register(name=who.name)
    driver.complete_identity(erased, who)
    driver.bind(erased, own, Relation.SELF)
    sister = driver.register(name="王小红")
    driver.complete_identity(sister, person(2))
    driver.bind(sister, fathers, Relation.DAUGHTER)
    driver.bind(erased, fathers, Relation.DAUGHTER)
    own_before, fathers_id = app.account(own).id, app.account(fathers).id
    session = driver.publish()
    driver.book(session, erased)
    driver.check_in_with_qr(session, erased, own)
    driver.use(erased, own)
    app.erase_personal_data(ErasePersonalData(audit=driver.audit(), card_id=erased))
    app.complete_erasures()
    later = driver.register(name=who.name)
    driver.complete_identity(later, who)
    driver.bind(later, own, Relation.SELF)
    return Story(who, own, fathers, erased, sister, later, own_before, fathers_id, session)


def stored_log(app: HealthCardApp) -> list[Stored]:
    """Every record as the database holds it (sealed fields stay sealed)."""
    return [
        Stored(UUID(str(n.originator_id)), n.topic, n.state)
        for n in app.recorder.select_notifications(1, 1_000_000)
    ]


def streams_naming(log: list[Stored], card: UUID) -> set[UUID]:
    """The streams whose stored records name ``card`` in clear."""
    text = str(card).encode()
    return {r.originator_id for r in log if text in r.state}


def events_of(app: HealthCardApp, stream: UUID) -> Iterator[object]:
    return iter(app.repository.event_store.get(stream))


@pytest.fixture
def story(app: HealthCardApp) -> Story:
    return tell(app)


def test_the_lookup_key_derives_no_stream_from_the_document_or_the_numbers(
    app: HealthCardApp, story: Story
) -> None:
    key = app.config.lookup_key
    derivable = {
        document_claim_id(key, story.who.document),
        account_id(key, AccountKind.PHONE, story.own_phone.identifier),
        account_id(key, AccountKind.PHONE, story.fathers_phone.identifier),
    }
    assert not derivable & {r.originator_id for r in stored_log(app)}


def test_what_the_document_and_the_phone_lead_to_now_knows_nothing_of_the_erased_card(
    app: HealthCardApp, story: Story
) -> None:
    """Followed with every key the application holds: the document's claim and the
    phone's account are new streams that hold only the later card."""
    claim = app.natural_keys.claim(story.who.document)
    assert claim is not None
    assert claim.holder == story.later
    own = app.account(story.own_phone)
    assert own.id != story.own_account_before
    assert own.cards == {story.later: Relation.SELF}
    for stream in (claim.id, own.id):
        assert stream not in streams_naming(stored_log(app), story.erased)
        opened = [orjson.dumps(e.model_dump(mode="json")) for e in events_of(app, stream)]  # type: ignore[attr-defined]
        assert not [o for o in opened if str(story.erased).encode() in o]


def test_the_erased_cards_history_names_no_account(app: HealthCardApp, story: Story) -> None:
    accounts = {
        story.own_account_before,
        story.fathers_account,
        app.account(story.own_phone).id,
    }
    mine = [r for r in stored_log(app) if r.originator_id == story.erased]
    assert {r.topic for r in mine} >= {Bound.TOPIC, TokenAccepted.TOPIC, CardUsed.TOPIC}
    for record in mine:
        assert not [a for a in accounts if str(a).encode() in record.state], record.topic
    # Opened with the application's keys too: the card's key is gone, so the account
    # each binding and each scan named reads as the nil id.
    named = [
        e.account_id  # type: ignore[attr-defined]
        for e in events_of(app, story.erased)
        if isinstance(e, Bound | TokenAccepted | CardUsed)
    ]
    assert named
    assert set(named) == {ERASED_ID}


def test_only_the_erased_cards_own_streams_name_it_in_clear(
    app: HealthCardApp, story: Story
) -> None:
    """In clear, the erased card's id is only in the clinic session it was seen in
    (clinical facts, pseudonymous) and in the claim it made, which names no other card
    and which nothing leads to any more (its own history holds its id as a column)."""
    log = stored_log(app)
    naming = streams_naming(log, story.erased)
    claims = {r.originator_id for r in log if r.topic == DocumentClaimed.TOPIC}
    own_claims = naming & claims
    assert len(own_claims) == 1  # the guard: the search sees an id stored in clear
    assert naming == {story.session, *own_claims}
    (orphan,) = own_claims
    orphan_records = [r for r in log if r.originator_id == orphan]
    assert not [c for c in (story.later, story.sister) if streams_naming(orphan_records, c)]
    assert app.natural_keys.claim(story.who.document).id != orphan  # type: ignore[union-attr]


def test_the_fathers_account_keeps_the_sisters_card_and_no_clear_trace(
    app: HealthCardApp, story: Story
) -> None:
    fathers = app.account(story.fathers_phone)
    assert fathers.id == story.fathers_account
    assert fathers.cards == {story.sister: Relation.DAUGHTER}
    assert fathers.id not in streams_naming(stored_log(app), story.erased)


# -- the guard: 0.1.0's ids link everything -------------------------------------------


class KeysOnly:
    """A key store behind the plain ``KeyStore`` protocol (a KMS adapter): no locators,
    so the application falls back to 0.1.0's keyed-hash ids."""

    def __init__(self) -> None:
        self._store = InMemoryKeyStore()
        self.key_for_writing = self._store.key_for_writing
        self.key_for_reading = self._store.key_for_reading
        self.erase = self._store.erase
        self.is_erased = self._store.is_erased
        self.close = self._store.close


def test_guard_without_locators_the_same_searches_find_every_link(audit: object) -> None:
    clock = FakeClock(datetime.fromisoformat("2026-11-25T08:00:00+08:00"))
    app = HealthCardApp(memory_env(), clock=clock, keystore=KeysOnly())
    try:
        story = tell(app)
        key = app.config.lookup_key
        log = stored_log(app)
        claim_id = document_claim_id(key, story.who.document)
        assert claim_id in {r.originator_id for r in log}
        assert claim_id in streams_naming(log, story.erased)  # the document leads to her
        assert claim_id in streams_naming(log, story.later)  # ... and joins her new card
        # The phone derives the erased account, which names her in every binding's time
        # and correlation id (its card references are sealed under its destroyed key).
        erased_account = account_id(key, AccountKind.PHONE, story.own_phone.identifier)
        assert erased_account == story.own_account_before
        assert erased_account in {r.originator_id for r in log}
        assert app.account(story.own_phone).cards == {story.later: Relation.SELF}
    finally:
        app.close()


def test_the_erasure_deletes_the_locators_it_closes_and_keeps_the_live_ones(
    app: HealthCardApp,
) -> None:
    """Between the erasure and any later registration, the key store has nothing left
    that leads from her document or her phone anywhere; her father's phone still
    leads to his account, which holds her sister's card."""
    driver = Driver(app)
    who, own, fathers = person(3), phone_account(3), phone_account(4)
    card, sister = driver.register(), driver.register()
    driver.complete_identity(card, who)
    driver.bind(card, own)
    driver.bind(sister, fathers, Relation.DAUGHTER)
    driver.bind(card, fathers, Relation.DAUGHTER)
    key, locators = app.config.lookup_key, app.keystore
    assert isinstance(locators, Locators)
    naturals = {
        "document": document_locator(key, who.document),
        "own": account_locator(key, own.kind, own.identifier),
        "fathers": account_locator(key, fathers.kind, fathers.identifier),
    }
    assert all(locators.locate(n) is not None for n in naturals.values())  # the guard
    app.erase_personal_data(ErasePersonalData(audit=driver.audit(), card_id=card))
    assert locators.locate(naturals["document"]) is None
    assert locators.locate(naturals["own"]) is None
    assert locators.locate(naturals["fathers"]) == app.account(fathers).id
