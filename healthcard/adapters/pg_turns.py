"""Turns on a stream across processes: a PostgreSQL advisory lock per stream.

Why: in a morning rush the app servers' processes book the same few sessions at the
same moment. Inside one process the bookings of a session already take turns
(``application.combining``); across processes they still raced, every save but one
conflicted and was decided again, and a batch could lose dozens of times in a row
(measured: up to 104 attempts for one batch, p99 0.6 s). With a turn, the leader of a
session's batch in each process waits for the others' batches on that session,
then loads, decides and saves without a conflict.

A turn is only an optimisation: optimistic concurrency still decides every write. So
every failure to get one (no lock connection free in time, the lock not granted
within ``LOCK_WAIT``, the server away) goes on without it, as before turns. The
server drops a session's locks when its connection dies, so a killed process never
holds a turn.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final
from uuid import UUID

from healthcard.adapters.pg_pools import steady

TURNS_CLASS: Final = 0x6874  # "ht": the first key of every turn's two-key advisory lock
LOCK_WAIT: Final = "2s"
"""The longest a leader waits for another process's batch before going on without
its turn (a batch takes milliseconds: waiting longer means that process is stuck)."""
CONNECTIONS: Final = 4
"""Lock connections per process: at most this many sessions hold or wait for a turn
at once here (the table lock of eventsourcing's inserts serialises the writes anyway)."""
CONNECTION_WAIT: Final = 0.5
"""The longest a leader waits for a free lock connection before going on without."""


class PostgresTurns:
    """Advisory-lock turns per stream on the application's PostgreSQL database."""

    def __init__(self, conninfo: Mapping[str, Any]) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout

        self._errors: tuple[type[BaseException], ...] = (psycopg.Error, PoolTimeout)
        self._pool = steady(ConnectionPool)(
            kwargs={**conninfo, "autocommit": True, "options": f"-c lock_timeout={LOCK_WAIT}"},
            min_size=0,
            max_size=CONNECTIONS,
            timeout=CONNECTION_WAIT,
            open=False,
            name="healthcard-turns",
        )
        self._pool.open(wait=False)

    @contextmanager
    def turn(self, stream_id: UUID) -> Iterator[bool]:
        """Hold the stream's turn for the body (True), or go on without it (False)."""
        key = int.from_bytes(stream_id.bytes[:4], "big", signed=True)
        conn = self._locked(key)
        try:
            yield conn is not None
        finally:
            if conn is not None:
                self._release(conn, key)

    def _locked(self, key: int) -> Any:
        try:
            conn = self._pool.getconn()
        except self._errors:
            return None
        try:
            conn.execute("SELECT pg_advisory_lock(%s, %s)", (TURNS_CLASS, key))
        except self._errors:
            self._pool.putconn(conn)
            return None
        return conn

    def _release(self, conn: Any, key: int) -> None:
        try:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (TURNS_CLASS, key))
        except self._errors:
            # A connection that cannot unlock is closed: the server then drops its locks.
            with contextlib.suppress(*self._errors):
                conn.close()
        self._pool.putconn(conn)

    def close(self) -> None:
        self._pool.close()


__all__ = ["CONNECTIONS", "LOCK_WAIT", "PostgresTurns"]
