"""What one SQLite file takes: N app processes writing to it at once, latency and errors.

SQLite lets one connection write at a time. Each healthcard command is a few short
write transactions on the one file (the key store's new keys and locators, then the
events), so N app processes queue on the file's write lock, and a caller waits
longer as N grows. The lock is waited for up to the busy timeout, 5 s on both of the
library's connections (eventsourcing's ``SQLITE_LOCK_TIMEOUT``, default 5 s, and the
key store's ``BUSY_TIMEOUT_MS``); a transaction that waits longer fails.

For each count N of ``--processes`` (one phase each, in order, all on ONE file in a
fresh temporary folder, which grows from phase to phase): N spawned writer
processes, each with its own ``HealthCardApp(sqlite_env(path))``, run the morning's
flow for ``--seconds`` after all of them are up and warm (one unmeasured person
each): register, complete identity with a unique resident ID, bind a unique phone,
book into one of ``--sessions`` published sessions (shared by all writers, so
bookings also meet optimistic-concurrency conflicts, retried inside the command as
in production). Every command is timed as its caller sees it (``perf_counter``
around the call, conflict retries included) and its outcome recorded: ``ok``, a
``HealthCardError`` code (``store_unavailable (event store)`` is what a SQLite busy
timeout on the event store becomes), or an exception the library did not type
(module, class and message, e.g. ``sqlite3.OperationalError: database is locked``).
``--worker-with N`` adds a phase of N writers with a projection worker beside them
(``python -m healthcard.readmodels.runner --db FILE``, started as the window opens,
so its start-up and its catch-up of the earlier phases' events fall inside it; its
lag is read as the window closes); 0 skips it.

``--probe-busy`` then shows what a caller sees past the limit, on the same file: a
connection of this process holds the write lock (``BEGIN IMMEDIATE``) for the longer
of the two waits and 1.5 s more while one command of each step runs (and one query), and the
script prints how long each took and what it raised.

Per phase: commands/s (acknowledged commands ended inside the window, all writers)
and its ratio to the first phase's, p50, p99 and max latency of every command, p99
by step, p99 as a share of the busy timeout, errors by kind, and the load average
before and after (the machine is shared: other work moves these figures). The
threshold this script calls the limit: the first phase whose p99 reaches half the
busy timeout or that has any error. The last line is ``sqlite processes 1: p99 X
ms, 2: p99 Y ms, ..., 4+worker: p99 V ms (busy timeout 5000 ms); errors E`` (E:
failed commands of all phases).

Usage: python benchmarks/sqlite_processes.py [--processes 1,2,4,8] [--seconds 10]
       [--sessions 16] [--worker-with 4] [--probe-busy]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import logging
import math
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLITE3_DEFAULT_LOCK_TIMEOUT

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.adapters.privacy.sql_keystore import BUSY_TIMEOUT_MS
from healthcard.domain.errors import HealthCardError, StoreUnavailable
from healthcard.testing.outage import resident
from healthcard.testing.world import Driver, phone_account

OK = "ok"
STEPS = ("register", "identity", "bind", "book")
MORNING = "2026-11-25T07:00+08:00"
PEOPLE_PER_WRITER = 400_000
"""Serials reserved per writer: ``resident(serial)`` is distinct below 20M serials."""
SLOTS = 20_000_000 // PEOPLE_PER_WRITER - 1
"""Writers in all phases together; the last slot of serials is the probe's."""
HALF = 0.5
"""p99 at this share of the busy timeout counts as the limit (see the docstring)."""

Record = tuple[str, float, float, str]
"""One command: step, end (monotonic), latency in seconds, outcome."""


def outcome_of(error: BaseException) -> str:
    """How a failed command reads in the report: the typed code, or what escaped."""
    if isinstance(error, StoreUnavailable):
        return f"{error.code} ({error.store})"
    if isinstance(error, HealthCardError):
        return error.code
    kind = type(error)
    return f"{kind.__module__}.{kind.__name__}: {str(error)[:60]}"


