"""Group commit: commands saved at the same time in one process share one transaction.

Why: most of a command's cost at the store is per transaction (a commit and its fsync
on SQLite; a round trip and eventsourcing's lock of the events table on PostgreSQL),
and the threads of a web server in a morning rush save at the same time. The first
save to arrive opens a group and leads it: it waits up to the window (or until the
group is full), closes the group and writes every member's events in one transaction.

Isolation, command by command:

- a refused command raises before it saves, so it never joins a group;
- a command touching an aggregate that a member of the open group already touches
  does not join: it waits until that group is written and then conflicts, so
  ``retry_on_conflict`` runs it again on a fresh load that sees the group's effects
  (no rule is checked against stale state, no update is lost: the database's unique
  (stream, version) key still decides every write);
- when the group's transaction conflicts (with another process), the member whose
  stream the database names (``culprit``: PostgreSQL does) fails alone and the others
  are written again in one transaction; when it names none (SQLite), each member is
  written alone, in arrival order; either way only the members that really conflict
  fail;
  when the store fails (an outage), every member hears the same typed error, nothing
  of theirs written, as each would have alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

MAX_MEMBERS = 64
"""A group is written as soon as it has this many members (bounds its transaction)."""


@dataclass(eq=False)
class Member:
    """One command's save: its events and the aggregates they came from."""

    events: list[Any]
    aggregates: dict[UUID, Any]
    done: threading.Event = field(default_factory=threading.Event)
    recordings: list[Any] = field(default_factory=list)
    error: BaseException | None = None


@dataclass(eq=False)
class _Group:
    members: list[Member] = field(default_factory=list)
    ids: set[UUID] = field(default_factory=set)
    full: threading.Event = field(default_factory=threading.Event)
    written: threading.Event = field(default_factory=threading.Event)


class GroupConflict(IntegrityError):
    """The command touched an aggregate another command of its group saved first."""


class GroupCommit:
    """Collects concurrent saves into groups written by ``write_all`` (one transaction
    for many members) or, member by member, by ``write_one``."""

    def __init__(
        self,
        window_seconds: float,
        write_all: Callable[[Sequence[Member]], list[Any]],
        write_one: Callable[[Member], list[Any]],
        culprit: Callable[[BaseException], UUID | None] = lambda _: None,
    ) -> None:
        self._window = window_seconds
        self._culprit = culprit
        self._write_all = write_all
        self._write_one = write_one
        self._lock = threading.Lock()
        self._open: _Group | None = None

    def save(self, member: Member) -> list[Any]:
        """Save ``member`` with whoever else saves now; its recordings, or its error."""
        with self._lock:
            group = self._open
            if group is not None and not group.ids.isdisjoint(member.aggregates):
                blocking, leads = group, False
            else:
                blocking = None
                leads = group is None
                if group is None:
                    group = self._open = _Group()
                group.members.append(member)
                group.ids.update(member.aggregates)
                if len(group.members) >= MAX_MEMBERS:
                    self._open = None
                    group.full.set()
        if blocking is not None:
            blocking.written.wait()
            raise GroupConflict("saved by another command of its group first")
        assert group is not None  # noqa: S101 (for the type checker: set above)
        if leads:
            group.full.wait(self._window)
            with self._lock:
                if self._open is group:
                    self._open = None
            try:
                self._write(group.members)
            finally:
                group.written.set()
        member.done.wait()
        if member.error is not None:
            raise member.error
        return member.recordings

    def _write(self, members: list[Member]) -> None:
        remaining = list(members)
        while len(remaining) > 1:
            try:
                recordings = self._write_all(remaining)
            except IntegrityError as error:
                # Someone else wrote one of these streams first. The member the store
                # names fails alone; when it names none, each is written alone, below.
                stream = self._culprit(error)
                losers = [m for m in remaining if stream is not None and stream in m.aggregates]
                if not losers:
                    break
                _finish(losers, error=error)
                remaining = [m for m in remaining if m not in losers]
                continue
            except BaseException as error:
                _finish(remaining, error=error)
                return
            start = 0
            for member in remaining:
                member.recordings = recordings[start : start + len(member.events)]
                start += len(member.events)
            _finish(remaining)
            return
        for member in remaining:
            try:
                member.recordings = self._write_one(member)
            except BaseException as error:
                member.error = error
            member.done.set()


def _finish(members: list[Member], *, error: BaseException | None = None) -> None:
    for member in members:
        member.error = error
        member.done.set()


__all__ = ["MAX_MEMBERS", "GroupCommit", "GroupConflict", "Member"]
