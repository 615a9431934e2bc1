"""Card snapshots on every backend: taken at the interval, sealed, used for cold loads,
ignored when they cannot be trusted, and unreadable once the card is erased.

The state machine's ``cards_load_cold_as_they_replay`` checks cold loads against
replays over random histories (``TestSnapshotLifecycle``); these tests pin the cases
one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.adapters.snapshots import LAYOUT, TOPIC, CardSnapshots
from healthcard.application.commands import ErasePersonalData
from healthcard.domain.card import HealthCard
from healthcard.domain.errors import ConfigurationError
from healthcard.testing.world import Driver, person, phone_account

INTERVAL = 5


@pytest.fixture
def snapshotting(backend_env: dict[str, str], clock: FakeClock) -> Iterator[HealthCardApp]:
    app = HealthCardApp(
        backend_env, clock=clock, config=HealthCardConfig(snapshot_interval=INTERVAL)
    )
    try:
        yield app
    finally:
        app.close()


def used_card(app: HealthCardApp, clock: FakeClock, uses: int) -> UUID:
    """A formal card bound to a phone (4 events: registered, identity, claim is the
    document's, bound), then ``uses`` uses a second apart."""
    driver = Driver(app)
    card = driver.register()
    driver.complete_identity(card, person(3))
    account = phone_account(3)
    driver.bind(card, account)
    for _ in range(uses):
        clock.advance(seconds=1)
        driver.use(card, account)
    return card


def snapshots_of(app: HealthCardApp) -> CardSnapshots:
    snapshots = app.repository.snapshots  # type: ignore[attr-defined]
    assert isinstance(snapshots, CardSnapshots)
    return snapshots


def replayed(app: HealthCardApp, card_id: UUID, version: int | None = None) -> HealthCard:
    card = HealthCard.project(None, app.repository.event_store.get(card_id, lte=version))
    assert card is not None
    return card


def stored_versions(app: HealthCardApp, card_id: UUID) -> list[int]:
    rows = snapshots_of(app).recorder.select_events(card_id)
    return [row.originator_version for row in rows]


def test_a_snapshot_at_each_interval_and_cold_loads_from_the_latest(
    snapshotting: HealthCardApp, clock: FakeClock
) -> None:
    card_id = used_card(snapshotting, clock, 9)
    version = snapshotting.card(card_id).version
    assert stored_versions(snapshotting, card_id) == list(range(INTERVAL, version + 1, INTERVAL))
    latest = snapshots_of(snapshotting).latest(card_id)
    assert latest is not None
    assert latest.version == version - version % INTERVAL
    cold = snapshotting.card_as_of(card_id, version)
    assert vars(cold) == vars(replayed(snapshotting, card_id))
    assert vars(cold) == vars(snapshotting.card(card_id))


def test_a_past_version_loads_from_the_snapshot_before_it(
    snapshotting: HealthCardApp, clock: FakeClock
) -> None:
    card_id = used_card(snapshotting, clock, 9)
    for version in range(1, snapshotting.card(card_id).version + 1):
        assert vars(snapshotting.card_as_of(card_id, version)) == vars(
            replayed(snapshotting, card_id, version)
        )


def test_a_snapshot_holds_nothing_personal_in_clear(
    snapshotting: HealthCardApp, clock: FakeClock
) -> None:
    card_id = used_card(snapshotting, clock, INTERVAL)
    rows = snapshots_of(snapshotting).recorder.select_events(card_id)
    assert rows
    who = person(3)
    for row in rows:
        for secret in (who.name, who.document.number, phone_account(3).identifier):
            assert secret.encode() not in row.state
        assert b"accepted_nonces" not in row.state


def test_erasure_leaves_snapshots_unreadable_and_the_card_replays(
    snapshotting: HealthCardApp, clock: FakeClock
) -> None:
    card_id = used_card(snapshotting, clock, 2 * INTERVAL)
    while snapshotting.card(card_id).version % INTERVAL != INTERVAL - 1:
        clock.advance(seconds=1)
        Driver(snapshotting).use(card_id, phone_account(3))
    before = stored_versions(snapshotting, card_id)
    assert len(before) == 2
    snapshotting.erase_personal_data(
        ErasePersonalData(audit=Driver(snapshotting).audit(), card_id=card_id)
    )
    card = snapshotting.card(card_id)
    assert card.erased
    # The erasure crossed an interval: no snapshot of an erased card is taken.
    assert stored_versions(snapshotting, card_id) == before
    assert snapshots_of(snapshotting).latest(card_id) is None
    cold = snapshotting.card_as_of(card_id, card.version)
    assert cold.name != person(3).name
    assert vars(cold) == vars(replayed(snapshotting, card_id))


def test_a_snapshot_of_another_layout_or_tampered_is_ignored(
    snapshotting: HealthCardApp, clock: FakeClock
) -> None:
    card_id = used_card(snapshotting, clock, 2 * INTERVAL - 1)  # 12 events
    snapshots = snapshots_of(snapshotting)
    real = snapshots.recorder.select_events(card_id, desc=True, limit=1)[0]
    version = snapshotting.card(card_id).version
    assert real.originator_version == version - 2
    flipped = real.state[:-1] + bytes([real.state[-1] ^ 1])
    forged = [
        StoredEvent(card_id, version - 1, f"{TOPIC}/{LAYOUT + 1}", real.state),  # a layout
        StoredEvent(card_id, version, real.topic, flipped),  # tampered, and moved
    ]
    for row in forged:
        snapshots.recorder.insert_events([row])
        assert snapshots.latest(card_id) is None
        assert vars(snapshotting.card_as_of(card_id, version)) == vars(
            replayed(snapshotting, card_id)
        )


def test_without_the_table_and_leave_to_create_it_cards_replay(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    env = sqlite_env(tmp_path / "events.sqlite3")
    first = HealthCardApp(env, clock=clock, config=HealthCardConfig(snapshot_interval=0))
    try:
        card_id = used_card(first, clock, 2)
    finally:
        first.close()
    with caplog.at_level(logging.WARNING):
        app = HealthCardApp({**env, "CREATE_TABLE": "false"}, clock=clock)
    try:
        assert "healthcard db init" in caplog.text
        Driver(app).use(card_id, phone_account(3))
        app.repository.cache = None
        assert vars(app.card(card_id)) == vars(replayed(app, card_id))
    finally:
        app.close()


@pytest.mark.parametrize("value", ["1", "-5", "100001", "often"])
def test_a_bad_interval_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        HealthCardConfig.from_env({"HEALTHCARD_SNAPSHOT_INTERVAL": value})
    assert excinfo.value.field == "HEALTHCARD_SNAPSHOT_INTERVAL"


def test_a_snapshot_that_fails_never_fails_its_command(
    snapshotting: HealthCardApp,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(self: CardSnapshots, card: HealthCard) -> None:
        raise RuntimeError("a bug in taking snapshots")

    monkeypatch.setattr(CardSnapshots, "take", broken)
    with caplog.at_level(logging.WARNING):
        card_id = used_card(snapshotting, clock, INTERVAL)  # crosses an interval
    assert "card snapshot failed: RuntimeError" in caplog.text
    assert snapshotting.card(card_id).version == 3 + INTERVAL
    assert stored_versions(snapshotting, card_id) == []
