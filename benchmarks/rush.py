"""The morning rush: places released at once, thousands booking the same sessions.

PostgreSQL. ``--sessions`` sessions (20) of ``--places`` places (30) are published;
``--cards`` distinct formal cards (3,000) each try once to book one of them (chosen at
random, seeded), from ``--processes`` processes (4) of ``--threads`` threads (16), all
released together. healthcard runs as configured by default (bookings of one session
from one process's threads decided in turn and saved together, ADR 0015) with its
group-commit window (``--window-ms``, 2 ms); the baseline is the same rush, same
processes and threads, with both off (one load and one save per command, retried on
conflict), on a database of its own, in the same run.

Measured: B, the places booked (read back from the log: must be exactly sessions x
places, every other attempt ``session_full``); K, the conflicts that reached callers
(``concurrency_conflict``: retries exhausted); p99 of an attempt's latency; and
attempts answered per second (from the release to the last answer).

The last line is ``rush booked B/600, conflicts K, p99 P ms, X bookings/s, baseline
Y/s, ratio R``.

Usage: python benchmarks/rush.py [--processes 4] [--threads 16] [--cards 3000]
       [--sessions 20] [--places 30] [--window-ms 2]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import multiprocessing
import random
import statistics
import threading
import time
from collections import Counter
from typing import Any
from uuid import UUID

from flow import formal_card, p99

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.application.commands import MakeAppointment, PublishSession
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.clinic_values import Period
from healthcard.testing.postgres import PostgresServer
from healthcard.testing.races import outcome
from healthcard.testing.world import person

AUDIT = Audit(actor="rush", channel=Channel.MINI_PROGRAM, institution="H510100001")


def prepare(env: dict[str, str], args: argparse.Namespace) -> tuple[list[UUID], list[UUID]]:
    """Publish the sessions and save the formal cards (in batches, through the domain:
    the rush is about booking, not about registering 3,000 people first)."""
    app = HealthCardApp(env, clock=FakeClock())
    try:
        day = app.clock().date()
        sessions = [
            app.publish_session(
                PublishSession(
                    audit=AUDIT,
                    department="internal_medicine",
                    doctor=f"D{n:03d}",
                    day=day,
                    period=Period.MORNING,
                    capacity=args.places,
                )
            )
            for n in range(args.sessions)
        ]
        cards: list[UUID] = []
        batch: list[HealthCard] = []
        for serial in range(args.cards):
            card = formal_card(AUDIT, app.clock(), person(serial))
            batch.append(card)
            cards.append(card.id)
            if len(batch) == 200:
                app.save(*batch)
                batch = []
        app.save(*batch)
        return sessions, cards
    finally:
        app.close()


def rush_process(
    env: dict[str, str],
    config: HealthCardConfig,
    threads: int,
    attempts: list[tuple[UUID, UUID]],
    release: Any,
    results: Any,
) -> None:
    """One app server: ``threads`` threads booking ``attempts`` (session, card)."""
    app = HealthCardApp(env, clock=FakeClock(), config=config)
    answers: list[tuple[str, float]] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        mine = []
        for session_id, card_id in attempts[offset::threads]:
            command = MakeAppointment(audit=AUDIT, session_id=session_id, card_id=card_id)
            started = time.perf_counter()
            code = outcome(lambda c=command: app.make_appointment(c))
            mine.append((code, time.perf_counter() - started))
        with lock:
            answers.extend(mine)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    release.wait()
    cpu = time.process_time()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put((answers, time.perf_counter(), time.process_time() - cpu))
    app.close()


def run_rush(
    server: PostgresServer, args: argparse.Namespace, config: HealthCardConfig
) -> tuple[int, Counter[str], list[float], float]:
    with server.database() as dbname:
        env = server.env("", dbname=dbname)
        env["POSTGRES_POOL_SIZE"] = "4"
        env["POSTGRES_MAX_OVERFLOW"] = str(args.threads)
        sessions, cards = prepare(env, args)
        chooser = random.Random(7)
        attempts = [(chooser.choice(sessions), card) for card in cards]
        context = multiprocessing.get_context("spawn")
        release = context.Barrier(args.processes + 1)
        results = context.Queue()
        workers = [
            context.Process(
                target=rush_process,
                args=(
                    env,
                    config,
                    args.threads,
                    attempts[n :: args.processes],
                    release,
                    results,
                ),
            )
            for n in range(args.processes)
        ]
        for worker in workers:
            worker.start()
        release.wait()
        started = time.perf_counter()
        answers: list[tuple[str, float]] = []
        ended = started
        cpu = 0.0
        for _ in workers:
            mine, finished, used = results.get(timeout=600)
            answers += mine
            ended = max(ended, finished)
            cpu += used
        for worker in workers:
            worker.join(timeout=60)
        reader = HealthCardApp(env, clock=FakeClock())
        try:
            booked = sum(reader.session(s).booked for s in sessions)
        finally:
            reader.close()
    codes = Counter(code for code, _ in answers)
    print(f"  {len(answers)} attempts, {cpu / len(answers) * 1e3:.2f} ms CPU each (all processes)")
    return booked, codes, [latency for _, latency in answers], ended - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--cards", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--places", type=int, default=30)
    parser.add_argument("--window-ms", type=float, default=2.0)
    args = parser.parse_args()
    server = PostgresServer.from_env()
    places = args.sessions * args.places
    baseline = HealthCardConfig(group_commit_ms=0, combine_session_commands=False)
    healthcard = HealthCardConfig(group_commit_ms=args.window_ms)
    base_booked, base_codes, base_latencies, base_wall = run_rush(server, args, baseline)
    booked, codes, latencies, wall = run_rush(server, args, healthcard)
    for name, b, c, lat in (
        ("baseline (one save per command)", base_booked, base_codes, base_latencies),
        (f"healthcard (combined, window {args.window_ms} ms)", booked, codes, latencies),
    ):
        cuts = statistics.quantiles(lat, n=100)
        print(
            f"{name}: booked {b}/{places}, answers {dict(c)}, latency p50 {cuts[49] * 1e3:.0f} "
            f"p90 {cuts[89] * 1e3:.0f} p99 {p99(lat):.0f} max {max(lat) * 1e3:.0f} ms"
        )
    rate, base_rate = args.cards / wall, args.cards / base_wall
    print(
        f"rush booked {booked}/{places}, conflicts {codes['concurrency_conflict']}, "
        f"p99 {p99(latencies):.0f} ms, {rate:,.0f} bookings/s, baseline {base_rate:,.0f}/s, "
        f"ratio {rate / base_rate:.2f}"
    )


if __name__ == "__main__":
    main()
