"""A crowd of processes starting together: app servers and workers opening one store.

Why in the kit: a deployment starts many processes at once (a rolling restart, an
autoscaler, the morning's first requests), each creating the tables it needs if they
are missing. Whether that is safe shows only when they really start at the same
instant, round after round, on a fresh database each time: this keeps one set of
spawned processes alive and releases them together on each round's database.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Mapping, Sequence
from typing import Any

from healthcard.application import HealthCardApp
from healthcard.readmodels import open_projections
from healthcard.testing.races import BARRIER_TIMEOUT, RaceFailed, end_processes

OPENERS = ("app", "views")
"""What a process opens: the application (``app``), or the application and its read
models, as a projection worker does (``views``)."""


def _open(kind: str, env: dict[str, str]) -> None:
    if kind == "views":
        open_projections(env).close()
        return
    HealthCardApp(env).close()


def _starter(index: int, kind: str, rounds: int, envs: Any, barrier: Any, results: Any) -> None:
    """Child process: for each round, wait for the others, open, report, close."""
    for number in range(rounds):
        env = envs.get(timeout=BARRIER_TIMEOUT)
        try:
            barrier.wait(timeout=BARRIER_TIMEOUT)
        except BaseException:
            results.put((number, index, "crash:barrier"))
            return
        try:
            _open(kind, env)
        except Exception as exc:  # report the failure: the parent counts them
            results.put((number, index, f"{type(exc).__name__}: {str(exc)[:120]}"))
        else:
            results.put((number, index, "ok"))


def start_together(
    rounds: Sequence[Mapping[str, str]],
    kinds: Sequence[str],
    *,
    timeout: float = 120.0,
) -> list[list[str]]:
    """Start ``len(kinds)`` spawned processes (each opening what its kind says, see
    :data:`OPENERS`) once per environment of ``rounds``, all released together on
    each round; returns each round's outcomes (``ok`` or the error's type and text)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(kinds))
    results = context.Queue()
    inboxes = [context.Queue() for _ in kinds]
    processes = [
        context.Process(
            target=_starter,
            args=(index, kind, len(rounds), inboxes[index], barrier, results),
            daemon=True,
        )
        for index, kind in enumerate(kinds)
    ]
    for process in processes:
        process.start()
    outcomes = [["" for _ in kinds] for _ in rounds]
    try:
        for env in rounds:
            for inbox in inboxes:
                inbox.put(dict(env))
            for _ in kinds:
                number, index, result = results.get(timeout=timeout)
                outcomes[number][index] = result
    except queue.Empty:
        raise RaceFailed(f"a starting process did not report within {timeout:.0f} s") from None
    finally:
        end_processes(processes)
    return outcomes


__all__ = ["OPENERS", "start_together"]
