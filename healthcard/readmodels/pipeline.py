"""Run an iterator one step ahead in a thread: reading the log overlaps writing views.

Why it helps under the GIL: a large share of both sides is SQLite's own C code
(stepping through the event table, writing B-tree pages, the commit), which runs
without the GIL, so the next batch is read while the current one is written.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _Done:
    pass


_DONE = _Done()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetched(Generic[T]):
    """Iterate ``source`` in a worker thread, at most ``depth`` items ahead.

    Use as a context manager: leaving early stops the worker after its current item.
    An exception in ``source`` is raised in the consuming thread.
    """

    def __init__(self, source: Iterator[T], depth: int = 1) -> None:
        self._source = source
        self._queue: queue.Queue[T | _Done | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="views-read-ahead", daemon=True)

    def _run(self) -> None:
        try:
            for item in self._source:
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put(_DONE)
        except BaseException as error:  # handed to the consumer
            self._queue.put(_Failed(error))

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._items()

    def _items(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)  # unblock a worker waiting to put
        self._thread.join()
