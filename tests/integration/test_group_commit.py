"""Group commit in a real application: threads of one process sharing transactions.

With ``group_commit_ms`` on, commands saved at the same time are written together;
the set rules still hold (a session never overbooked, an account never above its
cap), a command whose save conflicts fails alone while the others of its group
commit, and the groups really are shared transactions.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.conflicts import conflicting_stream
from healthcard.application.commands import AccountRef, BindCard, FreezeCard, RegisterCard
from healthcard.application.group_commit import Member
from healthcard.domain.card import HealthCard
from healthcard.domain.errors import ConfigurationError
from healthcard.domain.relation import Relation
from healthcard.testing import FakeClock
from healthcard.testing.races import race_threads
from healthcard.testing.world import Driver, person

WINDOW = HealthCardConfig(group_commit_ms=20, family_cap=3)


class CountingApp(HealthCardApp):
    """Counts the transactions that held more than one command."""

    shared = 0

    def _write_all(self, members: Sequence[Member]) -> list[Any]:
        if len(members) > 1:
            type(self).shared += 1
        return super()._write_all(members)


@pytest.fixture
def app(backend_env: dict[str, str]) -> Iterator[HealthCardApp]:
    application = CountingApp(backend_env, clock=FakeClock(), config=WINDOW)
    CountingApp.shared = 0
    try:
        yield application
    finally:
        application.close()


def formal_cards(app: HealthCardApp, count: int) -> list[Any]:
    driver = Driver(app)
    cards = []
    for serial in range(count):
        card = driver.register()
        driver.complete_identity(card, person(100 + serial))
        cards.append(card)
    return cards


def test_concurrent_commands_share_transactions(app: HealthCardApp) -> None:
    driver = Driver(app)
    results = race_threads(
        [app] * 16, lambda a, i: a.register(RegisterCard(audit=driver.audit(), name="王芳"))
    )
    assert results == ["ok"] * 16
    assert CountingApp.shared >= 1
    registered = app.recorder.select_notifications(1, 1000, topics=["healthcard.card.Registered"])
    assert len(registered) == 16


def test_threads_booking_one_session_in_groups_never_overbook(app: HealthCardApp) -> None:
    driver = Driver(app)
    cards = formal_cards(app, 8)
    session = driver.publish(capacity=5)
    results = race_threads([app] * 8, lambda a, i: Driver(a).book(session, cards[i]))
    assert Counter(results) == {"ok": 5, "session_full": 3}
    app.repository.cache = None  # read it back from the store
    assert app.session(session).booked == 5


def test_threads_binding_one_account_in_groups_never_exceed_the_cap(app: HealthCardApp) -> None:
    cards = formal_cards(app, 6)
    phone = AccountRef(kind="phone", identifier="13912345678")
    audit = Driver(app).audit()
    results = race_threads(
        [app] * 6,
        lambda a, i: a.bind(
            BindCard(audit=audit, card_id=cards[i], account=phone, relation=Relation.SON)
        ),
    )
    assert Counter(results) == {"ok": 3, "family_cap_reached": 3}
    assert len(app.account(phone).cards) == 3


def test_a_conflicting_save_fails_alone_and_its_group_commits(app: HealthCardApp) -> None:
    """One save carries an event for a version someone else wrote meanwhile; it is in
    the same group as a new registration. The registration commits, the stale save
    conflicts (and would be run again by ``retry_on_conflict``), nothing of it written."""
    driver = Driver(app)
    (card_id,) = formal_cards(app, 1)
    stale = app.card(card_id)
    stale.freeze("lost_phone", audit=driver.audit(), at=app.clock())
    app.freeze(FreezeCard(audit=driver.audit(), card_id=card_id, reason="stolen"))
    fresh_card = HealthCard.register(
        uuid4(),
        issuer_mode="production",
        name="张伟",
        phone=None,
        photo=None,
        volunteer=None,
        audit=driver.audit(),
        at=app.clock(),
    )
    gate = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def save(name: str, aggregate: Any) -> None:
        gate.wait()
        try:
            app.save(aggregate)
            outcomes[name] = "ok"
        except IntegrityError as error:
            outcomes[name] = error

    threads = [
        threading.Thread(target=save, args=("stale", stale)),
        threading.Thread(target=save, args=("new", fresh_card)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert outcomes["new"] == "ok"
    assert isinstance(outcomes["stale"], IntegrityError)
    assert app.card(fresh_card.id).name == "张伟"
    frozen = app.recorder.select_notifications(1, 1000, topics=["healthcard.card.Frozen"])
    assert len(frozen) == 1  # the stolen-phone freeze only


def test_a_conflict_names_its_stream_where_the_store_says(
    backend_env: dict[str, str],
) -> None:
    """PostgreSQL names the taken key, so a group drops only that member; SQLite and
    memory do not, and a group then writes its members one by one."""
    app = HealthCardApp(backend_env, clock=FakeClock())
    try:
        driver = Driver(app)
        (card_id,) = formal_cards(app, 1)
        stale = app.card(card_id)
        stale.freeze("lost_phone", audit=driver.audit(), at=app.clock())
        app.freeze(FreezeCard(audit=driver.audit(), card_id=card_id, reason="stolen"))
        with pytest.raises(IntegrityError) as excinfo:
            app.save(stale)
    finally:
        app.close()
    named = conflicting_stream(excinfo.value)
    postgres = backend_env.get("PERSISTENCE_MODULE", "").endswith("postgres")
    assert named == (card_id if postgres else None)


@pytest.mark.parametrize("value", ["abc", "-1", "101", "nan", "inf"])
def test_a_bad_window_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        HealthCardConfig.from_env({"HEALTHCARD_GROUP_COMMIT_MS": value})
    assert excinfo.value.field == "HEALTHCARD_GROUP_COMMIT_MS"


def test_the_window_comes_from_the_environment() -> None:
    assert HealthCardConfig.from_env({"HEALTHCARD_GROUP_COMMIT_MS": "2.5"}).group_commit_ms == 2.5
    assert HealthCardConfig.from_env({}).group_commit_ms == 0
