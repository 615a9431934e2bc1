"""The lifecycle state machine of ``healthcard.testing``, run as our own property test,
plus demonstrations that it finds a broken rule.

Size: ``HYPOTHESIS_PROFILE`` = dev (default) | ci | thorough, see
``healthcard/testing/profiles.py`` (ci: 200 examples x 50 steps, for the machine on
the aggregates and for the one that also checks the read models).

The demonstrations break one rule at a time in the domain (with ``monkeypatch``,
undone after the test) and assert that the machine reports a mismatch with the
reference model naming the rule. They fail if the machine misses the bug.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from healthcard import HealthCardConfig
from healthcard.adapters.persistence import sqlite_env
from healthcard.domain.account import Account
from healthcard.domain.audit import Audit
from healthcard.domain.clinic_session import ClinicSession
from healthcard.domain.events.account import CardAdded
from healthcard.domain.relation import Relation
from healthcard.testing import HealthCardMachine, ModelMismatch, lifecycle_machine
from healthcard.testing.profiles import PROFILES, profile_name, profile_settings
from healthcard.testing.read_models import ReadModelMachine
from healthcard.testing.reference import ReferenceModel

TestLifecycle = HealthCardMachine.TestCase
TestLifecycle.settings = profile_settings()

# The same machine checking the booking read models (healthcard.readmodels) too.
TestReadModelLifecycle = ReadModelMachine.TestCase
TestReadModelLifecycle.settings = profile_settings()


# The same machine with group commit on: every save goes through a group (of one, the
# machine being single-threaded) and must keep every rule and every answer.
GroupCommitMachine = lifecycle_machine(
    config=HealthCardConfig(family_cap=HealthCardMachine.family_cap, group_commit_ms=0.5),
    name="GroupCommitLifecycle",
)
TestGroupCommitLifecycle = GroupCommitMachine.TestCase
TestGroupCommitLifecycle.settings = settings(profile_settings(), max_examples=50)

# The same machine snapshotting cards at every 3rd event, so that cold loads go through
# snapshots taken across freezes, bindings, uses and erasure
# (``cards_load_cold_as_they_replay``).
SnapshotMachine = lifecycle_machine(
    config=HealthCardConfig(family_cap=HealthCardMachine.family_cap, snapshot_interval=3),
    name="SnapshotLifecycle",
)
TestSnapshotLifecycle = SnapshotMachine.TestCase
TestSnapshotLifecycle.settings = settings(profile_settings(), max_examples=50)

# -- an embedder's parametrisation: the same machine on SQLite files ------------------

_SQLITE_FOLDER = Path(tempfile.mkdtemp(prefix="healthcard-machine-"))
atexit.register(shutil.rmtree, _SQLITE_FOLDER, ignore_errors=True)


def fresh_sqlite() -> dict[str, str]:
    return sqlite_env(_SQLITE_FOLDER / f"{uuid4().hex}.sqlite3")


SqliteLifecycle = lifecycle_machine(family_cap=3, env=fresh_sqlite, name="SqliteLifecycle")
TestSqliteLifecycle = SqliteLifecycle.TestCase
TestSqliteLifecycle.settings = settings(
    profile_settings(), max_examples=5, stateful_step_count=20, database=None
)


def test_the_factory_sets_the_cap_and_the_persistence() -> None:
    machine = SqliteLifecycle()
    try:
        assert machine.app.config.family_cap == 3
        assert machine.model.family_cap == 3
        assert machine.app.env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    finally:
        machine.teardown()


# -- profiles -------------------------------------------------------------------------------


def test_profiles_come_from_hypothesis_profile() -> None:
    assert profile_name({}) == "dev"
    assert profile_name({"HYPOTHESIS_PROFILE": "ci"}) == "ci"
    assert profile_name({"HYPOTHESIS_PROFILE": "healthcard-thorough"}) == "thorough"
    assert profile_name({"HYPOTHESIS_PROFILE": "nonsense"}) == "dev"
    ci = profile_settings("ci")
    assert (ci.max_examples, ci.stateful_step_count) == (200, 50)
    assert PROFILES["ci"]["derandomize"] is True


# -- the reference model on its own ---------------------------------------------------------


def test_the_reference_refuses_a_full_session_and_a_duplicate() -> None:
    model = ReferenceModel(family_cap=2, today=datetime(2026, 11, 25).date())
    slot = ("im", "dr-1", model.today, "morning")
    session, first, second = uuid4(), uuid4(), uuid4()
    model.apply_publish(session, slot, capacity=1)
    for card in (first, second):
        model.apply_register(card, channel="window", issuer_mode="production", name="x")
        model.apply_complete_identity(
            card, ("03", card.hex[:9].upper()), name="x", sex="9", birth_date=model.today
        )
    assert model.check_book(session, first) == frozenset()
    model.apply_book(session, uuid4(), first)
    assert model.check_book(session, first) == {"duplicate_appointment", "session_full"}
    assert model.check_book(session, second) == {"session_full"}
    assert model.check_publish(slot) == {"session_already_published"}


# -- demonstrations: a broken rule is found ---------------------------------------------------

HUNT = settings(
    max_examples=300,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],  # no shrinking: finding is the point, and it stays fast
    report_multiple_bugs=False,
    verbosity=Verbosity.quiet,
    suppress_health_check=list(HealthCheck),
)


class SmallSessions(HealthCardMachine):
    """One place per session, so that two bookings of one session collide often."""

    max_capacity = 1


def never_full(self: ClinicSession, card_id: UUID) -> bool:
    """``ClinicSession.is_full_for`` with the capacity rule removed (the deliberate bug)."""
    return False


def test_demonstration_the_machine_finds_an_overbooked_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ClinicSession, "is_full_for", never_full)
    with pytest.raises(ModelMismatch, match="session_full"):
        run_state_machine_as_test(SmallSessions, settings=HUNT)


def add_card_without_cap(
    self: Account, card_id: UUID, relation: Relation, *, cap: int, audit: Audit, at: datetime
) -> None:
    """``Account.add_card`` with the family cap removed (the deliberate bug)."""
    self._trigger(CardAdded, card_id=card_id, relation=relation, audit=audit, at=at)


def test_demonstration_the_machine_finds_an_account_above_the_family_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Account, "add_card", add_card_without_cap)
    with pytest.raises(ModelMismatch, match="family_cap_reached"):
        run_state_machine_as_test(HealthCardMachine, settings=HUNT)


def test_the_machine_passes_on_the_unbroken_rules_with_the_same_budget() -> None:
    """The control: the same hunt on the real domain finds nothing (so the two
    demonstrations above fail because of the broken rule, not because of the hunt)."""
    run_state_machine_as_test(SmallSessions, settings=settings(HUNT, max_examples=100))
