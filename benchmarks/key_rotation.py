"""Time of a key-encryption key (KEK) rotation over N live per-person keys, SQLite and PostgreSQL.

A rotation (``store.rotate``) makes a new KEK generation current, re-wraps every live
key under it in short transactions of ``REWRAP_BATCH`` rows, then destroys the old
generation. An operator needs to know how long that takes for a large population,
and how much of it is the library (AES-GCM unwrap and wrap, the Python loop) rather
than the database's own work of reading and rewriting the rows.

Per backend, in one run:

1. a file KEK in a private keys folder (as production has), the store opened once (its
   tables and current generation made), then N rows inserted in bulk in exactly the
   form ``key_for_writing`` stores (a random 256-bit key wrapped under the current
   generation with the library's own associated data): SQLite ``executemany`` in one
   transaction, PostgreSQL ``COPY``. Going through ``key_for_writing`` one key at a
   time would take far longer than the rotation itself. A sample of 1,000 subjects
   keeps its clear keys for the checks;
2. one unmeasured bare rewrite of every row (the baseline's work, below), then
   (PostgreSQL) ``VACUUM``: both measured passes start from the table of a store that
   has been rewritten before (pages in cache, dead versions reclaimed), not from a
   fresh load;
3. the baseline, measured: the same keyset-paginated batches of ``REWRAP_BATCH`` rows
   read with the same filter and written back with the same ``UPDATE`` shape, one
   transaction per batch, each stored value replaced by its bytes reversed: the
   database's bare cost of the rotation's reads and writes, without any cryptography
   or library logic. Why reversed and not the same bytes: SQLite skips writing a page
   whose bytes do not change, so an identical rewrite costs it no I/O at all; reversing
   is a new value of the same size for the cost of a slice, and the two passes (warm-up
   and measured) leave every stored key as it was. Then (PostgreSQL) ``VACUUM`` again,
   so the rotation finds the table as the baseline did;
4. the rotation, measured: wall time and this process's CPU time (on SQLite that
   includes the database engine; on PostgreSQL the server's CPU is not counted);
5. the checks: a fresh store over a fresh KEK read from the same folder opens the
   sample's keys and finds them unchanged; ``status()`` shows N live keys, none
   unwrapped, one current generation (the new one) and the old one destroyed.

Prints the machine's load average before and after (the machine is shared), each
phase's figures, the rotation/baseline time ratio (one measured pass of each, not
alternating rounds as the short benchmarks do: at 1M keys a pass takes up to a
minute, so run the script several times instead), and as the last line
``rotation sqlite N keys X s (Y keys/s, cpu Z s), postgres N keys X s (Y keys/s, cpu Z s)``
(only the part of the backend run when one is chosen). ``--profile`` runs the
rotation under cProfile and prints where its time goes (slower; figures not comparable).

Usage: python benchmarks/key_rotation.py [--keys N] [--backend sqlite|postgres|both]
       [--profile]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import cProfile
import os
import pstats
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg

from healthcard.adapters.privacy.kek import FileKeyEncryptionKey
from healthcard.adapters.privacy.key_protocol import ManagedKeyStore, Rotation
from healthcard.adapters.privacy.sql_keystore import (
    BUSY_TIMEOUT_MS,
    GENERATIONS_TABLE,
    KEYS_TABLE,
    REWRAP_BATCH,
    PostgresKeyStore,
    SqliteKeyStore,
    _context,
)
from healthcard.adapters.secret_files import private_folder
from healthcard.testing.postgres import PostgresServer

SAMPLE = 1_000
"""Subjects whose clear keys are kept for the checks (not all N: memory stays flat)."""
CHUNK = 50_000
"""Rows generated and inserted at a time while populating."""
KEY_BYTES = 32

NO_GENERATION = "19700101T000000Z-000000"
"""A generation no row is wrapped under: the baseline's filter lets every row through,
as the rotation's does with the new generation."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall and process CPU seconds of one measured phase over ``rows`` rows."""

    rows: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.rows / self.wall


