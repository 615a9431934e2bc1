"""A rebuild's reader processes: they read and decode the log while this one folds.

Why processes and not threads: reading and decoding (the recorder's rows, orjson,
unsealing personal fields) and folding and writing are all mostly Python, so under
the GIL a thread overlaps only the C parts. Each reader process, handed the event
store's settings, opens the log through its own application, decodes fixed ranges
of positions (reader *k* takes every *n*-th range) and sends each as one orjson
message over its own pipe; this process takes the ranges in order, so the fold
sees the log in order. A reader is at most one range ahead (it waits on its pipe),
so memory stays bounded. Needs an event store another process can open: a SQLite
file or PostgreSQL (an in-memory log is read by a thread of this process instead).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

import orjson

from healthcard.application import HealthCardApp
from healthcard.readmodels.decode import ViewEvent
from healthcard.readmodels.logreader import Batch, BatchReader, paused_gc
from healthcard.readmodels.model import Needs

_END = b""
_FAILED = b"!"

READERS = 2
"""Reader processes of a rebuild (on a 2-core machine: two readers and the folding
process share the cores; reading and decoding is the larger half of the work)."""


class ReaderFailed(RuntimeError):
    """A reader process stopped with an error (its type is in the message)."""


def can_read_elsewhere(env: Mapping[str, str] | None) -> bool:
    """True if another process can open the event store these settings describe."""
    if env is None:
        return False
    module = env.get("PERSISTENCE_MODULE", "")
    if module.endswith("postgres"):
        return True
    db = env.get("SQLITE_DBNAME", "")
    return (
        module.endswith("sqlite") and bool(db) and ":memory:" not in db and "mode=memory" not in db
    )


def ranges(start: int, head: int, span: int) -> list[tuple[int, int]]:
    """Consecutive position ranges ``(a, b]`` of ``span`` positions covering ``(start, head]``."""
    return [(a, min(a + span, head)) for a in range(start, head, span)]


def _read(
    env: dict[str, str], parts: list[tuple[int, int]], conn: Connection, forked: bool
) -> None:
    """Reader process: send each range's decoded events, then an empty message."""
    try:
        with paused_gc(), HealthCardApp(env) as app:
            reader = BatchReader(app, batch_size=max((b - a for a, b in parts), default=1))
            for a, b in parts:
                for batch in reader.batches(a, b):  # one batch: the range fits the limit
                    needs = batch.needs
                    message = (
                        a,
                        b,
                        batch.events,
                        needs.session_ids,
                        needs.appointment_ids,
                        needs.used_card_ids,
                    )
                    conn.send_bytes(orjson.dumps(message, default=_plain))
        conn.send_bytes(_END)
    except BaseException as error:  # reported to the parent by type only (no data)
        with contextlib.suppress(OSError):  # unless the parent has gone
            conn.send_bytes(_FAILED + type(error).__name__.encode())
    finally:
        conn.close()
        if forked:
            os._exit(0)  # a forked child must not run the parent's finalizers


def _plain(value: object) -> object:
    """orjson's fallback: events (named tuples) as arrays, key sets as arrays."""
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(type(value).__name__)


def _start_method() -> str:
    """``fork`` (no start-up cost) only from a process with a single thread.

    A thread of this process may hold a lock (a connection pool's, a cache's) at
    the moment of the fork; the child would inherit it locked and wait forever. So
    a process with other threads (a query thread, a PostgreSQL pool) spawns readers.
    """
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


class ProcessBatches:
    """Context manager: the batches of ``(start, head]`` in order, read by ``readers``
    processes in ranges of ``span`` positions."""

    def __init__(
        self, env: Mapping[str, str], start: int, head: int, span: int, readers: int = READERS
    ) -> None:
        if span < 1 or readers < 1:
            raise ValueError("span and readers must be at least 1")
        self._env = dict(env)
        self._ranges = ranges(start, head, span)
        self._readers = min(readers, len(self._ranges))
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []

    def __enter__(self) -> Iterator[Batch]:
        method = _start_method()
        context: Any = multiprocessing.get_context(method)  # typeshed lacks .Process
        for k in range(self._readers):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_read,
                args=(self._env, self._ranges[k :: self._readers], sender, method == "fork"),
                name=f"views-log-reader-{k}",
                daemon=True,
            )
            process.start()
            sender.close()  # the child holds the sending end now
            self._pipes.append(receiver)
            self._processes.append(process)
        return self._batches()

    def _batches(self) -> Iterator[Batch]:
        new = tuple.__new__
        for i, expected in enumerate(self._ranges):
            k = i % self._readers
            message = self._receive(self._pipes[k], self._processes[k])
            a, b, events, sessions, appointments, cards = orjson.loads(message)
            if (a, b) != expected:  # pragma: no cover (a bug, not an input)
                raise ReaderFailed("a reader process sent ranges out of order")
            needs = Needs(set(sessions), set(appointments), set(cards))
            yield Batch(a, b, [new(ViewEvent, e) for e in events], needs)

    @staticmethod
    def _receive(pipe: Connection, process: Any) -> bytes:
        while not pipe.poll(1.0):
            if not process.is_alive() and not pipe.poll(0):
                raise ReaderFailed("a log reader process ended early")
        try:
            message = pipe.recv_bytes()
        except EOFError:
            raise ReaderFailed("a log reader process ended early") from None
        if message == _END:
            raise ReaderFailed("a log reader process ended early")
        if message[:1] == _FAILED:
            raise ReaderFailed(f"a log reader process failed: {message[1:].decode()}")
        return message

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for pipe in self._pipes:
            pipe.close()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
