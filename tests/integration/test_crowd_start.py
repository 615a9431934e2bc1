"""Many processes starting at once on a fresh PostgreSQL database, round after round.

Each round gets a database of its own, empty; twelve spawned processes (app servers
and projection workers) are released together and each opens its store, creating the
tables it needs. Every one of them must start.
"""

from __future__ import annotations

import contextlib

import pytest

from healthcard.testing.crowd import start_together
from healthcard.testing.postgres import PostgresServer

ROUNDS = 20
KINDS = ["app"] * 8 + ["views"] * 4


@pytest.mark.postgres
def test_twelve_processes_starting_together_on_a_fresh_database_all_start(
    pg_server: PostgresServer,
) -> None:
    with contextlib.ExitStack() as stack:
        names = [stack.enter_context(pg_server.database()) for _ in range(ROUNDS)]
        envs = []
        for name in names:
            env = pg_server.env("", dbname=name)
            envs.append(env)
        outcomes = start_together(envs, KINDS)
    failures = [(n, o) for n, round_ in enumerate(outcomes) for o in round_ if o != "ok"]
    assert failures == []
