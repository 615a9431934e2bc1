"""Sources of new random ids: the system's, and a seeded one for reproducible days.

Why a collaborator like the clock: the streams a document's claim or an account lives
in get random ids, and a simulated day (``healthcard demo``, analysts' fixtures,
tests) must give the same log for the same seed, ids included. Production uses
:func:`uuid.uuid4`.
"""

from __future__ import annotations

import random
from uuid import UUID


class SeededIds:
    """Callable id source: random version-4 UUIDs drawn from ``random.Random(seed)``.

    Never for production: the ids are predictable from the seed. The streams of a
    person's claim and accounts must not be guessable from anything in the log.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 (reproducible simulation, not security)

    def __call__(self) -> UUID:
        return UUID(int=self._rng.getrandbits(128), version=4)


__all__ = ["SeededIds"]
