"""The one progress bar of the ``healthcard`` command: transient, on stderr.

Why one helper: every long command (the demo's day, reading the whole log for
history, export and stats, catching up and rebuilding read models) shows the same
bar, on stderr so that ``--json`` on stdout stays clean, and leaves nothing behind
when done. Work is counted in steps (:meth:`Ticker.advance`) or as a position in
the log (:meth:`Ticker.reach`).

Only on a terminal: stderr sent to a file or a pipe (a script, a cron job) gets no
bar, since there a bar is noise, and rich would leave an empty line where it was,
before the one line of an error a script reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Ticker:
    """Moves one bar; with no bar (disabled) every call does nothing."""

    def __init__(self, bar: Progress | None = None, task: TaskID | None = None) -> None:
        self._bar = bar
        self._task = task

    def advance(self, steps: int = 1, *, phase: str | None = None) -> None:
        """``steps`` more done (and the phase now under way, if it changed)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=steps, description=phase)

    def reach(self, position: int, total: int | None = None) -> None:
        """The work has reached ``position`` (of ``total``, when it moves)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=position, total=total)

    def phase(self, phase: str, steps: int) -> None:
        """Callback form of :meth:`advance`: ``(phase, steps)`` (the demo's)."""
        self.advance(steps, phase=phase)


@contextmanager
def progress(
    label: str, *, total: int | None = None, enabled: bool = True, console: Console | None = None
) -> Iterator[Ticker]:
    """A transient bar on stderr (or ``console``) while the block runs; a no-op ticker
    when disabled or when that is not a terminal."""
    shown = console if console is not None else Console(stderr=True)
    if not enabled or not shown.is_terminal:
        yield Ticker()
        return
    columns = (
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=shown, transient=True) as bar:
        yield Ticker(bar, bar.add_task(label, total=total))


__all__ = ["Ticker", "progress"]
