"""Retrying a command after an optimistic-concurrency conflict.

Why retry in the service: set rules (one card per document, the family cap, session
capacity) are kept by saving every aggregate a command touches in one ``save()``
with optimistic concurrency. When someone else saved one of them first, the save
raises ``IntegrityError`` and writes nothing; running the command again from a fresh
load decides it against the current state. Jittered backoff spreads the retries.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from eventsourcing.persistence import IntegrityError

from healthcard.domain.errors import ConcurrencyConflict

P = ParamSpec("P")
R = TypeVar("R")


class HasRetries(Protocol):
    """What the decorated method's owner offers: how many attempts a command gets."""

    @property
    def conflict_retries(self) -> int: ...


S = TypeVar("S", bound=HasRetries)


def retry_on_conflict(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Re-run a command after an optimistic-concurrency conflict, from a fresh load;
    after ``conflict_retries`` attempts raise ``ConcurrencyConflict`` (nothing written)."""

    @functools.wraps(method)
    def wrapper(owner: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        attempts = owner.conflict_retries
        for attempt in range(attempts):
            try:
                return method(owner, *args, **kwargs)
            except IntegrityError:
                if attempt + 1 == attempts:
                    break
                time.sleep(random.uniform(0, 0.002 * (2**attempt)))  # noqa: S311 (jitter)
        raise ConcurrencyConflict(
            f"{method.__name__}: still conflicting after {attempts} attempts; nothing written"
        )

    return wrapper
