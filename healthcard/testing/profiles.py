"""Hypothesis settings profiles: one family for the lifecycle state machine (chosen by
``HYPOTHESIS_PROFILE``), one for other property tests (``HEALTHCARD_HYPOTHESIS_PROFILE``).

Why namespaced names (``healthcard-ci`` ...): Hypothesis keeps one global profile
registry, and an embedding app (or another test module) may register its own ``ci``.
The environment variable still says ``ci``/``dev``/``thorough``; :func:`profile_settings`
maps it to ours, and tests apply the result to the state machine only
(``Machine.TestCase.settings = profile_settings()``), so nothing else changes size.

- ``dev`` (default): 50 examples x 30 steps, about a second.
- ``ci``: 200 examples x 50 steps, derandomized so a CI run is reproducible.
- ``thorough``: 1000 examples x 80 steps, for a nightly run.

Property tests (``property_settings()``, sized per test with :func:`scaled`):

- ``dev`` (default): 100 examples of up to 40 steps;
- ``ci``: the same size, derandomized (a CI run is reproducible), blobs printed;
- ``thorough``: 1000 examples of up to 60 steps, and ``scaled(n)`` gives ``10 * n``.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

PROFILE_ENV = "HYPOTHESIS_PROFILE"
PREFIX = "healthcard-"

_COMMON: dict[str, Any] = {
    "deadline": None,  # the first call of an example warms caches; time is not the property
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 50, "stateful_step_count": 30},
    "ci": {"max_examples": 200, "stateful_step_count": 50, "derandomize": True},
    "thorough": {"max_examples": 1000, "stateful_step_count": 80},
}


PROPERTY_PROFILE_ENV = "HEALTHCARD_HYPOTHESIS_PROFILE"
PROPERTY_PREFIX = "healthcard-properties-"

PROPERTY_PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 100, "stateful_step_count": 40},
    "ci": {"max_examples": 100, "stateful_step_count": 40, "derandomize": True, "print_blob": True},
    "thorough": {"max_examples": 1000, "stateful_step_count": 60},
}


def register_profiles() -> None:
    """Register ``healthcard-dev``, ``healthcard-ci``, ``healthcard-thorough`` and the
    ``healthcard-properties-*`` profiles of the same names."""
    for name, values in PROFILES.items():
        settings.register_profile(PREFIX + name, **{**_COMMON, **values})
    for name, values in PROPERTY_PROFILES.items():
        settings.register_profile(PROPERTY_PREFIX + name, **{**_COMMON, **values})


def property_profile_name(environ: dict[str, str] | None = None) -> str:
    """The property-test profile from ``HEALTHCARD_HYPOTHESIS_PROFILE`` (``dev`` by default)."""
    env = os.environ if environ is None else environ
    name = env.get(PROPERTY_PROFILE_ENV, "") or "dev"
    return name if name in PROPERTY_PROFILES else "dev"


def property_settings(name: str | None = None) -> settings:
    """Settings for a property test: ``@settings(property_settings(), max_examples=...)``."""
    register_profiles()
    return settings.get_profile(PROPERTY_PREFIX + (name or property_profile_name()))


def scaled(examples: int) -> int:
    """``examples`` for dev and ci, ten times more for thorough (tests with their own count)."""
    return examples * 10 if property_profile_name() == "thorough" else examples


def profile_name(environ: dict[str, str] | None = None) -> str:
    """The short profile name from ``HYPOTHESIS_PROFILE`` (``dev`` when unset or unknown)."""
    env = os.environ if environ is None else environ
    name = env.get(PROFILE_ENV, "").removeprefix(PREFIX) or "dev"
    return name if name in PROFILES else "dev"


def profile_settings(name: str | None = None) -> settings:
    """The settings of ``name`` (default: the one ``HYPOTHESIS_PROFILE`` names)."""
    register_profiles()
    return settings.get_profile(PREFIX + (name or profile_name()))


register_profiles()