def timed(run: Callable[[], int]) -> Timing:
    """Wall (``perf_counter``) and CPU (``process_time``) time of ``run``, which returns
    the number of rows it handled."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = run()
    return Timing(rows, time.perf_counter() - wall, time.process_time() - cpu)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- population ---------------------------------------------------------------------


def stored_rows(
    kek: FileKeyEncryptionKey, generation: str, keys: int, sample: dict[UUID, bytes]
) -> Iterator[list[tuple[UUID, bytes]]]:
    """Chunks of ``(subject, wrapped key)`` as ``key_for_writing`` stores them: a random
    key wrapped under ``generation`` with the library's ``_context``. The clear keys of
    ``SAMPLE`` random subjects go into ``sample``."""
    chosen = set(random.sample(range(keys), min(SAMPLE, keys)))
    wrap = kek.wrap
    for start in range(0, keys, CHUNK):
        chunk = []
        for index in range(start, min(start + CHUNK, keys)):
            subject = uuid4()
            key = os.urandom(KEY_BYTES)
            chunk.append((subject, wrap(generation, key, _context(subject))))
            if index in chosen:
                sample[subject] = key
        yield chunk


def populate_sqlite(path: str, rows: Iterator[list[tuple[UUID, bytes]]], generation: str) -> int:
    """All rows in one transaction (``executemany``), then a checkpoint, so the WAL
    starts empty for the measured passes."""
    count = 0
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN IMMEDIATE")
        for chunk in rows:
            conn.executemany(
                f"INSERT INTO {KEYS_TABLE} (subject, key, kek) VALUES (?, ?, ?)",  # noqa: S608
                [(str(subject), wrapped, generation) for subject, wrapped in chunk],
            )
            count += len(chunk)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return count


def populate_postgres(
    conninfo: Mapping[str, Any], rows: Iterator[list[tuple[UUID, bytes]]], generation: str
) -> int:
    """All rows by one binary ``COPY``, then ``VACUUM ANALYZE`` (statistics for the
    planner, as a table that has lived a while has)."""
    count = 0
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy(
                f"COPY {KEYS_TABLE} (subject, key, kek) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["uuid", "bytea", "text"])
            for chunk in rows:
                for subject, wrapped in chunk:
                    copy.write_row((subject, wrapped, generation))
                count += len(chunk)
        conn.execute(f"VACUUM ANALYZE {KEYS_TABLE}")
        conn.execute(f"VACUUM ANALYZE {GENERATIONS_TABLE}")
    return count


# -- baseline -----------------------------------------------------------------------


def rewrite_sqlite(path: str, statements: Mapping[str, str]) -> int:
    """Read every live row in the rotation's batches and write its bytes back reversed
    (run twice, the rows are as before), one ``BEGIN IMMEDIATE`` transaction per batch,
    on a connection set up as the store's (WAL, ``synchronous=NORMAL``,
    ``secure_delete``)."""
    count = 0
    after: int | None = None
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        while True:
            conn.execute("BEGIN IMMEDIATE")
            if after is None:
                batch = conn.execute(
                    statements["batch_first"], (NO_GENERATION, REWRAP_BATCH)
                ).fetchall()
            else:
                batch = conn.execute(
                    statements["batch_next"], (NO_GENERATION, after, REWRAP_BATCH)
                ).fetchall()
            if not batch:
                conn.execute("COMMIT")
                return count
            conn.executemany(
                statements["rewrap"],
                [(stored[::-1], kek, subject, kek) for _, subject, stored, kek in batch],
            )
            conn.execute("COMMIT")
            count += len(batch)
            after = batch[-1][0]


def rewrite_postgres(conninfo: Mapping[str, Any], statements: Mapping[str, str]) -> int:
    """As :func:`rewrite_sqlite`, on one autocommit connection with a transaction per
    batch and ``executemany`` on a cursor (as the store's ``_Psycopg`` does)."""
    count = 0
    after: object = None
    first, following = statements["batch_first"], statements["batch_next"]
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        while True:
            with conn.transaction():
                if after is None:
                    rows = conn.execute(first, (NO_GENERATION, REWRAP_BATCH))
                else:
                    rows = conn.execute(following, (NO_GENERATION, after, REWRAP_BATCH))
                batch = rows.fetchall()
                if not batch:
                    return count
                with conn.cursor() as cursor:
                    cursor.executemany(
                        statements["rewrap"],
                        [(stored[::-1], kek, subject, kek) for _, subject, stored, kek in batch],
                    )
            count += len(batch)
            after = batch[-1][0]


def check_restored(store: ManagedKeyStore, sample: dict[UUID, bytes], part: slice) -> None:
    """Sampled keys (not read before, so not cached) open as generated: the bulk rows
    are in the store's own form, and the bare passes left them as they were."""
    check_keys(store, dict(list(sample.items())[part]))


def vacuum_postgres(conninfo: Mapping[str, Any]) -> None:
    """Reclaim the dead row versions a full rewrite left, so the next pass finds the
    table in the same state as the previous one did."""
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {KEYS_TABLE}")


# -- the run ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backend:
    """How to open the store, bulk-load it, rewrite it bare and tidy up between passes."""

    name: str
    open: Callable[[FileKeyEncryptionKey], SqliteKeyStore | PostgresKeyStore]
    populate: Callable[[Iterator[list[tuple[UUID, bytes]]], str], int]
    rewrite: Callable[[Mapping[str, str]], int]
    settle: Callable[[], None]


def current_generation(store: ManagedKeyStore) -> str:
    current = [g.generation for g in store.status().generations if g.state == "current"]
    assert len(current) == 1, current
    return current[0]


def check_keys(store: ManagedKeyStore, sample: dict[UUID, bytes]) -> None:
    for subject, key in sample.items():
        assert store.key_for_reading(subject) == key, f"key of {subject} changed"


def rotate(store: ManagedKeyStore, *, profile: bool) -> tuple[Timing, Rotation]:
    """The measured rotation (destroying the old generation at once: retention 0)."""
    result: list[Rotation] = []

    def run() -> int:
        rotation = store.rotate(at=datetime.now(UTC), retention=timedelta(0))
        result.append(rotation)
        return rotation.rewrapped

    if not profile:
        return timed(run), result[0]
    profiler = cProfile.Profile()
    timing = timed(lambda: profiler.runcall(run))
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print("profile of the rotation (cProfile adds overhead; by own time):")
    stats.sort_stats("tottime").print_stats(15)
    return timing, result[0]


def run_backend(backend: Backend, keys: int, folder: Path, *, profile: bool) -> Timing:
    """Populate, warm up, baseline, rotate and check one backend; returns the rotation's
    timing. ``folder`` (a fresh temp folder) holds the keys folder."""
    print(f"-- {backend.name}: {keys:,} keys; load average {load_average()}", flush=True)
    keys_folder = folder / "keys"
    private_folder(keys_folder)
    kek = FileKeyEncryptionKey.create_in(keys_folder)
    store = backend.open(kek)
    sample: dict[UUID, bytes] = {}
    try:
        old = current_generation(store)
        population = timed(lambda: backend.populate(stored_rows(kek, old, keys, sample), old))
        print(
            f"populated {population.rows:,} keys in {population.wall:.1f} s"
            f" ({population.rate:,.0f} keys/s; not the measured figure)",
            flush=True,
        )
        check_restored(store, sample, slice(0, 10))
        warm_up = timed(lambda: backend.rewrite(store.statements))
        backend.settle()
        print(f"warm-up bare rewrite (not measured) {warm_up.wall:.1f} s", flush=True)
        base = timed(lambda: backend.rewrite(store.statements))
        backend.settle()
        assert base.rows == keys, base
        check_restored(store, sample, slice(10, 20))
        print(
            f"baseline: {base.rows:,} rows read and rewritten bare in {base.wall:.1f} s"
            f" ({base.rate:,.0f} rows/s, cpu {base.cpu:.1f} s)",
            flush=True,
        )
        print(f"load average before the rotation: {load_average()}", flush=True)
        timing, rotation = rotate(store, profile=profile)
        print(
            f"rotation: {rotation.rewrapped:,} keys re-wrapped in {timing.wall:.1f} s"
            f" ({timing.rate:,.0f} keys/s, cpu {timing.cpu:.1f} s);"
            f" destroyed {len(rotation.destroyed)}, kept {len(rotation.kept)}",
            flush=True,
        )
        print(
            f"rotation / baseline: wall {timing.wall / base.wall:.2f}x,"
            f" cpu {timing.cpu / max(base.cpu, 1e-9):.2f}x; load average {load_average()}",
            flush=True,
        )
    finally:
        store.close()
    assert rotation.rewrapped == keys, rotation
    assert rotation.destroyed == (old,), rotation
    assert rotation.kept == (), rotation
    fresh = backend.open(FileKeyEncryptionKey(keys_folder))  # as another process would
    try:
        check_keys(fresh, sample)
        status = fresh.status()
    finally:
        fresh.close()
    states = {g.generation: g.state for g in status.generations}
    assert status.live_keys == keys, status
    assert status.unwrapped_keys == 0, status
    assert status.erased == 0, status
    assert [g for g, s in states.items() if s == "current"] == [rotation.generation], states
    assert states[old] == "destroyed", states
    assert FileKeyEncryptionKey(keys_folder).generations() == (rotation.generation,)
    print(f"checked: {len(sample):,} sampled keys unchanged; status {status.live_keys:,} live")
    return timing


def sqlite_backend(folder: Path) -> Backend:
    path = str(folder / "keys.sqlite3")
    return Backend(
        name="sqlite",
        open=lambda kek: SqliteKeyStore(path, kek=kek),
        populate=lambda rows, generation: populate_sqlite(path, rows, generation),
        rewrite=lambda statements: rewrite_sqlite(path, statements),
        settle=lambda: None,
    )


def postgres_backend(conninfo: Mapping[str, Any]) -> Backend:
    return Backend(
        name="postgres",
        open=lambda kek: PostgresKeyStore(conninfo, kek=kek, timeout=30.0),
        populate=lambda rows, generation: populate_postgres(conninfo, rows, generation),
        rewrite=lambda statements: rewrite_postgres(conninfo, statements),
        settle=lambda: vacuum_postgres(conninfo),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile the rotation")
    args = parser.parse_args()
    names = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(
        f"load average before: {load_average()}; REWRAP_BATCH {REWRAP_BATCH};"
        f" psycopg {psycopg.__version__} ({psycopg.pq.__impl__} implementation),"
        f" SQLite {sqlite3.sqlite_version}"
    )
    parts = []
    for name in names:
        folder = Path(tempfile.mkdtemp(prefix=f"healthcard-rotation-{name}-"))
        try:
            if name == "sqlite":
                timing = run_backend(
                    sqlite_backend(folder), args.keys, folder, profile=args.profile
                )
            else:
                server = PostgresServer.from_env()
                with server.database() as dbname:
                    backend = postgres_backend(server.conninfo(dbname))
                    timing = run_backend(backend, args.keys, folder, profile=args.profile)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        parts.append(
            f"{name} {timing.rows} keys {timing.wall:.1f} s"
            f" ({timing.rate:.0f} keys/s, cpu {timing.cpu:.1f} s)"
        )
    print(f"load average after: {load_average()}")
    print("rotation " + ", ".join(parts))


if __name__ == "__main__":
    main()