def _writer(path: str, base: int, sessions: list[str], ready: Any, orders: Any, out: Any) -> None:
    """Child process: warm up on one person, say so, then run the flow in the window."""
    logging.getLogger("healthcard").setLevel(logging.ERROR)  # no test-mode warning
    app = HealthCardApp(sqlite_env(path), clock=FakeClock(datetime.fromisoformat(MORNING)))
    driver = Driver(app)
    session_ids = [UUID(s) for s in sessions]
    records: list[Record] = []

    def timed(step: str, action: Callable[[], Any], keep: bool) -> Any:
        started = time.perf_counter()
        try:
            result = action()
            outcome = OK
        except Exception as error:  # the report counts every kind
            result, outcome = None, outcome_of(error)
        ended = time.perf_counter()
        if keep:
            records.append((step, time.monotonic(), ended - started, outcome))
        return result if outcome == OK else None

    def one_person(serial: int, *, keep: bool = True) -> None:
        card = timed("register", driver.register, keep)
        if card is None:
            time.sleep(0.02)
            return
        who = resident(serial)
        if timed("identity", lambda: driver.complete_identity(card, who), keep) is None:
            return
        timed("bind", lambda: driver.bind(card, phone_account(serial)), keep)
        session = session_ids[serial % len(session_ids)]
        timed("book", lambda: driver.book(session, card), keep)

    try:
        serial = base
        one_person(serial, keep=False)
        ready.put(os.getpid())
        start, end = orders.get(timeout=300)
        while time.monotonic() < start:
            time.sleep(0.001)
        while time.monotonic() < end:
            serial += 1
            one_person(serial)
    finally:
        app.close()
        out.put(records)


@dataclass
class Phase:
    label: str
    writers: int
    seconds: float
    records: list[Record]
    start: float
    load_before: str
    load_after: str = ""
    worker_lag: str = ""
    latencies: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.latencies = sorted(r[2] for r in self.records)

    @property
    def rate(self) -> float:
        end = self.start + self.seconds
        return sum(1 for r in self.records if r[3] == OK and r[1] <= end) / self.seconds

    def errors(self) -> Counter[str]:
        return Counter(r[3] for r in self.records if r[3] != OK)

    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run_phase(
    path: Path,
    label: str,
    writers: int,
    first_slot: int,
    args: argparse.Namespace,
    sessions: list[str],
) -> Phase:
    context = multiprocessing.get_context("spawn")
    ready, orders, out = context.Queue(), context.Queue(), context.Queue()
    processes = [
        context.Process(
            target=_writer,
            args=(
                str(path),
                (first_slot + i) * PEOPLE_PER_WRITER,
                sessions,
                ready,
                orders,
                out,
            ),
            daemon=True,
        )
        for i in range(writers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)
    load_before = load_average()
    start = time.monotonic() + 0.2
    for _ in processes:
        orders.put((start, start + args.seconds))
    worker = None
    if label.endswith("+worker"):
        while time.monotonic() < start:
            time.sleep(0.001)
        worker = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "-m", "healthcard.readmodels.runner", "--db", str(path)],
            stderr=subprocess.DEVNULL,
        )
    records: list[Record] = []
    for _ in processes:
        records.extend(out.get(timeout=args.seconds + 300))
    for process in processes:
        process.join(timeout=30)
    phase = Phase(label, writers, args.seconds, records, start, load_before)
    if worker is not None:
        phase.worker_lag = worker_lag(path)
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    phase.load_after = load_average()
    return phase


def probe_busy(path: Path) -> list[str]:
    """One command of each step, and a query, while another connection holds the
    file's write lock for longer than the busy timeout: how long, and what it raised."""
    app = HealthCardApp(sqlite_env(path), clock=FakeClock(datetime.fromisoformat(MORNING)))
    driver = Driver(app)
    serial = SLOTS * PEOPLE_PER_WRITER
    session = driver.publish(capacity=10, doctor="busy-probe")
    temporary = driver.register()
    formal = driver.register()
    driver.complete_identity(formal, resident(serial))
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("register", driver.register),
        ("identity", lambda: driver.complete_identity(temporary, resident(serial + 1))),
        ("bind", lambda: driver.bind(formal, phone_account(serial + 2))),
        ("book", lambda: driver.book(session, formal)),
        ("query (card)", lambda: app.card(formal)),
    ]
    hold = probe_hold_seconds()
    lines = []
    try:
        for step, action in steps:
            locked = threading.Event()
            holder = threading.Thread(target=_hold_write_lock, args=(path, hold, locked))
            holder.start()
            locked.wait(timeout=30)
            started = time.perf_counter()
            try:
                action()
                outcome = OK
            except Exception as error:  # what the caller sees is the point
                outcome = outcome_of(error)
            lines.append(f"  {step}: {time.perf_counter() - started:.2f} s -> {outcome}")
            holder.join()
    finally:
        app.close()
    return lines


def _hold_write_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def worker_lag(path: Path) -> str:
    """The read models' position against the log's head, as the window closes."""
    from healthcard.readmodels import open_projections, status

    logging.getLogger("healthcard").setLevel(logging.ERROR)
    with open_projections(sqlite_env(path)) as projections:
        state = status(projections.app, projections.store)
    return f"worker at {state.position:,} of {state.head:,} (lag {state.lag:,})"


