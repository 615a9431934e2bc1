"""Commands on one stream from many threads of a process: decided in turn, saved together.

Why: in a morning rush thousands of people book the same few sessions in the same
second. Each booking used to load its session, book a place and save; of the threads
saving one session at a time all but one conflicted, reloaded and tried again, and
some ran out of attempts (a conflict storm). Here the first command on a stream
leads: it loads the stream once, decides its own command and every command that
queued for the same stream meanwhile, each on the state the ones before it left, and
saves all their events in one save; then it hands the stream to the first of the
commands that queued while it saved.

Isolation, command by command:

- each command is decided on the state after every command before it, so a rule
  (a session's capacity) is never checked against a state that misses one of them;
- a refused command raises for its caller alone and changes nothing (domain methods
  refuse before they record an event), so its neighbours still commit;
- the save is one save with optimistic concurrency: when another process wrote the
  stream first, the stream is loaded again and the whole batch decided again, on the
  new state (what ``retry_on_conflict`` does for one command); after the attempts run
  out every command of the batch hears ``ConcurrencyConflict``, nothing written;
- a store failure reaches every command of the batch, typed (``StoreUnavailable``),
  nothing of theirs written, as each would have heard alone.

Across processes, batches on one stream take turns too when the application gives a
``turn`` (on PostgreSQL: an advisory lock per stream, ``adapters.pg_turns``); without
one, or when a turn cannot be had, they conflict and are decided again, as above.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from healthcard.application.retry import typed_store_faults
from healthcard.domain.errors import ConcurrencyConflict, HealthCardError

A = TypeVar("A")
R = TypeVar("R")

MAX_BATCH = 64
"""The most commands one save decides (bounds its transaction and its leader's wait)."""

BATCH_ATTEMPTS = 4
"""A batch gets this many times a command's attempts under conflicts: its conflicts
are with other processes' batches only, each of which progressed (a place taken, a
session filled), and one lost batch would fail every command in it."""

MAX_BACKOFF = 0.005
"""The longest pause (seconds) before a batch's next attempt."""


@dataclass(eq=False)
class _Command:
    decide: Callable[[Any], Any]
    wake: threading.Event = field(default_factory=threading.Event)
    batch: list[_Command] | None = None  # set when this command leads its batch
    result: Any = None
    error: BaseException | None = None


class Combiner(Generic[A]):
    """Runs ``decide(aggregate)`` functions for one stream in turn on one ``load``,
    saving each batch's events with one ``save``; ``attempts`` (times
    ``BATCH_ATTEMPTS``) loads and saves per batch under conflicts, the saves after a
    conflict with ``save_again`` (the application's: at once, not waiting for a
    group-commit window, so a batch that lost to another process is not the slowest
    again). ``turn(stream_id)``, when given, is held around a batch: the stream's
    turn across processes (``adapters.pg_turns``), so that batches of several
    processes on one stream follow one another instead of conflicting; it yields
    False when it went on without one. ``changed(aggregate)`` tells whether deciding
    a batch recorded anything: a batch first decided without a turn that records
    nothing is answered without one (and without a save). ``combine=False`` runs each
    command alone, without turns (one load and one save per command, ``attempts`` of
    them, as ``retry_on_conflict`` does)."""

    def __init__(
        self,
        load: Callable[[UUID], A],
        save: Callable[[A], object],
        *,
        attempts: int,
        combine: bool = True,
        save_again: Callable[[A], object] | None = None,
        turn: Callable[[UUID], AbstractContextManager[bool]] | None = None,
        changed: Callable[[A], bool] = lambda _: True,
    ) -> None:
        self._changed = changed
        self._turn = turn if turn is not None and combine else None
        self._load = load
        self._save = save
        self._save_again = save_again or save
        self._attempts = attempts * BATCH_ATTEMPTS if combine else attempts
        self._combine = combine
        self._lock = threading.Lock()
        self._queues: dict[UUID, list[_Command]] = {}

    def run(self, stream_id: UUID, decide: Callable[[A], R]) -> R:
        """Decide ``decide`` on the stream (after the commands queued before it) and
        save it; its result, or the error it (or its batch's save) raised."""
        me = _Command(decide)
        if not self._combine:
            self._serve(stream_id, [me])
        else:
            with self._lock:
                queue = self._queues.get(stream_id)
                if queue is None:
                    self._queues[stream_id] = []
                    me.batch = [me]
                else:
                    queue.append(me)
            if me.batch is None:
                me.wake.wait()  # decided by a leader, or made the next leader
            if me.batch is not None:
                try:
                    self._serve(stream_id, me.batch)
                finally:
                    self._hand_over(stream_id)
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[no-any-return]

    def _hand_over(self, stream_id: UUID) -> None:
        with self._lock:
            queue = self._queues[stream_id]
            if not queue:
                del self._queues[stream_id]
                return
            batch, self._queues[stream_id] = queue[:MAX_BATCH], queue[MAX_BATCH:]
            batch[0].batch = batch
        batch[0].wake.set()

    def _serve(self, stream_id: UUID, batch: list[_Command]) -> None:
        try:
            # Decided first without a turn: a batch that writes nothing (every place
            # taken, every command a retry) is answered at once. Only a batch that
            # writes waits for its turn, and is decided again on the state it finds.
            if self._turn is None:
                self._decide_and_save(stream_id, batch)
            else:
                with typed_store_faults():
                    aggregate = self._decide(stream_id, batch)
                if self._changed(aggregate):
                    with self._turn(stream_id):
                        self._decide_and_save(stream_id, batch)
        except BaseException as error:  # the load or the save: every command's answer
            for command in batch:
                command.result, command.error = None, error
        finally:
            for command in batch[1:]:
                command.wake.set()

    def _decide(self, stream_id: UUID, batch: list[_Command]) -> A:
        aggregate = self._load(stream_id)
        for command in batch:
            try:
                command.result, command.error = command.decide(aggregate), None
            except HealthCardError as refused:
                command.result, command.error = None, refused
        return aggregate

    def _decide_and_save(self, stream_id: UUID, batch: list[_Command]) -> None:
        for attempt in range(self._attempts):
            with typed_store_faults():
                aggregate = self._decide(stream_id, batch)
                try:
                    (self._save if attempt == 0 else self._save_again)(aggregate)
                except IntegrityError:
                    if attempt + 1 < self._attempts:
                        pause = min(MAX_BACKOFF, 0.002 * 2**attempt)
                        time.sleep(random.uniform(0, pause))  # noqa: S311 (jitter)
                    continue
            return
        raise ConcurrencyConflict(
            f"still conflicting after {self._attempts} attempts; nothing written"
        )


__all__ = ["MAX_BATCH", "Combiner"]
