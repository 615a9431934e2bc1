"""``Combiner`` on its own: commands on one stream decided in turn and saved together.

The aggregate is a list of places taken, capacity 3; a command appends its name or is
refused with ``SessionFull``. The store keeps the saved list with a version and
conflicts like optimistic concurrency does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from healthcard.application.combining import Combiner
from healthcard.domain.errors import ConcurrencyConflict, SessionFull, StoreUnavailable
from healthcard.testing.races import on_threads

CAPACITY = 3


class Places:
    def __init__(self, taken: list[str], version: int) -> None:
        self.taken = list(taken)
        self.version = version


class Store:
    """One stream: the places taken and its version; saves are slow (so that others
    queue meanwhile) and conflict when the version moved."""

    def __init__(self, *, save_seconds: float = 0.05) -> None:
        self.taken: list[str] = []
        self.version = 0
        self.saves = 0
        self.loads = 0
        self.save_seconds = save_seconds
        self.lock = threading.Lock()
        self.before_save: Callable[[], None] = lambda: None
        self.fail_with: BaseException | None = None

    def load(self, _: UUID) -> Places:
        with self.lock:
            self.loads += 1
            return Places(self.taken, self.version)

    def save(self, places: Places) -> None:
        self.before_save()
        time.sleep(self.save_seconds)
        with self.lock:
            if self.fail_with is not None:
                raise self.fail_with
            if places.version != self.version:
                raise IntegrityError("conflict")
            self.saves += 1
            self.taken, self.version = list(places.taken), self.version + 1


def take(name: str) -> Callable[[Places], str]:
    def decide(places: Places) -> str:
        if len(places.taken) >= CAPACITY:
            raise SessionFull(uuid4(), CAPACITY)
        places.taken.append(name)
        return name

    return decide


STREAM = uuid4()


def test_commands_queued_behind_a_leader_are_decided_in_turn_and_saved_once() -> None:
    store = Store()
    combiner = Combiner(store.load, store.save, attempts=3)
    results = on_threads(
        [lambda n=n: combiner.run(STREAM, take(f"p{n}")) for n in range(6)], stagger=0.002
    )
    assert results[:3] == ["p0", "p1", "p2"]
    assert all(isinstance(r, SessionFull) for r in results[3:])
    assert store.taken == ["p0", "p1", "p2"]
    assert store.saves == 2  # the leader alone, then everyone who queued meanwhile


def test_a_refused_command_fails_alone_and_its_batch_commits() -> None:
    store = Store()
    combiner = Combiner(store.load, store.save, attempts=3)

    def refused(_: Places) -> str:
        raise SessionFull(uuid4(), CAPACITY)

    calls = [lambda: combiner.run(STREAM, take("first"))]
    calls += [lambda: combiner.run(STREAM, refused), lambda: combiner.run(STREAM, take("b"))]
    results = on_threads(calls, stagger=0.002)
    assert results[0] == "first"
    assert isinstance(results[1], SessionFull)
    assert results[2] == "b"
    assert store.taken == ["first", "b"]


def test_a_conflict_decides_the_batch_again_on_the_new_state() -> None:
    store = Store(save_seconds=0)
    combiner = Combiner(store.load, store.save, attempts=3)
    rival = iter([["x", "y", "z"]])

    def someone_else_fills_it() -> None:  # another process, between load and save
        taken = next(rival, None)
        if taken is not None:
            with store.lock:
                store.taken, store.version = taken, store.version + 1

    store.before_save = someone_else_fills_it
    with pytest.raises(SessionFull):
        combiner.run(STREAM, take("late"))
    assert store.taken == ["x", "y", "z"]
    assert store.loads == 2


def test_a_store_failure_reaches_every_command_of_the_batch_typed() -> None:
    store = Store()
    store.fail_with = OperationalError("server closed the connection")
    combiner = Combiner(store.load, store.save, attempts=3)
    results = on_threads(
        [lambda n=n: combiner.run(STREAM, take(f"p{n}")) for n in range(3)], stagger=0.002
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert store.taken == []


def test_a_batch_that_keeps_conflicting_ends_in_concurrency_conflict() -> None:
    store = Store(save_seconds=0)

    def always_moved() -> None:
        with store.lock:
            store.version += 1

    store.before_save = always_moved
    combiner = Combiner(store.load, store.save, attempts=2)
    with pytest.raises(ConcurrencyConflict):
        combiner.run(STREAM, take("never"))
    assert store.taken == []
    assert store.loads == 2 * 4  # attempts times BATCH_ATTEMPTS


def test_without_combining_each_command_loads_and_saves_alone() -> None:
    store = Store(save_seconds=0.01)
    combiner = Combiner(store.load, store.save, attempts=8, combine=False)
    results = on_threads(
        [lambda n=n: combiner.run(STREAM, take(f"p{n}")) for n in range(3)], stagger=0.002
    )
    assert sorted(str(r) for r in results) == ["p0", "p1", "p2"]
    assert store.saves == 3


def test_a_batch_holds_its_streams_turn() -> None:
    store = Store(save_seconds=0)
    turns: list[tuple[str, UUID]] = []

    @contextmanager
    def turn(stream_id: UUID) -> Iterator[bool]:
        turns.append(("taken", stream_id))
        yield True
        turns.append(("given back", stream_id))

    store.before_save = lambda: turns.append(("save", STREAM))
    combiner = Combiner(store.load, store.save, attempts=3, turn=turn)
    assert combiner.run(STREAM, take("p")) == "p"
    assert turns == [("taken", STREAM), ("save", STREAM), ("given back", STREAM)]


def test_a_batch_that_writes_nothing_takes_no_turn_and_saves_nothing() -> None:
    store = Store(save_seconds=0)
    store.taken, store.version = ["x", "y", "z"], 1
    turns: list[UUID] = []

    @contextmanager
    def turn(stream_id: UUID) -> Iterator[bool]:
        turns.append(stream_id)
        yield True

    combiner = Combiner(
        store.load,
        store.save,
        attempts=3,
        turn=turn,
        changed=lambda places: places.taken != store.taken,
    )
    with pytest.raises(SessionFull):
        combiner.run(STREAM, take("late"))
    assert turns == []
    assert store.saves == 0
    assert combiner.run(STREAM, lambda places: "looked") == "looked"
    assert turns == []
