"""Who builds a version, and whether that builder is still there.

Why: a rebuild killed outright (SIGKILL, OOM killer, a lost container) runs no
clean-up, so its version stays marked ``building`` with all its tables. To tell
such a leftover from a rebuild that is still running, every build records its
builder (host name, process id, and the process's identity on that host), and each
of its transactions refreshes a heartbeat (a build commits every
``rebuild.TRANSACTION_EVENTS`` folded events, a second or so). A reader then decides:

- **same host** (same host name, same boot of the same kernel, same PID namespace):
  ask the kernel. The builder is gone when its process no longer exists, is a
  zombie, or is another process that reuses the id (its start time differs).
- **another host** (or a host whose kernel cannot be asked): the heartbeat decides;
  a builder whose heartbeat is older than ``stale_after`` seconds
  (:data:`STALE_AFTER_SECONDS` by default) is gone.

Heartbeats are written and judged with the database's own clock, so clock skew
between hosts never makes a running build look dead.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

STALE_AFTER_SECONDS: Final = 120.0
"""A build on another host whose heartbeat is older than this is taken as gone. Far
above the longest transaction of a rebuild (the last one also builds the query
indexes), so a slow build is not mistaken for a dead one."""

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Builder:
    """The process that builds a version."""

    host: str
    pid: int
    start: str | None
    """``<boot id>/<PID namespace>/<start time>`` of the process on its host (Linux),
    or None where the kernel does not say: a process id is reused, this is not."""

    @property
    def machine(self) -> str | None:
        """The host's boot and PID namespace part of ``start`` (None if unknown)."""
        return None if self.start is None else self.start.rsplit("/", 1)[0]


@cache
def _machine() -> str | None:
    """This host's ``<boot id>/<PID namespace>``, or None off Linux."""
    try:
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self" / "ns" / "pid")
    except OSError:
        return None
    return f"{boot}/{namespace}"


def process_start(pid: int) -> str | None:
    """The identity of the live process ``pid`` on this host, or None when there is
    none (no such process, a zombie, or a kernel that does not tell)."""
    machine = _machine()
    if machine is None or pid <= 0:
        return None
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Fields after the command name (in parentheses, which may hold anything):
    # state is the 3rd field of the line, start time the 22nd.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return f"{machine}/{fields[19]}"


def this_builder() -> Builder:
    """The builder record of this process."""
    pid = os.getpid()
    return Builder(socket.gethostname(), pid, process_start(pid))


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def builder_gone(builder: Builder | None, heartbeat_age: float | None, stale_after: float) -> bool:
    """Whether the build this builder runs can no longer finish (see the module doc).

    ``heartbeat_age``: seconds since its last heartbeat, by the database's clock
    (None: never beat, as for builds recorded by a release without heartbeats, where
    the version's creation time stands in).
    """
    heartbeat_old = heartbeat_age is None or heartbeat_age > stale_after
    if builder is None:
        return heartbeat_old
    here = this_builder()
    if builder.host == here.host and builder.machine is not None:
        if builder.machine == here.machine:
            return process_start(builder.pid) != builder.start
        return heartbeat_old  # same name, other boot or container: only time tells
    if builder.host == here.host and here.machine is None:
        return not _pid_exists(builder.pid) or heartbeat_old
    return heartbeat_old


__all__ = [
    "STALE_AFTER_SECONDS",
    "Builder",
    "builder_gone",
    "process_start",
    "this_builder",
]
