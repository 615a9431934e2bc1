"""App processes may run as a PostgreSQL role that cannot create or alter tables.

The tables are made once by ``healthcard db init`` (as their owner); the app and the
projection worker then run with ``CREATE_TABLE=false`` as a role holding only
``SELECT, INSERT, UPDATE, DELETE``: they start, take commands, fold the log into the
read models, and never run DDL. Forgetting ``db init`` is a typed error naming it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.cli import app as cli
from healthcard.domain.errors import ConfigurationError
from healthcard.readmodels import Projector, open_projections
from healthcard.testing import FakeClock
from healthcard.testing.postgres import PostgresServer
from healthcard.testing.world import Driver, phone_account


@pytest.fixture
def app_role(pg_server: PostgresServer) -> Iterator[str]:
    """A login role of the test's own, without superuser, CREATEDB or CREATEROLE."""
    role = f"hc_app_{uuid.uuid4().hex[:12]}"
    with pg_server.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        with pg_server.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def grant_data_rights(pg_server: PostgresServer, dbname: str, role: str) -> None:
    """What an operator grants the app's role after ``db init``: data, not schema."""
    who = sql.Identifier(role)
    with pg_server.connect(dbname) as conn:
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(statement).format(who))


def revoke_all(pg_server: PostgresServer, dbname: str, role: str) -> None:
    with pg_server.connect(dbname) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))


def as_role(pg_server: PostgresServer, dbname: str, role: str) -> dict[str, str]:
    env = pg_server.env("", dbname=dbname)
    env.update({"POSTGRES_USER": role, "CREATE_TABLE": "false"})
    return env


@pytest.mark.postgres
def test_the_app_and_the_worker_run_without_ddl_rights(
    pg_server: PostgresServer, app_role: str
) -> None:
    with pg_server.database() as name:
        init = CliRunner().invoke(cli, ["db", "init"], env=pg_server.env("", dbname=name))
        assert init.exit_code == 0, init.output
        grant_data_rights(pg_server, name, app_role)
        try:
            env = as_role(pg_server, name, app_role)
            probe = psycopg.connect(**{**pg_server.conninfo(name), "user": app_role})
            with probe, pytest.raises(psycopg.errors.InsufficientPrivilege):  # the guard
                probe.execute("CREATE TABLE healthcard_probe (x int)")
            app = HealthCardApp(env, clock=FakeClock())
            try:
                driver = Driver(app)
                card = driver.register()
                driver.complete_identity(card)
                driver.bind(card, phone_account(1))
                session = driver.publish()
                driver.book(session, card)
                with open_projections(env, app=app, create=False) as projections:
                    assert Projector(projections.app, projections.store).catch_up() > 0
                    booked = projections.store.card_appointments(card, driver.today)
                assert [a.session_id for a in booked] == [session]
            finally:
                app.close()
        finally:
            revoke_all(pg_server, name, app_role)


@pytest.mark.postgres
def test_without_db_init_the_key_store_names_the_command(pg_server: PostgresServer) -> None:
    """The event store's tables exist but the key store's do not (``db init`` of an
    older release, or tables dropped): a typed error, not ``permission denied``."""
    with pg_server.database() as name:
        env = pg_server.env("", dbname=name)
        HealthCardApp(env, clock=FakeClock()).close()
        with pg_server.connect(name) as conn:
            conn.execute("DROP TABLE healthcard_personal_keys, healthcard_kek_generations")
        with pytest.raises(ConfigurationError, match="healthcard db init") as excinfo:
            HealthCardApp({**env, "CREATE_TABLE": "false"}, clock=FakeClock())
        assert excinfo.value.field == "CREATE_TABLE"
