"""The optional authorisation hook: the embedding app decides who may run which command.

Why a hook and not roles in the library: who is "staff", which window may freeze a card
and which volunteer may register one are the hospital's rules, kept in its own identity
system. The library cannot know them, but it can make sure they are asked first: an
``Authoriser`` passed to ``HealthCardApp(authoriser=...)`` is called with the command and
its caller (the command's ``Audit``) before anything is loaded, retried or written.

It fails closed: only ``True`` lets a command run. ``False``, ``None`` (a hook that forgot
to return) or any other value refuses it with :class:`NotAuthorised`; an exception the
hook raises propagates unchanged (the app's own error), and nothing is written either way.

Queries (``card``, ``session``, ``account``, ``verify_token``) carry no caller and are
not covered: an app that exposes them must authorise their callers itself
(``docs/security.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from healthcard.application.commands import Command
from healthcard.domain.audit import Audit
from healthcard.domain.errors import NotAuthorised

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=Command)


class Authoriser(Protocol):
    """Decides whether ``caller`` may run ``command``: ``True`` allows, anything else refuses.

    A plain function ``def allow(command: Command, caller: Audit) -> bool`` is one.
    """

    def __call__(self, command: Command, caller: Audit, /) -> bool: ...


class HasAuthoriser(Protocol):
    """What the decorated method's owner offers: the authoriser it was given, if any."""

    @property
    def authoriser(self) -> Authoriser | None: ...


S = TypeVar("S", bound=HasAuthoriser)


def check(authoriser: Authoriser | None, command: Command) -> None:
    """Raise ``NotAuthorised`` unless there is no authoriser or it answers ``True``."""
    if authoriser is None:
        return
    if authoriser(command, command.audit) is not True:
        raise NotAuthorised(type(command).__name__)


def authorised(
    method: Callable[Concatenate[S, C, P], R],
) -> Callable[Concatenate[S, C, P], R]:
    """Ask the owner's authoriser before the command method runs at all.

    Put it outermost (above ``retry_on_conflict``): the caller is asked once per call,
    before the first load, and a refusal never reaches the event store.
    """

    @functools.wraps(method)
    def wrapper(owner: S, command: C, /, *args: P.args, **kwargs: P.kwargs) -> R:
        check(owner.authoriser, command)
        return method(owner, command, *args, **kwargs)

    return wrapper


__all__ = ["Authoriser", "NotAuthorised", "authorised", "check"]
