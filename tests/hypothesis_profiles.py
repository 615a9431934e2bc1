"""Hypothesis profiles of the property tests, chosen with ``HEALTHCARD_HYPOTHESIS_PROFILE``.

Why here and not in conftest: the profiles only size the property tests that ask for
them (``settings(profile(), ...)``), so loading one never changes other tests.

- ``dev`` (default): 100 examples of up to 40 steps; the property files run in well
  under a minute on a 2-core machine.
- ``ci``: the same size, derandomized so that a CI run is reproducible.
- ``thorough``: many more and longer examples, for a nightly run or before a release.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_ENV = "HEALTHCARD_HYPOTHESIS_PROFILE"

_COMMON = settings(
    deadline=None,  # the application's first call warms caches; time is not the property
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

settings.register_profile("dev", _COMMON, max_examples=100, stateful_step_count=40)
settings.register_profile(
    "ci", _COMMON, max_examples=100, stateful_step_count=40, derandomize=True, print_blob=True
)
settings.register_profile("thorough", _COMMON, max_examples=1000, stateful_step_count=60)


def profile() -> settings:
    """The profile named by ``HEALTHCARD_HYPOTHESIS_PROFILE`` (``dev`` when unset)."""
    return settings.get_profile(os.environ.get(PROFILE_ENV, "") or "dev")


def scaled(examples: int) -> int:
    """``examples`` for dev and ci, more for thorough (for tests with their own count)."""
    return examples * 10 if os.environ.get(PROFILE_ENV) == "thorough" else examples
