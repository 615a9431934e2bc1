"""Commands from many threads of one process: the web server's morning.

``--threads`` threads (32) each take their share of ``--cards`` people through
register -> complete identity -> bind -> book, booking into ``--sessions`` shared
sessions (so threads meet on the same session streams). The baseline runs the same
threads, the same flow and the same sessions in the same run on bare eventsourcing,
one save per command, retrying a conflicting booking from a fresh load as healthcard
does. Each side gets a fresh database (a SQLite file, or a PostgreSQL database of its
own). healthcard runs with a group-commit window of ``--window-ms`` (2 ms; 0 is one
transaction per command, as the baseline). Rates are commands per second of wall
time; p99 is healthcard's command latency.

The last line is ``concurrent BACKEND X cmd/s, baseline Y cmd/s, ratio R, p99 P ms``.

Usage: python benchmarks/concurrent.py --backend sqlite|postgres [--threads 32]
       [--cards 1280] [--sessions 16] [--window-ms 2]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from flow import BareAccount, BareApp, BareCard, BareClaim, BareSession, p99, synthetic_people

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application.commands import (
    BindCard,
    CompleteIdentity,
    MakeAppointment,
    PublishSession,
    RegisterCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import HealthCardError
from healthcard.domain.identity import Sex
from healthcard.testing.postgres import PostgresServer

COMMANDS_PER_CARD = 4
DAY = date(2026, 11, 25)
AUDIT = Audit(actor="bench", channel=Channel.APP, institution="H510100001")
Person = tuple[str, str, str]


@contextmanager
def store(backend: str, folder: Path, name: str) -> Iterator[dict[str, str]]:
    """eventsourcing settings of a fresh store for one side."""
    if backend == "sqlite":
        yield sqlite_env(folder / f"{name}.sqlite3")
        return
    server = PostgresServer.from_env()
    with server.database() as dbname:
        env = server.env("", dbname=dbname)
        # Room for every thread: a thread waiting longer than the pool's timeout for a
        # connection would be told store_unavailable.
        env["POSTGRES_POOL_SIZE"] = "8"
        env["POSTGRES_MAX_OVERFLOW"] = "32"
        yield env


def run_threads(
    threads: int, people: list[Person], one: Callable[[int, Person], list[float]]
) -> tuple[float, list[float], int]:
    """Run ``one(index, person)`` over ``people`` split among ``threads`` threads;
    return the wall seconds, every command latency and the number of failed cards."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    start_line = threading.Barrier(threads + 1)

    def work(offset: int) -> None:
        nonlocal failures
        mine: list[float] = []
        failed = 0
        start_line.wait()
        for index in range(offset, len(people), threads):
            try:
                mine += one(index, people[index])
            except HealthCardError:
                failed += 1
        with lock:
            latencies.extend(mine)
            failures += failed

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, latencies, failures


def timed(call: Callable[[], object], into: list[float]) -> None:
    started = time.perf_counter()
    call()
    into.append(time.perf_counter() - started)


def run_healthcard(
    env: dict[str, str], people: list[Person], args: argparse.Namespace
) -> tuple[float, list[float], int]:
    app = HealthCardApp(
        env,
        clock=FakeClock(datetime(2026, 11, 25, 7, 0, tzinfo=CHINA_TZ)),
        config=HealthCardConfig(group_commit_ms=args.window_ms),
    )
    sessions = [
        app.publish_session(
            PublishSession(
                audit=AUDIT,
                department="internal_medicine",
                doctor=f"D{n:04d}",
                day=DAY,
                period=Period.AFTERNOON,
                capacity=10_000,
            )
        )
        for n in range(args.sessions)
    ]

    def one(index: int, person: Person) -> list[float]:
        name, phone, number = person
        spent: list[float] = []
        card_id: list[UUID] = []
        timed(lambda: card_id.append(app.register(RegisterCard(audit=AUDIT, name=name))), spent)
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        identity = CompleteIdentity(
            audit=AUDIT,
            card_id=card_id[0],
            document={"type": "01", "number": number},
            name=name,
            sex=Sex.MALE if int(number[16]) % 2 else Sex.FEMALE,
            birth_date=born,
        )
        timed(lambda: app.complete_identity(identity), spent)
        account = {"kind": "phone", "identifier": phone}
        bind = BindCard(audit=AUDIT, card_id=card_id[0], account=account)
        timed(lambda: app.bind(bind), spent)
        book = MakeAppointment(
            audit=AUDIT, session_id=sessions[index % len(sessions)], card_id=card_id[0]
        )
        timed(lambda: app.make_appointment(book), spent)
        return spent

    try:
        return run_threads(args.threads, people, one)
    finally:
        app.close()


def run_bare(
    env: dict[str, str], people: list[Person], args: argparse.Namespace
) -> tuple[float, list[float], int]:
    app = BareApp(env)
    sessions: list[UUID] = []
    for _ in range(args.sessions):
        session = BareSession(capacity=10_000)
        app.save(session)
        sessions.append(session.id)

    def book(session_id: UUID, card_id: UUID) -> None:
        for _ in range(100):
            session = app.repository.get(session_id)
            session.book(card_id)
            try:
                app.save(session)
                return
            except IntegrityError:
                continue  # another thread booked first: load again
        raise RuntimeError("bare booking: too many conflicts")

    def one(index: int, person: Person) -> list[float]:
        name, phone, number = person
        spent: list[float] = []
        card = BareCard(name=name, phone=phone)
        timed(lambda: app.save(card), spent)

        def complete() -> None:
            loaded = app.repository.get(card.id)
            loaded.complete(document=number, birth_date=number[6:14])
            app.save(loaded, BareClaim(card_id=card.id))

        def bind() -> None:
            loaded = app.repository.get(card.id)
            account = BareAccount(phone=phone)
            loaded.bind(account.id)
            account.add(card.id)
            app.save(loaded, account)

        timed(complete, spent)
        timed(bind, spent)
        timed(lambda: book(sessions[index % len(sessions)], card.id), spent)
        return spent

    try:
        return run_threads(args.threads, people, one)
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--cards", type=int, default=1280)
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument(
        "--window-ms", type=float, default=2.0, help="healthcard's group-commit window (0: off)"
    )
    args = parser.parse_args()
    people = synthetic_people(args.cards)
    commands = args.cards * COMMANDS_PER_CARD
    with tempfile.TemporaryDirectory() as tmp:
        with store(args.backend, Path(tmp), "bare") as env:
            bare_wall, bare_latencies, bare_failed = run_bare(env, people, args)
        with store(args.backend, Path(tmp), "healthcard") as env:
            wall, latencies, failed = run_healthcard(env, people, args)
    hc_rate, bare_rate = commands / wall, commands / bare_wall
    print(
        f"bare: {bare_rate:,.0f} cmd/s, p99 {p99(bare_latencies):.1f} ms, "
        f"{bare_failed} cards failed"
    )
    print(f"healthcard: {hc_rate:,.0f} cmd/s, p99 {p99(latencies):.1f} ms, {failed} cards failed")
    print(
        f"concurrent {args.backend} {hc_rate:,.0f} cmd/s, baseline {bare_rate:,.0f} cmd/s, "
        f"ratio {hc_rate / bare_rate:.2f}, p99 {p99(latencies):.0f} ms"
    )


if __name__ == "__main__":
    main()
