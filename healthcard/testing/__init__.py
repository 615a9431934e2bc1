"""Test kit for embedders: Hypothesis strategies, state machine, given/when/then.

Import what you need from here::

    from healthcard.testing import FakeClock, given, stream, expect, strategies
    from healthcard.testing import HealthCardMachine, lifecycle_machine, profile_settings
    from healthcard.testing import ReadModelMachine, Driver, refused

``strategies`` is the module of value and command strategies (``strategies.persons()``,
``strategies.resident_id_numbers()``, ``strategies.register_card_commands()`` ...).
Hypothesis (and pytest, for ``refused``) are needed only by the modules that use them;
those are imported lazily so that ``FakeClock`` and given/when/then work without them.
Rooms: ``gwt`` (given/when/then), ``strategies`` (values, commands), ``state_machine``
and ``reference`` (the lifecycle against a plain model), ``read_models`` (the same, with
the booking views), ``clinic_histories`` (command histories and the views they must
give), ``world`` (a driver with defaults), ``assertions``, ``leaks`` (searching stored
bytes for a person's data), ``postgres`` (a real server for tests), ``profiles``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.ids import SeededIds
from healthcard.testing.compare import aggregate_state, same_state
from healthcard.testing.gwt import (
    EventStream,
    Expect,
    Given,
    Outcome,
    ScenarioFailed,
    expect,
    given,
    stream,
)
from healthcard.testing.reference import ReferenceModel

if TYPE_CHECKING:
    from healthcard.testing import strategies
    from healthcard.testing.assertions import refused
    from healthcard.testing.profiles import profile_settings
    from healthcard.testing.read_models import ReadModelMachine
    from healthcard.testing.state_machine import (
        HealthCardMachine,
        ModelMismatch,
        lifecycle_machine,
    )
    from healthcard.testing.world import Driver

_LAZY = {
    "strategies": ("healthcard.testing.strategies", None),
    "profile_settings": ("healthcard.testing.profiles", "profile_settings"),
    "HealthCardMachine": ("healthcard.testing.state_machine", "HealthCardMachine"),
    "ModelMismatch": ("healthcard.testing.state_machine", "ModelMismatch"),
    "lifecycle_machine": ("healthcard.testing.state_machine", "lifecycle_machine"),
    "ReadModelMachine": ("healthcard.testing.read_models", "ReadModelMachine"),
    "Driver": ("healthcard.testing.world", "Driver"),
    "refused": ("healthcard.testing.assertions", "refused"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'healthcard.testing' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


__all__ = [
    "Driver",
    "EventStream",
    "Expect",
    "FakeClock",
    "Given",
    "HealthCardMachine",
    "ModelMismatch",
    "Outcome",
    "ReadModelMachine",
    "ReferenceModel",
    "ScenarioFailed",
    "SeededIds",
    "aggregate_state",
    "expect",
    "given",
    "lifecycle_machine",
    "profile_settings",
    "refused",
    "same_state",
    "strategies",
    "stream",
]
