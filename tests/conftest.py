"""Shared fixtures: a fake clock, an audit, and the application on every backend.

PostgreSQL tests run against a real server (``HEALTHCARD_PG_*`` or 127.0.0.1:5432,
user postgres, trust auth). Without a server they are skipped with the reason;
with ``HEALTHCARD_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) a missing server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from healthcard import HealthCardApp
from healthcard.domain.audit import Audit, Channel
from healthcard.adapters.persistence import memory_env, postgres_env, sqlite_env
from healthcard.adapters.clock import FakeClock

PG_HOST = os.environ.get("HEALTHCARD_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HEALTHCARD_PG_PORT", "5432"))
PG_USER = os.environ.get("HEALTHCARD_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("HEALTHCARD_PG_PASSWORD", "")
PG_DBNAME = os.environ.get("HEALTHCARD_PG_DBNAME", "healthcard_test")
REQUIRE_POSTGRES = os.environ.get("HEALTHCARD_REQUIRE_POSTGRES", "") == "1"

BACKENDS = ["memory", "sqlite", "postgres"]


def _pg_connect(dbname: str) -> Any:
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        password=PG_PASSWORD or None,
        dbname=dbname,
        autocommit=True,
        connect_timeout=3,
    )


def _postgres_unavailable() -> str | None:
    """None when the server answers and the test database exists (created if needed)."""
    try:
        with _pg_connect("postgres") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DBNAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{PG_DBNAME}"')
    except Exception as exc:  # any failure to reach the server
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} unavailable: {type(exc).__name__}: {exc}"
    return None


_PG_PROBLEM: str | bool | None = False


def require_postgres() -> None:
    """Skip (or fail, when HEALTHCARD_REQUIRE_POSTGRES=1) without a real server."""
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_unavailable()
    if isinstance(_PG_PROBLEM, str):
        if REQUIRE_POSTGRES:
            pytest.fail(f"HEALTHCARD_REQUIRE_POSTGRES=1 but {_PG_PROBLEM}")
        pytest.skip(_PG_PROBLEM)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_connect(PG_DBNAME) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with _pg_connect(PG_DBNAME) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def pg_env(schema: str) -> dict[str, str]:
    return postgres_env(
        PG_DBNAME, host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, schema=schema
    )


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
        schema_fixture = request.getfixturevalue("pg_schema")
        yield pg_env(schema_fixture)


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
