"""The one error handler of the ``healthcard`` command: a refusal is ``error[code]``.

Why: a refused command is a normal outcome for an operator, not a crash, so a
``HealthCardError`` reaching the CLI prints ``error[<code>]: <message>`` on stderr
(codes are stable, messages hold no personal data) and exits with status 2 instead
of a traceback. Every command group is built by :func:`new_app`, whose click group
(:class:`HealthCardGroup`) catches the error once for every command it runs, so no
command has to remember a decorator.

A command that cannot run at all (a path that names no log, a folder that does not
exist, a file it cannot write) ends the same way, with one line ``error: <what, naming
the path>`` and status 2 (:func:`cannot_run`): the operator mistyped something, and
a traceback or a usage box would bury the one line that says what.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, NoReturn, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from healthcard.domain.errors import HealthCardError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_REFUSED = 2
"""Exit status of a command the library refused (and of bad options, as typer does)."""

EXIT_CANNOT_RUN: Final = 2
"""Exit status of a command that could not run (a path it cannot use), as for bad options."""


def report(error: HealthCardError) -> None:
    """Print ``error[code]: message`` on stderr."""
    typer.echo(f"error[{error.code}]: {error.message}", err=True)


def cannot_run(message: str) -> NoReturn:
    """End the command with ``error: <message>`` on stderr and status 2.

    For what the operator can fix before trying again (a path, a file, a folder): the
    message names it, and nothing else is printed, neither a traceback nor typer's
    usage box.
    """
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_CANNOT_RUN)


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


__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_REFUSED",
    "HealthCardGroup",
    "cannot_run",
    "exits_on_domain_error",
    "new_app",
    "report",
]