def report(phase: Phase, first_rate: float) -> None:
    ordered = phase.latencies
    by_step = {s: sorted(r[2] for r in phase.records if r[0] == s) for s in STEPS}
    timeout_ms = busy_timeout_ms()
    kinds = dict(phase.errors())
    print(
        f"{phase.label} processes: {phase.rate:,.0f} cmd/s ({phase.rate / first_rate:.2f}x the "
        f"first phase), {len(ordered):,} commands; p50 {percentile(ordered, 0.5) * 1000:.1f} ms, "
        f"p99 {phase.p99_ms():.1f} ms ({phase.p99_ms() / timeout_ms:.1%} of the busy timeout), "
        f"max {(ordered[-1] if ordered else 0) * 1000:.0f} ms; "
        f"errors {sum(kinds.values())} {kinds if kinds else ''}".rstrip()
    )
    steps = ", ".join(f"{s} {percentile(v, 0.99) * 1000:.1f}" for s, v in by_step.items())
    extra = f"; {phase.worker_lag}" if phase.worker_lag else ""
    print(
        f"  p99 by step (ms): {steps}; load {phase.load_before} -> {phase.load_after}{extra}",
        flush=True,
    )


def lock_waits_ms() -> tuple[int, int]:
    """How long each connection waits for the write lock: eventsourcing's
    (``SQLITE_LOCK_TIMEOUT`` seconds, 5 unless set) and the key store's (5 s, fixed)."""
    seconds = int(os.environ.get("SQLITE_LOCK_TIMEOUT") or SQLITE3_DEFAULT_LOCK_TIMEOUT)
    return seconds * 1000, BUSY_TIMEOUT_MS


def busy_timeout_ms() -> int:
    """The shorter of the two waits: past it, some command fails."""
    return min(lock_waits_ms())


def probe_hold_seconds() -> float:
    """Longer than either wait, so that both give up."""
    return max(lock_waits_ms()) / 1000 + 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,2,4,8", help="writer counts, one phase each")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per phase")
    parser.add_argument("--sessions", type=int, default=16, help="sessions the writers book into")
    parser.add_argument(
        "--worker-with",
        type=int,
        default=4,
        help="writers of one more phase with a projection worker beside them (0: none)",
    )
    parser.add_argument(
        "--probe-busy",
        action="store_true",
        help="then hold the write lock past the busy timeout: what each step's caller sees",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",") if n.strip()]
    phases = [(str(n), n) for n in counts]
    if args.worker_with > 0:
        phases.append((f"{args.worker_with}+worker", args.worker_with))
    if sum(n for _, n in phases) > SLOTS:
        parser.error(f"too many writers in all for distinct resident IDs (at most {SLOTS})")
    print(
        f"load {load_average()}; {os.cpu_count()} cores; busy timeout {busy_timeout_ms()} ms; "
        f"phases {', '.join(label for label, _ in phases)} of {args.seconds:g} s each",
        flush=True,
    )
    results: list[Phase] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "one.sqlite3"
        logging.getLogger("healthcard").setLevel(logging.ERROR)
        setup = HealthCardApp(sqlite_env(path), clock=FakeClock(datetime.fromisoformat(MORNING)))
        driver = Driver(setup)
        sessions = [str(driver.publish(capacity=10_000)) for _ in range(args.sessions)]
        setup.close()
        slot = 0
        for label, writers in phases:
            phase = run_phase(path, label, writers, slot, args, sessions)
            slot += writers
            results.append(phase)
            report(phase, results[0].rate or 1.0)
        if args.probe_busy:
            print(f"write lock held {probe_hold_seconds():g} s by another connection:")
            for line in probe_busy(path):
                print(line, flush=True)
        size = sum(p.stat().st_size for p in Path(folder).glob("one.*"))
    limit = next((p for p in results if p.errors() or p.p99_ms() >= HALF * busy_timeout_ms()), None)
    print(f"files at the end: {size / 1e6:.1f} MB; load {load_average()}")
    if limit is None:
        print(f"limit: not reached (p99 under {HALF:.0%} of the busy timeout, no error)")
    else:
        print(
            f"limit: reached at {limit.label} processes (p99 {limit.p99_ms():.0f} ms, "
            f"errors {sum(limit.errors().values())})"
        )
    figures = ", ".join(f"{p.label}: p99 {p.p99_ms():.0f} ms" for p in results)
    errors = sum(sum(p.errors().values()) for p in results)
    print(f"sqlite processes {figures} (busy timeout {busy_timeout_ms()} ms); errors {errors}")


if __name__ == "__main__":
    main()
