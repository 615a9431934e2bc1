"""healthcard: resident electronic health cards as event-sourced aggregates.

Start with :class:`healthcard.HealthCardApp` and the commands in
:mod:`healthcard.commands`; errors are in :mod:`healthcard.domain.errors`.
"""

from __future__ import annotations

from healthcard.application import HealthCardApp, system_clock
from healthcard.config import HealthCardConfig

__version__ = "0.1.0"

__all__ = ["HealthCardApp", "HealthCardConfig", "__version__", "system_clock"]
