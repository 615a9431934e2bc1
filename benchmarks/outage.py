"""Recovery after PostgreSQL outages: how soon writers get full throughput back.

Two writer processes run the morning's command flow (register, complete identity,
bind, book) on a PostgreSQL database of their own. The database is made unavailable
(``ALLOW_CONNECTIONS false`` and every backend terminated) ``--outages`` times for
``--seconds`` each; after each, the time from the server allowing connections again
until a 0.5 s window reaches 80% of the throughput before the first outage is the
recovery time. Errors that are not typed (``store_unavailable``) are counted.

The last line is ``recovery X s after the server returned (worst of N outages, goal
5 s); throughput before B cmd/s, after A cmd/s; untyped errors U``.

Usage: python benchmarks/outage.py [--outages 2] [--seconds 3] [--writers 2]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import time

from healthcard import HealthCardApp
from healthcard.testing import FakeClock
from healthcard.testing.outage import Writers, rate, recovery_seconds, untyped
from healthcard.testing.postgres import PostgresServer
from healthcard.testing.world import Driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outages", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds after each outage")
    args = parser.parse_args()
    server = PostgresServer()
    with server.database() as name:
        env = server.env("", dbname=name)
        setup = HealthCardApp(env, clock=FakeClock())
        session = Driver(setup).publish(capacity=10_000)
        setup.close()
        writers = Writers(env, session, count=args.writers)
        writers.start()
        time.sleep(3.0)
        recoveries: list[float] = []
        baselines: list[float] = []
        for number in range(args.outages):
            before = time.monotonic()
            baselines.append(rate(writers.collect(), before - 3.0, before))
            server.refuse_connections(name)
            time.sleep(args.seconds)
            server.allow_connections(name)
            back = time.monotonic()
            time.sleep(args.settle)
            took = recovery_seconds(writers.collect(), back, baselines[-1])
            recoveries.append(float("inf") if took is None else took)
            print(
                f"outage {number + 1}: {args.seconds:.1f} s; {baselines[-1]:.0f} cmd/s before, "
                f"80% of it again {recoveries[-1]:.2f} s after the server returned"
            )
        end = time.monotonic()
        reports = writers.stop()
        after = rate(reports, end - args.settle + 1.0, end)
        faults = untyped(reports)
        kinds: dict[str, int] = {}
        for r in reports:
            if r.outcome != "ok":
                kinds[r.outcome] = kinds.get(r.outcome, 0) + 1
        print(f"errors by kind: {kinds}")
        print(
            f"recovery {max(recoveries):.2f} s after the server returned (worst of "
            f"{args.outages} outages, goal 5 s); throughput before {baselines[0]:.0f} cmd/s, "
            f"after {after:.0f} cmd/s; untyped errors {sum(faults.values())}"
        )


if __name__ == "__main__":
    main()
