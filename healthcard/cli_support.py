"""What every ``healthcard`` command shares: domain errors end as ``error[code]``.

Why: a refused command is a normal outcome for an operator, not a crash, so a
``HealthCardError`` reaching the CLI prints ``error[<code>]: <message>`` (codes are
stable, messages hold no personal data) and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from healthcard.domain.errors import HealthCardError

P = ParamSpec("P")
R = TypeVar("R")


def exits_on_domain_error(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``HealthCardError`` into ``error[code]: message`` on stderr and exit 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except HealthCardError as error:
            typer.echo(f"error[{error.code}]: {error.message}", err=True)
            raise typer.Exit(2) from None

    return wrapper
