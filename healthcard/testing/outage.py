"""Writers running through database outages: what they were told, and when.

Why in the kit: that a store "recovers" means something only when measured from the
outside. Writer processes run the command flow a hospital runs all morning (register,
complete identity, bind the phone, book), report every outcome with its time, and the
caller makes real outages of the writers' own PostgreSQL database
(:meth:`PostgresServer.refuse_connections`: no new connections, open ones terminated).
From the reports: errors by type (typed ``store_unavailable`` during an outage, never a
driver's exception), throughput before and after, how long recovery took, and which
acknowledged writes must be in the log.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from healthcard.adapters.clock import FakeClock
from healthcard.application import HealthCardApp
from healthcard.domain.errors import HealthCardError
from healthcard.domain.identity import Sex
from healthcard.testing.races import RaceFailed
from healthcard.testing.strategies import Person
from healthcard.testing.world import Driver, phone_account, resident_id

OK = "ok"


@dataclass(frozen=True, slots=True)
class Report:
    """One command's outcome: when it ended (monotonic), what it was, what it said."""

    at: float
    step: str
    outcome: str
    """``ok``, a ``HealthCardError`` code, or ``untyped:<exception type>``."""
    card_id: str | None = None
    writer: int = 0


def _writer(index: int, env: dict[str, str], session_id: str, stop: Any, reports: Any) -> None:
    """Child process: run the morning's flow until told to stop, reporting each step."""
    app = HealthCardApp(env, clock=FakeClock(datetime.fromisoformat("2026-11-25T07:00+08:00")))
    driver = Driver(app)
    serial = index * 1_000_000

    def attempt(step: str, action: Any, card: UUID | None = None) -> Any:
        try:
            result = action()
        except HealthCardError as error:
            reports.put(Report(time.monotonic(), step, error.code, _text(card), index))
            return None
        except Exception as error:  # the faults this kit exists to catch
            what = f"untyped:{type(error).__name__}"
            reports.put(Report(time.monotonic(), step, what, None, index))
            return None
        reports.put(Report(time.monotonic(), step, OK, _text(card if card else result), index))
        return result if result is not None else True

    def one_person(serial: int) -> None:
        card = attempt("register", driver.register)
        if card is None:
            time.sleep(0.02)
            return
        if attempt("identity", lambda: driver.complete_identity(card, resident(serial)), card):
            attempt("bind", lambda: driver.bind(card, phone_account(serial)), card)
            attempt("book", lambda: driver.book(UUID(session_id), card), card)

    try:
        while not stop.is_set():
            serial += 1
            one_person(serial)
    finally:
        app.close()


def resident(serial: int) -> Person:
    """A synthetic person whose resident ID is distinct for each serial below 20M."""
    order = (serial // 20_000) % 1000
    born = date(1950, 1, 1) + timedelta(days=serial % 20_000)
    sex = Sex.MALE if order % 2 else Sex.FEMALE
    return Person(document=resident_id(born, order), name="王芳", sex=sex, birth_date=born)


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, UUID) else None


@dataclass
class Writers:
    """Writer processes on ``env`` booking into ``session_id``; start, then collect."""

    env: Mapping[str, str]
    session_id: UUID
    count: int = 2
    reports: list[Report] = field(default_factory=list)

    def __post_init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._queue: Any = context.Queue()
        self._processes = [
            context.Process(
                target=_writer,
                args=(i, dict(self.env), str(self.session_id), self._stop, self._queue),
                daemon=True,
            )
            for i in range(self.count)
        ]

    def start(self, *, warm_up: float = 20.0) -> None:
        """Start the writers and wait until each has acknowledged a command."""
        for process in self._processes:
            process.start()
        deadline = time.monotonic() + warm_up
        while sum(1 for r in self.collect() if r.outcome == OK) < self.count:
            if time.monotonic() > deadline:
                raise RaceFailed("the writers did not get going")
            time.sleep(0.1)

    def collect(self) -> list[Report]:
        """Every report so far (the list grows as reports arrive)."""
        while True:
            try:
                self.reports.append(self._queue.get_nowait())
            except queue.Empty:
                return self.reports

    def stop(self, *, timeout: float = 30.0) -> list[Report]:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for process in self._processes:
            while process.is_alive() and time.monotonic() < deadline:
                self.collect()
                process.join(timeout=0.1)
            if process.is_alive():
                process.kill()
        time.sleep(0.2)
        return self.collect()


def rate(reports: list[Report], start: float, end: float) -> float:
    """Acknowledged commands per second between ``start`` and ``end``."""
    done = sum(1 for r in reports if r.outcome == OK and start <= r.at < end)
    return done / max(end - start, 1e-9)


def recovery_seconds(
    reports: list[Report], back_at: float, baseline: float, *, window: float = 0.5
) -> float | None:
    """Seconds from ``back_at`` (the server allows connections again) until a window
    of ``window`` seconds reaches 80% of ``baseline`` throughput; None if never."""
    acknowledged = sorted(r.at for r in reports if r.outcome == OK and r.at >= back_at)
    for index, first in enumerate(acknowledged):
        end = first + window
        count = sum(1 for at in acknowledged[index:] if at < end)
        if count / window >= 0.8 * baseline:
            return first - back_at
    return None


def untyped(reports: list[Report], since: float = 0.0) -> Counter[str]:
    """Outcomes that were not a result nor a typed refusal, by exception type."""
    return Counter(r.outcome for r in reports if r.outcome.startswith("untyped:") and r.at >= since)


def acknowledged_cards(reports: list[Report]) -> set[UUID]:
    """Cards whose registration the writers were told succeeded."""
    return {
        UUID(r.card_id) for r in reports if r.step == "register" and r.outcome == OK and r.card_id
    }


__all__ = [
    "OK",
    "Report",
    "Writers",
    "acknowledged_cards",
    "rate",
    "recovery_seconds",
    "untyped",
]
