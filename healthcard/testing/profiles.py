"""Hypothesis settings profiles for the lifecycle state machine, chosen by ``HYPOTHESIS_PROFILE``.

Why namespaced names (``healthcard-ci`` ...): Hypothesis keeps one global profile
registry, and an embedding app (or another test module) may register its own ``ci``.
The environment variable still says ``ci``/``dev``/``thorough``; :func:`profile_settings`
maps it to ours, and tests apply the result to the state machine only
(``Machine.TestCase.settings = profile_settings()``), so nothing else changes size.

- ``dev`` (default): 50 examples x 30 steps, about a second.
- ``ci``: 200 examples x 50 steps, derandomized so a CI run is reproducible.
- ``thorough``: 1000 examples x 80 steps, for a nightly run.
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


def register_profiles() -> None:
    """Register ``healthcard-dev``, ``healthcard-ci`` and ``healthcard-thorough``."""
    for name, values in PROFILES.items():
        settings.register_profile(PREFIX + name, **{**_COMMON, **values})


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
