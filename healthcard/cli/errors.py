"""The one error handler of the ``healthcard`` command: a refusal is ``error[code]``.

Why: a refused command is a normal outcome for an operator, not a crash, so a
``HealthCardError`` reaching the CLI prints ``error[<code>]: <message>`` on stderr
(codes are stable, messages hold no personal data) and exits with status 2 instead
of a traceback. Every command group is built by :func:`new_app`, whose click group
(:class:`HealthCardGroup`) catches the error once for every command it runs, so no
command has to remember a decorator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from healthcard.domain.errors import HealthCardError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_REFUSED = 2
"""Exit status of a command the library refused (and of bad options, as typer does)."""


def report(error: HealthCardError) -> None:
    """Print ``error[code]: message`` on stderr."""
    typer.echo(f"error[{error.code}]: {error.message}", err=True)


class HealthCardGroup(TyperGroup):
    """A typer group whose commands end with ``error[code]`` and status 2 on a domain error."""

    def invoke(self, ctx: Any) -> Any:  # click's Context (typer vendors click)
        try:
            return super().invoke(ctx)
        except HealthCardError as error:
            report(error)
            raise typer.Exit(EXIT_REFUSED) from None


def new_app(**settings: Any) -> typer.Typer:
    """A typer app (a command group) with the shared error handling and defaults."""
    settings.setdefault("no_args_is_help", True)
    settings.setdefault("add_completion", False)
    return typer.Typer(cls=HealthCardGroup, **settings)


def exits_on_domain_error(command: Callable[P, R]) -> Callable[P, R]:
    """For a command of a typer app not built with :func:`new_app` (0.1.0 callers):
    the same handling, as a decorator."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except HealthCardError as error:
            report(error)
            raise typer.Exit(EXIT_REFUSED) from None

    return wrapper


__all__ = ["EXIT_REFUSED", "HealthCardGroup", "exits_on_domain_error", "new_app", "report"]
