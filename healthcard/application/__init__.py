"""The application layer: the service, its commands, configuration and wiring.

- :mod:`~healthcard.application.service` -- ``HealthCardApp``: one method per use case
  (load aggregates, call the domain, save them together);
- :mod:`~healthcard.application.commands` -- the validated input of every use case;
- :mod:`~healthcard.application.config` -- ``HealthCardConfig`` (``HEALTHCARD_*``);
- :mod:`~healthcard.application.keyed_ids` -- ids of aggregates found by a natural key;
- :mod:`~healthcard.application.bootstrap` -- resolves the clock, key store and keyring;
- :mod:`~healthcard.application.keys` -- the keys folder (generate, load, rotate);
- :mod:`~healthcard.application.authorisation` -- the app's ``Authoriser``, asked first;
- :mod:`~healthcard.application.retry` -- retrying a command after a conflict.

Imports only ``domain``, ``qr`` and ``adapters`` (see ``docs/architecture.md``).
"""

from __future__ import annotations

from healthcard.adapters.clock import system_clock
from healthcard.application.authorisation import Authoriser
from healthcard.application.retry import retry_on_conflict
from healthcard.application.service import EVENT_TOPICS, HealthCardApp
from healthcard.domain.clock import Clock

__all__ = [
    "EVENT_TOPICS",
    "Authoriser",
    "Clock",
    "HealthCardApp",
    "retry_on_conflict",
    "system_clock",
]
