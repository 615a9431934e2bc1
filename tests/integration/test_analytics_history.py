"""A card's history and its state as of a version or a time.

The property: for random histories, the card at every version
(``app.card_as_of(card_id, v)``, the one way to replay to a version) equals the plain
fold of its first *v* stored events, attribute by attribute; the analysts' state as of
the time of event *v* (or any time before event *v+1*) is the same state; before the
first event the card does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from healthcard import HealthCardApp
from healthcard.adapters.persistence import local_sqlite_env, memory_env
from healthcard.analytics.history import (
    card_as_of_time,
    card_as_of_version,
    card_events,
    card_history,
    describe_card,
    version_at,
)
from healthcard.application.commands import UnbindCard, UnfreezeCard
from healthcard.domain.card import HealthCard
from healthcard.domain.errors import CardNotFound, HealthCardError, InvalidInput
from healthcard.domain.usage import UsageStep
from healthcard.testing import FakeClock, aggregate_state
from healthcard.testing.world import Driver, phone_account

OPERATIONS = st.lists(
    st.sampled_from(
        [
            "identity",
            "bind0",
            "bind1",
            "unbind0",
            "unbind1",
            "freeze",
            "unfreeze",
            "book",
            "use",
            "freeze",
            "unfreeze",
            "cancel",
            "wait",
        ]
    ),
    min_size=10,
    max_size=40,
)


def play(driver: Driver, clock: FakeClock, card_id: UUID, operations: list[str]) -> None:
    """Run the operations on one card; refusals are part of a random history."""
    session = driver.publish(capacity=50)
    accounts = [phone_account(9000 + n) for n in range(2)]
    for operation in operations:
        try:
            if operation == "identity":
                driver.complete_identity(card_id)
            elif operation.startswith("bind"):
                driver.bind(card_id, accounts[int(operation[-1])])
            elif operation.startswith("unbind"):
                driver.app.unbind(
                    UnbindCard(
                        audit=driver.audit(), card_id=card_id, account=accounts[int(operation[-1])]
                    )
                )
            elif operation == "freeze":
                driver.freeze(card_id)
            elif operation == "unfreeze":
                driver.app.unfreeze(UnfreezeCard(audit=driver.audit(), card_id=card_id))
            elif operation == "book":
                driver.book(session, card_id)
            elif operation == "use":
                for account in accounts:
                    if account_is_bound(driver.app, card_id, account):
                        driver.use(card_id, account, UsageStep.DIAGNOSIS)
                        break
            elif operation == "cancel":
                driver.cancel_card(card_id)
            else:
                clock.advance(minutes=7)
        except HealthCardError:
            pass


def account_is_bound(app: HealthCardApp, card_id: UUID, account: object) -> bool:
    try:
        return app.account(account).id in app.card(card_id).accounts  # type: ignore[arg-type]
    except HealthCardError:
        return False


def check_every_version(app: HealthCardApp, card_id: UUID) -> None:
    events = card_events(app, card_id)
    latest = app.card(card_id)
    assert len(events) == latest.version
    for index, event in enumerate(events):
        version = index + 1
        replayed = app.card_as_of(card_id, version)
        folded = HealthCard.project(None, events[:version])
        assert folded is not None
        assert aggregate_state(replayed) == aggregate_state(folded)
        assert replayed.version == version
        at_event = card_as_of_time(app, card_id, event.timestamp)
        assert aggregate_state(at_event) == aggregate_state(replayed)
        if version < len(events):
            just_before_next = events[index + 1].timestamp - timedelta(microseconds=1)
            assert just_before_next >= event.timestamp
            before_next = card_as_of_time(app, card_id, just_before_next)
            assert aggregate_state(before_next) == aggregate_state(replayed)
        assert version_at(app, card_id, event.timestamp) == version
    assert aggregate_state(app.card_as_of(card_id, len(events) + 5)) == aggregate_state(latest)
    with pytest.raises(CardNotFound):
        card_as_of_time(app, card_id, events[0].timestamp - timedelta(microseconds=1))
    assert version_at(app, card_id, events[0].timestamp - timedelta(microseconds=1)) == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_as_of_equals_the_repository_at_every_version(operations: list[str]) -> None:
    clock = FakeClock()
    app = HealthCardApp(memory_env(), clock=clock)
    try:
        driver = Driver(app)
        card_id = driver.register()
        play(driver, clock, card_id, ["identity", "bind0", *operations])
        note(f"versions: {app.card(card_id).version // 5 * 5}+")
        check_every_version(app, card_id)
    finally:
        app.close()


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(OPERATIONS)
def test_as_of_equals_the_repository_on_an_encrypted_sqlite_log(
    tmp_path_factory: pytest.TempPathFactory, operations: list[str]
) -> None:
    db = tmp_path_factory.mktemp("asof") / "events.sqlite3"
    clock = FakeClock()
    app = HealthCardApp(local_sqlite_env(db, create_key=True), clock=clock)
    try:
        driver = Driver(app)
        card_id = driver.register()
        play(driver, clock, card_id, operations)
        check_every_version(app, card_id)
    finally:
        app.close()


# -- history ---------------------------------------------------------------------------------


@pytest.fixture
def world() -> Iterator[tuple[HealthCardApp, Driver, FakeClock]]:
    clock = FakeClock()
    app = HealthCardApp(memory_env(), clock=clock)
    try:
        yield app, Driver(app), clock
    finally:
        app.close()


def test_history_lists_the_cards_own_events_masked(
    world: tuple[HealthCardApp, Driver, FakeClock],
) -> None:
    app, driver, _ = world
    card_id = driver.register(name="欧阳娜娜")
    person = driver.complete_identity(card_id)
    driver.freeze(card_id)
    entries = card_history(app, card_id)
    assert [e.event_type for e in entries] == ["Registered", "IdentityCompleted", "Frozen"]
    assert [e.version for e in entries] == [1, 2, 3]
    text = repr([e.to_json() for e in entries])
    assert person.document.number not in text
    assert "欧阳娜娜" not in text
    assert entries[0].data["name"] == "欧***"
    number = person.document.number
    assert entries[1].data["document"]["number"] == number[:3] + "*" * 11 + number[-4:]
    clear = card_history(app, card_id, clear=True)
    assert clear[0].data["name"] == "欧阳娜娜"
    assert clear[1].data["document"]["number"] == number


def test_related_history_adds_appointments_and_accounts_in_log_order(
    world: tuple[HealthCardApp, Driver, FakeClock],
) -> None:
    app, driver, _ = world
    card_id = driver.register()
    other = driver.register()
    person = driver.complete_identity(card_id)
    driver.complete_identity(other)
    account = driver.bind(card_id)
    session = driver.publish()
    appointment = driver.book(session, card_id)
    driver.book(session, other)
    driver.cancel_appointment(session, appointment)
    driver.book(session, card_id)
    driver.check_in(session, person)
    driver.use(card_id, account)
    entries = card_history(app, card_id, related=True)
    types = [e.event_type for e in entries]
    assert types == [
        "Registered",
        "IdentityCompleted",
        "DocumentClaimed",
        "Bound",
        "CardAdded",
        "AppointmentMade",
        "AppointmentCancelled",
        "AppointmentMade",
        "CheckedIn",
        "CardUsed",
    ]
    positions = [e.position or 0 for e in entries]
    assert all(e.position is not None for e in entries)
    assert positions == sorted(positions)
    own = [e for e in entries if e.version is not None]
    assert [e.version for e in own] == list(range(1, len(own) + 1))


def test_unknown_ids_are_not_found(world: tuple[HealthCardApp, Driver, FakeClock]) -> None:
    app, driver, clock = world
    session = driver.publish()
    for unknown in (uuid4(), session):
        with pytest.raises(CardNotFound):
            card_history(app, unknown)
        with pytest.raises(CardNotFound):
            app.card_as_of(unknown, 1)
        with pytest.raises(CardNotFound):
            card_as_of_time(app, unknown, clock.now)
    with pytest.raises(CardNotFound):
        card_history(app, uuid4(), related=True)


def test_describe_masks_unless_clear(world: tuple[HealthCardApp, Driver, FakeClock]) -> None:
    app, driver, _ = world
    card_id = driver.register(name="张伟")
    person = driver.complete_identity(card_id)  # the verified name replaces the typed one
    card = app.card(card_id)
    masked = describe_card(card)
    assert masked["name"] == person.name[0] + "*" * (len(person.name) - 1)
    assert masked["document_number"] != person.document.number
    assert masked["birth_date"] == f"{person.birth_date.year}-**-**"
    assert person.document.number not in repr(masked)
    assert card.ehc_id is not None
    assert card.ehc_id not in repr(masked)
    clear = describe_card(card, clear=True)
    assert clear["document_number"] == person.document.number
    assert clear["ehc_id"] == card.ehc_id
    assert clear["birth_date"] == person.birth_date.isoformat()


def test_a_masked_description_names_no_account_and_shows_nothing_of_the_ehc_id(
    world: tuple[HealthCardApp, Driver, FakeClock],
) -> None:
    app, driver, _ = world
    card_id = driver.register()
    driver.complete_identity(card_id)
    driver.bind(card_id)
    card = app.card(card_id)
    (account,) = card.accounts  # a keyed hash of the phone
    masked = describe_card(card)
    assert masked["accounts"] == {"#1": card.accounts[account].value}
    assert masked["ehc_id"] == "***"
    assert str(account) not in repr(masked)
    assert describe_card(card, clear=True)["accounts"] == {str(account): "01"}


def test_naive_times_are_refused(
    world: tuple[HealthCardApp, Driver, FakeClock], tmp_path: Path
) -> None:
    app, driver, clock = world
    card_id = driver.register()
    with pytest.raises(InvalidInput, match="timezone"):
        card_as_of_time(app, card_id, clock.now.replace(tzinfo=None))


def test_the_0_1_0_version_replay_still_answers_with_a_warning(
    world: tuple[HealthCardApp, Driver, FakeClock],
) -> None:
    app, driver, _ = world
    card_id = driver.register()
    driver.complete_identity(card_id)
    with pytest.warns(DeprecationWarning, match="app.card_as_of"):
        old = card_as_of_version(app, card_id, 1)
    assert aggregate_state(old) == aggregate_state(app.card_as_of(card_id, 1))
    assert old.version == 1
