"""Opening the read models: the log they follow and the store they live in.

Where the views live: with a SQLite event store, in a SQLite file of their own
beside it (``events.sqlite3`` -> ``events.views.sqlite3``), so a rebuild's writes
never contend with the application's; with PostgreSQL, in the event store's
database and schema, or wherever ``CLINICVIEWS_POSTGRES_*`` variables say
(eventsourcing's environment prefix for a projection named ``ClinicViews``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment

from healthcard.adapters.pg_pools import steady_reconnects
from healthcard.adapters.schema_lock import schema_creation_lock
from healthcard.adapters.secret_files import create_private_file
from healthcard.application import HealthCardApp
from healthcard.domain.errors import ConfigurationError
from healthcard.readmodels.store_postgres import PostgresViewStore
from healthcard.readmodels.store_sql import SqlViewStore
from healthcard.readmodels.store_sqlite import SqliteViewStore

VIEWS_NAME = "ClinicViews"
"""The projection's name: prefix of its environment variables and its tables."""


class ViewsConfigError(ConfigurationError):
    """The views cannot be placed (e.g. an in-memory log and no views file given).

    A ``ConfigurationError`` (so also a ``ValueError``, as before): the command line
    shows it as ``error[invalid_configuration]``, not as a traceback."""


def views_path_for(event_db: str | os.PathLike[str]) -> Path:
    """The views file beside a SQLite event store: ``x.sqlite3`` -> ``x.views.sqlite3``."""
    return Path(event_db).with_suffix(".views.sqlite3")


def views_env(
    event_env: Mapping[str, str], views_path: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """eventsourcing settings of the view store for an event store's settings."""
    module = event_env.get("PERSISTENCE_MODULE", "eventsourcing.popo")
    if views_path is None and module.endswith("postgres"):
        return {**os.environ, **event_env}
    if views_path is None:
        db = event_env.get("SQLITE_DBNAME", "") if module.endswith("sqlite") else ""
        if not db or ":memory:" in db or "mode=memory" in db:
            raise ViewsConfigError("an in-memory event store needs a views file (views_path)")
        views_path = views_path_for(db)
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": os.fspath(views_path)}


def views_file_for(event_env: Mapping[str, str] | None) -> Path | None:
    """The SQLite file holding the views of the event store ``event_env`` configures
    (None: the process environment's), or None when they live in PostgreSQL.

    For a caller that must know whether the views exist before opening them, since
    opening creates them."""
    env = views_env(event_env if event_env is not None else {**HealthCardApp.env, **os.environ})
    if env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        return Path(env["SQLITE_DBNAME"])
    return None


def reader_env(event_env: Mapping[str, str]) -> dict[str, str]:
    """Settings of the application a projection reads the log with.

    On SQLite, ``ORIGINATOR_ID_TYPE=text``: the recorder then hands out ids as the
    32 hex digits it stores (the views' own id form) instead of parsing a ``UUID``
    per event, a third of the cost of reading the log. That application only reads.
    """
    env = dict(event_env)
    if env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        env["ORIGINATOR_ID_TYPE"] = "text"
    return env


def open_store(
    env: Mapping[str, str], *, app_name: str = "HealthCard", create: bool = True
) -> tuple[SqlViewStore, InfrastructureFactory[Any]]:
    """The view store (tables created if missing) and the factory that owns its connections.

    A new SQLite views file is created with mode 0600 first: it holds masked names and
    document numbers, which are still personal data. ``create=False``: no file, no
    table, no migration of the metadata tables (the store must exist; for reading).
    """
    if not create:
        env = {**env, "CREATE_TABLE": "false"}
    elif env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        path = env.get("SQLITE_DBNAME", "")
        if path and ":memory:" not in path and "mode=memory" not in path:
            create_private_file(Path(path))
    # Fail fast through an outage (eventsourcing would wait 30 s for a connection),
    # and check a pooled connection before use: the server may have ended it (a
    # restart, an outage), and the views store's reads are not retried.
    env = {"POSTGRES_CONNECT_TIMEOUT": "1", "POSTGRES_PRE_PING": "y", **env}
    made: object
    # Processes starting together take turns creating the tables (PostgreSQL).
    with schema_creation_lock(env, store="views store"):
        factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(
            Environment(VIEWS_NAME, dict(env))
        )
        if isinstance(factory, SQLiteFactory):
            made = factory.tracking_recorder(SqliteViewStore)
        elif isinstance(factory, PostgresFactory):
            made = factory.tracking_recorder(PostgresViewStore)
        else:
            made = None
    if not isinstance(made, SqlViewStore):
        factory.close()
        raise ViewsConfigError("views need SQLite or PostgreSQL")
    store = made
    store.app_name = app_name
    steady_reconnects(store)
    return store, factory


@dataclass
class Projections:
    """An application (the log) and the view store that follows it."""

    app: Application[UUID]
    store: SqlViewStore
    factory: InfrastructureFactory[Any]
    owns_app: bool = field(default=True)
    reader_env: dict[str, str] | None = None
    """The settings ``app`` was opened with, when this module opened it (so another
    process can open the same log: see ``rebuild(reader_env=...)``)."""

    def close(self) -> None:
        self.factory.close()
        if self.owns_app:
            self.app.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_projections(
    event_env: Mapping[str, str] | None = None,
    *,
    app: Application[UUID] | None = None,
    views_path: str | os.PathLike[str] | None = None,
    create: bool = True,
) -> Projections:
    """Open the log (a new ``HealthCardApp`` on ``event_env``, or ``app``) and its views.

    ``create=False``: open the views as they are, creating and migrating nothing (see
    ``open_store``)."""
    owns_app = app is None
    settings = None
    if app is None:
        settings = reader_env(
            event_env if event_env is not None else {**HealthCardApp.env, **os.environ}
        )
    if app is None:
        app = HealthCardApp(settings)
    try:
        env = views_env(event_env if event_env is not None else dict(app.env), views_path)
        store, factory = open_store(env, app_name=app.name, create=create)
    except BaseException:
        if owns_app:
            app.close()
        raise
    return Projections(app, store, factory, owns_app, settings)
