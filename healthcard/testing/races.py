"""Racing commands: several applications on one store, released at the same moment.

Why in the kit: the set rules (capacity, family cap, one card per document) hold only
if concurrent commands conflict and are retried; the way to show it is to start
competitors together, from threads (each with its own ``HealthCardApp``, as separate
app servers would have) or from spawned processes, and count the outcomes. Each
outcome is ``"ok"`` or the stable code of the ``HealthCardError`` that refused the
command; anything else is a crash and fails the race.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from healthcard.adapters.clock import FakeClock
from healthcard.application import HealthCardApp
from healthcard.application.commands import Command
from healthcard.domain.errors import HealthCardError

BARRIER_TIMEOUT = 60.0
"""Seconds a competitor waits for the others before the race is called off."""


class RaceFailed(AssertionError):
    """A competitor crashed, or did not report in time (the message says which)."""


def outcome(command: Callable[[], object]) -> str:
    """``ok`` or the stable code of the domain error (anything else propagates)."""
    try:
        command()
    except HealthCardError as exc:
        return exc.code
    return "ok"


def race_threads(
    apps: Sequence[HealthCardApp], command: Callable[[HealthCardApp, int], object]
) -> list[str]:
    """Run ``command(app_i, i)`` in one thread per app, released together."""
    barrier = threading.Barrier(len(apps))

    def compete(index: int) -> str:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        return outcome(lambda: command(apps[index], index))

    with ThreadPoolExecutor(max_workers=len(apps)) as pool:
        return list(pool.map(compete, range(len(apps))))


def on_threads(calls: Sequence[Callable[[], object]], *, stagger: float = 0.0) -> list[object]:
    """Run each of ``calls`` on a thread of its own; each one's result, or the exception
    it raised. Released together (a barrier), or, with ``stagger`` seconds, started
    one after another that far apart, so that the first is already at work when the
    next arrives (a leader and the ones that queue behind it)."""
    results: list[object] = [None] * len(calls)
    gate = threading.Barrier(len(calls)) if not stagger else None

    def run(index: int) -> None:
        if gate is not None:
            gate.wait(timeout=BARRIER_TIMEOUT)
        try:
            results[index] = calls[index]()
        except BaseException as error:  # the result under test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
        time.sleep(stagger)
    for thread in threads:
        thread.join(timeout=BARRIER_TIMEOUT)
    return results


def _compete_in_process(
    env: dict[str, str],
    start: datetime,
    index: int,
    method: str,
    command: Command,
    barrier: Any,
    results: Any,
) -> None:
    """Child process: its own app, wait for the others, run, report the outcome."""
    try:
        app = HealthCardApp(env, clock=FakeClock(start))
    except BaseException as exc:
        barrier.abort()  # the others fail at once instead of waiting for the timeout
        results.put((index, f"crash:{type(exc).__name__}"))
        raise
    try:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        results.put((index, outcome(lambda: getattr(app, method)(command))))
    except BaseException as exc:  # report, so the parent fails with a reason
        results.put((index, f"crash:{type(exc).__name__}"))
        raise
    finally:
        app.close()


def end_processes(processes: Sequence[Any], *, timeout: float = 30.0) -> None:
    """Wait for each process to end (``timeout`` seconds each), killing any that hangs."""
    for process in processes:
        process.join(timeout=timeout)
        if process.is_alive():
            process.kill()


def race_processes(
    env: Mapping[str, str],
    calls: Sequence[tuple[str, Command]],
    *,
    start: datetime,
    timeout: float = 120.0,
) -> list[str]:
    """Run each ``(method, command)`` of ``calls`` on ``HealthCardApp(env)`` in its own
    spawned process (clock: a ``FakeClock`` at ``start``), all released together;
    returns the outcomes in the order of ``calls``.

    The store's tables must exist already (open an app once first): processes starting
    together would otherwise all run eventsourcing's ``CREATE`` statements.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(calls))
    results = context.Queue()
    processes = [
        context.Process(
            target=_compete_in_process,
            args=(dict(env), start, index, method, command, barrier, results),
            daemon=True,
        )
        for index, (method, command) in enumerate(calls)
    ]
    for process in processes:
        process.start()
    try:
        reported = dict(results.get(timeout=timeout) for _ in processes)
    except queue.Empty:
        raise RaceFailed(f"a competing process did not report within {timeout:.0f} s") from None
    finally:
        end_processes(processes)
    crashed = {i: r for i, r in reported.items() if r.startswith("crash:")}
    codes = [p.exitcode for p in processes]
    if crashed or any(code != 0 for code in codes):
        raise RaceFailed(f"competitors crashed: {crashed}, exit codes {codes}")
    return [reported[index] for index in range(len(calls))]


__all__ = [
    "BARRIER_TIMEOUT",
    "RaceFailed",
    "end_processes",
    "on_threads",
    "outcome",
    "race_processes",
    "race_threads",
]
