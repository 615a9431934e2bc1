"""Long-lived aggregates: a card used thousands of times, a session of thousands of places.

A card used 5,000 times, 1 s apart (every use a fresh QR token, issued, verified and
recorded through the application), is loaded cold (no aggregate cache) from a SQLite
file, from its latest sealed snapshot and the events after it (ADR 0014), and, for
comparison, replayed from all its events; a clinic session holding 10,000
appointments is fetched warm (cached: the repository fast-forwards it and copies it on
every ``get``). Baseline in the same run:
bare eventsourcing loading an aggregate with as many events from the same kind of
file, cold. Times are medians of ``--repeat`` calls, in process CPU time and wall time.

The last line is ``card 5000 uses cold X ms, session 10000 appointments warm get Y ms``
(wall medians). Goals: X <= 20, Y <= 0.5.

Usage: python benchmarks/long_lived.py [--uses 5000] [--appointments 10000] [--repeat 20]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from flow import formal_card

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application.commands import UseCard
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.usage import UsageStep
from healthcard.testing.world import Driver, person, phone_account

DOCTOR = Audit(actor="dr-1", channel=Channel.DOCTOR_WORKSTATION, institution="H510100001")


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append((time.perf_counter() - wall) * 1e3)
        cpus.append((time.process_time() - cpu) * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def used_card(app: HealthCardApp, clock: FakeClock, uses: int) -> UUID:
    driver = Driver(app)
    card = driver.register()
    driver.complete_identity(card, person(1))
    account = driver.bind(card, phone_account(1))
    for _ in range(uses):
        clock.advance(seconds=1)
        token = driver.token(card, account)
        app.use_card(UseCard(audit=DOCTOR, token=token, step=UsageStep.DIAGNOSIS))
    return card


def full_session(app: HealthCardApp, appointments: int) -> UUID:
    """A session with ``appointments`` bookings, by formal cards that exist only in
    memory (what is measured is the session's own size, not the cards')."""
    driver = Driver(app)
    session_id = driver.publish(capacity=appointments)
    who = person(2)
    session = app.session(session_id)
    at = app.clock()
    for index in range(appointments):
        card = formal_card(DOCTOR, at, who)
        session.book(uuid4(), card, audit=DOCTOR, at=at)
        if index % 500 == 499:
            app.save(session)
    app.save(session)
    return session_id


class BareThing(Aggregate):
    @event("Created")
    def __init__(self) -> None:
        self.count = 0

    @event("Touched")
    def touch(self, step: str) -> None:
        self.count += 1


def bare_cold(folder: Path, events: int, repeat: int) -> tuple[float, float]:
    app: Application[UUID] = Application(sqlite_env(folder / "bare.sqlite3"))
    thing = BareThing()
    for index in range(events):
        thing.touch(step="01")
        if index % 500 == 499:
            app.save(thing)
    app.save(thing)
    app.repository.cache = None
    result = timed(lambda: app.repository.get(thing.id), repeat)
    app.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uses", type=int, default=5000)
    parser.add_argument("--appointments", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clock = FakeClock()
        app = HealthCardApp(sqlite_env(folder / "events.sqlite3"), clock=clock)
        card = used_card(app, clock, args.uses)
        session = full_session(app, args.appointments)
        app.session(session)  # into the cache
        warm_wall, warm_cpu = timed(lambda: app.session(session), args.repeat * 10)
        app.repository.cache = None
        cold_wall, cold_cpu = timed(lambda: app.card(card), args.repeat)
        snapshots = app.repository.snapshots  # type: ignore[attr-defined]
        latest = snapshots.latest(card) if snapshots is not None else None
        app.repository.snapshots = None  # type: ignore[attr-defined]
        replay_wall, replay_cpu = timed(lambda: app.card(card), args.repeat)
        version = app.card(card).version
        assert len(app.session(session).appointments) == args.appointments
        app.close()
        bare_wall, bare_cpu = bare_cold(folder, args.uses + 4, args.repeat)
    after = version - (latest.version if latest is not None else 0)
    print(
        f"card {args.uses} uses cold: {cold_wall:.1f} ms wall, {cold_cpu:.1f} ms CPU "
        f"(a snapshot {'at v' + str(latest.version) if latest else 'missing'}, then {after} events)"
    )
    print(
        f"the same card replayed from all {version} events (no snapshot): "
        f"{replay_wall:.1f} ms wall, {replay_cpu:.1f} ms CPU "
        f"({replay_cpu / version * 1e3:.1f} µs CPU per event)"
    )
    print(
        f"bare eventsourcing, {args.uses + 4} events cold: {bare_wall:.1f} ms wall, "
        f"{bare_cpu:.1f} ms CPU (baseline)"
    )
    print(
        f"session {args.appointments} appointments warm get: {warm_wall:.3f} ms wall, "
        f"{warm_cpu:.3f} ms CPU"
    )
    print(
        f"card {args.uses} uses cold {cold_wall:.1f} ms, "
        f"session {args.appointments} appointments warm get {warm_wall:.2f} ms"
    )


if __name__ == "__main__":
    main()
