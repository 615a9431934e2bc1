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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from healthcard.domain.errors import ConcurrencyConflict, StoreUnavailable

STORE_FAULTS = (OperationalError, InterfaceError)
"""What eventsourcing raises when the event store's server cannot be reached or dropped
the connection (after its own short retries): ``StoreUnavailable`` to the caller."""


@contextmanager
def typed_store_faults() -> Iterator[None]:
    """Turn the event store's connection faults into ``StoreUnavailable``: the caller
    gets one typed error to retry on, never a driver's exception."""
    try:
        yield
    except STORE_FAULTS:
        raise StoreUnavailable("event store") from None


P = ParamSpec("P")
R = TypeVar("R")


class HasRetries(Protocol):
    """What the decorated method's owner offers: how many attempts a command gets."""

    @property
    def conflict_retries(self) -> int: ...


S = TypeVar("S", bound=HasRetries)


def retry_on_conflict(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Re-run a command after an optimistic-concurrency conflict, from a fresh load;
    after ``conflict_retries`` attempts raise ``ConcurrencyConflict`` (nothing written).
    An event-store outage is ``StoreUnavailable`` at once (``typed_store_faults``)."""

    @functools.wraps(method)
    def wrapper(owner: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        attempts = owner.conflict_retries
        for attempt in range(attempts):
            try:
                with typed_store_faults():
                    return method(owner, *args, **kwargs)
            except IntegrityError:
                if attempt + 1 == attempts:
                    break
                time.sleep(random.uniform(0, 0.002 * (2**attempt)))  # noqa: S311 (jitter)
        raise ConcurrencyConflict(
            f"{method.__name__}: still conflicting after {attempts} attempts; nothing written"
        )

    return wrapper
