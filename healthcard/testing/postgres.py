"""A real PostgreSQL server for tests: where it is, a fresh schema per test.

Why a real server: the set rules rely on PostgreSQL's transactions and locks, and the
read models follow it with LISTEN/NOTIFY; a fake would test neither. The server is
named by ``HEALTHCARD_PG_HOST``, ``HEALTHCARD_PG_PORT``, ``HEALTHCARD_PG_USER``,
``HEALTHCARD_PG_PASSWORD`` and ``HEALTHCARD_PG_DBNAME`` (default 127.0.0.1:5432, user
``postgres``, database ``healthcard_test``, created when missing). Each test gets a
schema of its own, dropped afterwards, so tests never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import postgres_env
from healthcard.application import HealthCardApp
from healthcard.domain.audit import Audit
from healthcard.testing.leaks import (
    Persona,
    pg_dump,
    pg_dump_bytes,
    pg_heap_bytes,
    pg_schema_tables,
    pg_wal_window,
)


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """Connection settings of the test server."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = "healthcard_test"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PostgresServer:
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("HEALTHCARD_PG_HOST", "127.0.0.1"),
            port=int(env.get("HEALTHCARD_PG_PORT", "5432")),
            user=env.get("HEALTHCARD_PG_USER", "postgres"),
            password=env.get("HEALTHCARD_PG_PASSWORD", ""),
            dbname=env.get("HEALTHCARD_PG_DBNAME", "healthcard_test"),
        )

    def connect(self, dbname: str | None = None) -> psycopg.Connection[Any]:
        """An autocommit connection (to the test database by default)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname or self.dbname,
            autocommit=True,
            connect_timeout=3,
        )

    def problem(self) -> str | None:
        """None when the server answers and the test database exists (it is created
        if needed); otherwise why not, for a skip or failure message."""
        try:
            with self.connect("postgres") as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{self.dbname}"')
        except Exception as exc:  # any failure to reach the server
            return f"PostgreSQL at {self.host}:{self.port} unavailable: {type(exc).__name__}: {exc}"
        return None

    @contextmanager
    def schema(self) -> Iterator[str]:
        """A fresh schema for one test, dropped afterwards."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.connect() as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        try:
            yield name
        finally:
            with self.connect() as conn:
                conn.execute(f"DROP SCHEMA {name} CASCADE")

    @contextmanager
    def database(self) -> Iterator[str]:
        """A fresh database for one test, dropped afterwards (its sessions ended).

        Why a database and not a schema: an outage is made on a database of one's own
        (``ALLOW_CONNECTIONS false`` and its backends terminated), never on the shared
        server; a restored dump needs an empty database to land in; an extension
        (``pageinspect``) stays out of the shared test database. ``template0``: a copy
        of it can be made while others are connected to ``template1``.
        """
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.connect("postgres") as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        try:
            yield name
        finally:
            with self.connect("postgres") as conn:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name))
                )
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    @contextmanager
    def own_database(self) -> Iterator[PostgresServer]:
        """This server with a fresh database of the test's own as its ``dbname``."""
        with self.database() as name:
            yield replace(self, dbname=name)

    def refuse_connections(self, dbname: str) -> None:
        """An outage of one database: no new connections, every open one terminated."""
        with self.connect("postgres") as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )

    def allow_connections(self, dbname: str) -> None:
        """The end of :meth:`refuse_connections`' outage."""
        with self.connect("postgres") as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')

    def env(self, schema: str, *, dbname: str | None = None) -> dict[str, str]:
        """eventsourcing settings of an application whose tables live in ``schema``."""
        return postgres_env(
            dbname or self.dbname,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            schema=schema,
        )

    def conninfo(self, dbname: str | None = None) -> dict[str, Any]:
        """Keyword arguments of ``psycopg.connect`` for the test database (or ``dbname``)."""
        info: dict[str, Any] = {
            "dbname": dbname or self.dbname,
            "host": self.host,
            "port": self.port,
            "user": self.user,
        }
        if self.password:
            info["password"] = self.password
        return info

    def dump(self, schema: str) -> bytes:
        """``pg_dump`` of ``schema`` in the test database."""
        return pg_dump(self.dbname, schema, self.host, self.port, self.user)


@dataclass(frozen=True, slots=True)
class StoredTraces:
    """What a PostgreSQL database holds after a test wrote to it, as the privacy
    searches read it: the dump (bytea decoded), the heap pages, the WAL written."""

    card_id: UUID
    dump: bytes
    heap: bytes
    wal: bytes


def traces_of_registration(
    server: PostgresServer, person: Persona, audit: Audit, *, compressor: str = ""
) -> StoredTraces:
    """Register ``person`` (identity, own phone) in a fresh schema of ``server`` and
    read back everything the database keeps of it, including the WAL written meanwhile.

    Why one function: the privacy test and the guard that proves its searches can see
    (sealing switched off) must look at the very same traces.
    """
    conninfo = server.conninfo()
    with server.schema() as schema, pg_wal_window(conninfo) as wal:
        env = server.env(schema)
        if compressor:
            env["COMPRESSOR_TOPIC"] = compressor
        app = HealthCardApp(env, clock=FakeClock())
        try:
            card_id = person.register(app, audit)
            if app.card(card_id).name != person.name:
                raise AssertionError("the registered card does not read back")
        finally:
            app.close()
        return StoredTraces(
            card_id=card_id,
            dump=pg_dump_bytes(conninfo, schema),
            heap=pg_heap_bytes(conninfo, pg_schema_tables(conninfo, schema)),
            wal=wal.read(),
        )


__all__ = ["PostgresServer", "StoredTraces", "traces_of_registration"]
