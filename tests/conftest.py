"""Shared fixtures: a fake clock, an audit, and the application on every backend.

PostgreSQL tests run against a real server (``HEALTHCARD_PG_*`` or 127.0.0.1:5432,
user postgres, trust auth; see ``healthcard.testing.postgres``). Without a server they
are skipped with the reason; with ``HEALTHCARD_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) a missing server fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env, sqlite_env
from healthcard.adapters.privacy.kek import FileKeyEncryptionKey
from healthcard.adapters.secret_files import private_folder
from healthcard.domain.audit import Audit, Channel
from healthcard.testing.postgres import PostgresServer

REQUIRE_POSTGRES = os.environ.get("HEALTHCARD_REQUIRE_POSTGRES", "") == "1"
BACKENDS = ["memory", "sqlite", "postgres"]

_PG_PROBLEM: dict[str, str | None] = {}


@pytest.fixture(scope="session")
def pg_server() -> PostgresServer:
    """The test server; skips (or fails, when required) the test without one."""
    server = PostgresServer.from_env()
    if "problem" not in _PG_PROBLEM:
        _PG_PROBLEM["problem"] = server.problem()
    problem = _PG_PROBLEM["problem"]
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"HEALTHCARD_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(problem)
    return server


@pytest.fixture
def pg_schema(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    with pg_server.schema() as schema:
        yield schema


@pytest.fixture
def pg_env(pg_server: PostgresServer, pg_schema: str) -> dict[str, str]:
    """eventsourcing settings of an application in this test's schema."""
    return pg_server.env(pg_schema)


@pytest.fixture
def kek_folder(tmp_path: Path) -> Path:
    """A private folder holding one key-encryption key generation (``kek.json``)."""
    path = tmp_path / "kek"
    private_folder(path)
    FileKeyEncryptionKey.create_in(path)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def audit() -> Audit:
    return Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """eventsourcing environment for each backend: memory, SQLite file, PostgreSQL."""
    if request.param == "memory":
        yield memory_env()
    elif request.param == "sqlite":
        yield sqlite_env(tmp_path / "events.sqlite3")
    else:
        yield request.getfixturevalue("pg_env")


@pytest.fixture
def app(backend_env: dict[str, str], clock: FakeClock) -> Iterator[HealthCardApp]:
    application = HealthCardApp(backend_env, clock=clock)
    try:
        yield application
    finally:
        application.close()


@pytest.fixture
def memory_app(clock: FakeClock) -> Iterator[HealthCardApp]:
    application = HealthCardApp(memory_env(), clock=clock)
    try:
        yield application
    finally:
        application.close()
