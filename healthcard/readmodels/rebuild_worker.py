"""A blue/green rebuild as a process of its own: ``python -m healthcard.readmodels.rebuild_worker``.

Why a module to run: a rebuild of a large log runs for minutes, best under a process
manager or a scheduler rather than inside an app server; ``--db events.sqlite3`` for
SQLite, PostgreSQL from the ``POSTGRES_*`` variables (as the worker,
:mod:`healthcard.readmodels.runner`). ``--batch-size`` and ``--transaction-events``
bound its memory and its transactions (see :func:`~healthcard.readmodels.rebuild.rebuild`);
it prints the result as one JSON line. Killed, it leaves a stale version behind,
which the next rebuild or ``healthcard projections gc`` drops.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from healthcard.adapters.persistence import local_sqlite_env
from healthcard.readmodels.connect import open_projections
from healthcard.readmodels.reader_process import READERS
from healthcard.readmodels.rebuild import REBUILD_BATCH, TRANSACTION_EVENTS, rebuild


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild the views from the whole log, swap the new version in, print the result."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--db", help="SQLite event store (default: eventsourcing variables)")
    parser.add_argument("--views", help="views SQLite file (default: beside --db)")
    parser.add_argument("--batch-size", type=_positive, default=REBUILD_BATCH)
    parser.add_argument("--transaction-events", type=_positive, default=TRANSACTION_EVENTS)
    parser.add_argument(
        "--readers", type=int, default=READERS, help="reader processes (0: a thread)"
    )
    parser.add_argument("--keep-old", action="store_true", help="keep the replaced version")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds to wait after each transaction"
    )
    args = parser.parse_args(argv)
    if args.db and not Path(args.db).is_file():  # SQLite would start an empty log there
        parser.error(f"no event log at {args.db}")
    env = local_sqlite_env(args.db) if args.db else None
    with open_projections(env, views_path=args.views) as projections:
        result = rebuild(
            projections.app,
            projections.store,
            batch_size=args.batch_size,
            transaction_events=args.transaction_events,
            keep_old=args.keep_old,
            reader_env=projections.reader_env,
            readers=max(0, args.readers),
            pause=max(0.0, args.pause),
        )
    print(
        json.dumps(
            {
                "version": result.version,
                "replaced": result.replaced,
                "cleaned": list(result.cleaned),
                "position": result.position,
                "applied": result.applied,
                "seconds": round(result.seconds, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
