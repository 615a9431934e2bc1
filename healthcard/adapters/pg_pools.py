"""How the library's PostgreSQL connection pools come back after an outage.

Why not psycopg_pool's own backoff: a failed connection is retried after 1, 2, 4, 8 …
seconds (for up to 5 minutes), so after a long outage the next attempt may lie many
seconds after the server is back, and every command in between fails. Giving up
sooner (a short ``reconnect_timeout``) is worse: a pool whose attempts all gave up
waits for connections nobody makes. The pools here retry at a steady pace instead
(:data:`RETRY_SECONDS`), a few connections' worth of load on a server that is coming
back: measured with ``benchmarks/outage.py``.

While the server is away the pools also answer fast: once a connection attempt has
failed, and until one succeeds, a request for a connection waits
:data:`UNREACHABLE_WAIT_SECONDS` instead of the pool's whole timeout (a ready
connection is still handed out at once). eventsourcing asks up to 10 times per
query, so a command in an outage fails in about 2.5 s instead of 10; the request
still joins the pool's queue, so a pool that gave up reconnecting starts again.

The pool classes are psycopg_pool's; only the attempt's schedule and the wait change,
through ``_add_connection``, ``_connect`` and ``getconn`` (psycopg_pool 3.2–3.3;
``tests/integration/test_outage_recovery.py`` fails if a later version moves them).
"""

from __future__ import annotations

from typing import Any

from psycopg_pool.base import AttemptWithBackoff

RETRY_SECONDS = 0.5
"""Pause between two attempts to reconnect a pool's connection while the server is away."""

UNREACHABLE_WAIT_SECONDS = 0.05
"""How long a request for a connection waits while the server is known to be away."""


class SteadyAttempt(AttemptWithBackoff):
    """A reconnection attempt that waits :data:`RETRY_SECONDS` each time (no doubling)."""

    INITIAL_DELAY = RETRY_SECONDS
    DELAY_JITTER = 0.2
    DELAY_BACKOFF = 1.0


_STEADY: dict[type[Any], type[Any]] = {}


def steady(pool_class: type[Any]) -> type[Any]:
    """A subclass of ``pool_class`` that reconnects at a steady pace (one per class; it
    adds no attribute, so a pool made elsewhere can take it as its class)."""
    made = _STEADY.get(pool_class)
    if made is None:
        name = f"Steady{pool_class.__name__}"
        base_add = pool_class._add_connection
        base_connect = pool_class._connect
        base_getconn = pool_class.getconn

        def _add_connection(
            self: Any, attempt: AttemptWithBackoff | None, growing: bool = False
        ) -> None:
            if attempt is None:  # a new attempt starts: make it a steady one
                attempt = SteadyAttempt(timeout=self.reconnect_timeout)
            base_add(self, attempt, growing)

        def _connect(self: Any, timeout: float | None = None) -> Any:
            try:
                conn = base_connect(self, timeout)
            except BaseException:
                self.unreachable = True
                raise
            self.unreachable = False
            return conn

        def getconn(self: Any, timeout: float | None = None) -> Any:
            if getattr(self, "unreachable", False):
                timeout = UNREACHABLE_WAIT_SECONDS
            return base_getconn(self, timeout)

        body = {
            "__slots__": (),
            "_add_connection": _add_connection,
            "_connect": _connect,
            "getconn": getconn,
            "steady": True,
        }
        made = _STEADY[pool_class] = type(name, (pool_class,), body)
    return made


def steady_reconnects(recorder: Any) -> None:
    """Make eventsourcing's pool behind ``recorder`` (``datastore.pool`` of the
    PostgreSQL recorders; others have none) reconnect at a steady pace."""
    pool = getattr(getattr(recorder, "datastore", None), "pool", None)
    if pool is not None and hasattr(pool, "_add_connection") and not getattr(pool, "steady", 0):
        pool.__class__ = steady(type(pool))


__all__ = [
    "RETRY_SECONDS",
    "UNREACHABLE_WAIT_SECONDS",
    "SteadyAttempt",
    "steady",
    "steady_reconnects",
]
