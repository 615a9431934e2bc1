"""healthcard: resident electronic health cards as event-sourced aggregates.

Start with :class:`healthcard.HealthCardApp` and the commands in
:mod:`healthcard.application.commands`; errors are in :mod:`healthcard.domain.errors`.
The folders are the architecture (``docs/architecture.md``): ``domain`` (rules and
events), ``qr`` (QR formats), ``adapters`` (storage, codec, privacy, national
identifiers), ``application`` (the service), ``readmodels`` and ``analytics`` (reading
the log), ``cli``, ``simulation`` (the demo) and ``testing`` (the kit for embedders).
"""

from __future__ import annotations

from healthcard.adapters.clock import system_clock
from healthcard.application.config import HealthCardConfig
from healthcard.application.service import HealthCardApp

__version__ = "0.2.0.dev0"

__all__ = ["HealthCardApp", "HealthCardConfig", "__version__", "system_clock"]
