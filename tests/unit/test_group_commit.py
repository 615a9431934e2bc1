"""``GroupCommit`` on its own, with writers that record what they were asked to write.

Threads save at once; the first leads the group. These tests check the isolation
rules of ``healthcard.application.group_commit``: a member that conflicts fails
alone, a store failure reaches every member of the group, a member touching an
aggregate already in the open group waits for it and then conflicts, and a full
group does not wait out its window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from healthcard.application.group_commit import MAX_MEMBERS, GroupCommit, GroupConflict, Member
from healthcard.testing.races import on_threads


class Store:
    """Writes "events" (strings); a member whose events include "stale" conflicts."""

    def __init__(self, *, fail_all_with: BaseException | None = None) -> None:
        self.groups: list[list[str]] = []
        self.written: list[str] = []
        self.fail_all_with = fail_all_with
        self.lock = threading.Lock()

    def write_all(self, members: Sequence[Member]) -> list[Any]:
        events = [e for m in members for e in m.events]
        with self.lock:
            self.groups.append(events)
            if self.fail_all_with is not None:
                raise self.fail_all_with
            if "stale" in events:
                raise IntegrityError("conflict")
            self.written += events
        return [f"rec:{e}" for e in events]

    def write_one(self, member: Member) -> list[Any]:
        return self.write_all([member])


def member(*events: str, aggregate: UUID | None = None) -> Member:
    return Member(list(events), {aggregate or uuid4(): object()})


def test_saves_at_the_same_time_share_one_write() -> None:
    store = Store()
    group = GroupCommit(0.2, store.write_all, store.write_one)
    members = [member(f"e{i}") for i in range(6)]
    results = on_threads([lambda m=m: group.save(m) for m in members])
    assert results == [[f"rec:e{i}"] for i in range(6)]
    assert len(store.groups) == 1
    assert sorted(store.groups[0]) == [f"e{i}" for i in range(6)]


def test_a_conflicting_member_fails_alone_and_the_others_commit() -> None:
    store = Store()
    group = GroupCommit(0.2, store.write_all, store.write_one)
    members = [member("a"), member("stale"), member("b")]
    results = on_threads([lambda m=m: group.save(m) for m in members])
    assert isinstance(results[1], IntegrityError)
    assert results[0] == ["rec:a"]
    assert results[2] == ["rec:b"]
    assert sorted(store.written) == ["a", "b"]


class NamingStore(Store):
    """Names the stream of the first stale member in its conflict, as PostgreSQL does."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: dict[str, UUID] = {}

    def write_all(self, members: Sequence[Member]) -> list[Any]:
        try:
            return super().write_all(members)
        except IntegrityError as error:
            stale = next(m for m in members if "stale" in m.events)
            error.stream = next(iter(stale.aggregates))  # type: ignore[attr-defined]
            raise

    def write_one(self, member: Member) -> list[Any]:
        raise AssertionError("a named conflict needs no member written alone")


def test_a_named_conflict_drops_its_member_and_writes_the_rest_together() -> None:
    store = NamingStore()
    group = GroupCommit(
        0.2,
        store.write_all,
        store.write_one,
        culprit=lambda error: getattr(error, "stream", None),
    )
    members = [member("a"), member("stale"), member("b"), member("stale"), member("c")]
    results = on_threads([lambda m=m: group.save(m) for m in members])
    assert isinstance(results[1], IntegrityError)
    assert isinstance(results[3], IntegrityError)
    assert [results[0], results[2], results[4]] == [["rec:a"], ["rec:b"], ["rec:c"]]
    assert sorted(store.written) == ["a", "b", "c"]
    assert len(store.groups) == 3  # two conflicts named, then one transaction for the rest


def test_a_store_failure_reaches_every_member_and_writes_nothing() -> None:
    outage = OperationalError("server closed the connection")
    store = Store(fail_all_with=outage)
    group = GroupCommit(0.2, store.write_all, store.write_one)
    results = on_threads([lambda m=m: group.save(m) for m in (member("a"), member("b"))])
    assert results == [outage, outage]
    assert len(store.groups) == 1  # not retried member by member
    assert store.written == []


def test_a_member_on_an_aggregate_already_in_the_group_waits_then_conflicts() -> None:
    store = Store()
    group = GroupCommit(0.3, store.write_all, store.write_one)
    session = uuid4()
    first = member("booked-first", aggregate=session)
    leader = threading.Thread(target=group.save, args=(first,))
    leader.start()
    time.sleep(0.05)  # the group is open, waiting out its window
    started = time.monotonic()
    with pytest.raises(GroupConflict):
        group.save(member("booked-second", aggregate=session))
    assert time.monotonic() - started >= 0.2  # it waited for the group to be written
    leader.join()
    assert store.written == ["booked-first"]  # only then did it hear "conflict"


def test_a_full_group_is_written_without_waiting_its_window() -> None:
    store = Store()
    group = GroupCommit(30.0, store.write_all, store.write_one)
    members = [member(f"e{i}") for i in range(MAX_MEMBERS)]
    started = time.monotonic()
    on_threads([lambda m=m: group.save(m) for m in members])
    assert time.monotonic() - started < 10
    assert len(store.written) == MAX_MEMBERS
