"""Testing an app's authorisation rules: a recording authoriser and the command methods.

Why in the kit: the hook (``HealthCardApp(authoriser=...)``) is the embedder's own
policy, so the embedder's tests are where it is proved; they need an authoriser that
answers what they say and remembers what it was asked, and the list of every command
method, so that "each command asks first" is checked for commands added later too.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from healthcard.application import HealthCardApp
from healthcard.application.commands import Command
from healthcard.domain.audit import Audit


@dataclass
class RecordingAuthoriser:
    """An ``Authoriser`` that gives ``answer`` (or ``rule(command, caller)``) and records
    every question as ``(command, caller)`` in ``asked``."""

    answer: object = True
    rule: Callable[[Command, Audit], object] | None = None
    asked: list[tuple[Command, Audit]] = field(default_factory=list)

    def __call__(self, command: Command, caller: Audit, /) -> bool:
        self.asked.append((command, caller))
        result = self.rule(command, caller) if self.rule is not None else self.answer
        # Any value, not only a bool: tests prove the hook fails closed on the others.
        return cast(bool, result)


def command_methods(app: HealthCardApp) -> dict[type[Command], Callable[[Command], Any]]:
    """Each command class -> the bound method of ``app`` that runs it (its one public
    method whose only parameter is annotated with that class)."""
    methods: dict[type[Command], Callable[[Command], Any]] = {}
    for name, function in inspect.getmembers(type(app), inspect.isfunction):
        if name.startswith("_"):
            continue
        hints = typing.get_type_hints(function)
        hints.pop("return", None)
        if len(hints) != 1:
            continue
        (kind,) = hints.values()
        if isinstance(kind, type) and issubclass(kind, Command):
            if kind in methods:
                raise AssertionError(f"two methods run {kind.__name__}")
            methods[kind] = getattr(app, name)
    return methods


__all__ = ["RecordingAuthoriser", "command_methods"]
