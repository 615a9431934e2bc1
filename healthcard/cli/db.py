"""``healthcard db init``: make a store's tables once, before the crowd starts.

Why a step of its own: every process creates the tables it needs if they are missing
(serialised on PostgreSQL by an advisory lock, so many may start at once). A
deployment that runs its app servers and workers with ``CREATE_TABLE=false`` (no DDL
rights for them, or no DDL at start-up at all) creates the event store's, the key
store's and the read models' tables here, with a role that may; the processes then
fail with a message naming this command if it was forgotten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from healthcard.adapters.persistence import local_sqlite_env
from healthcard.application import HealthCardApp
from healthcard.cli.errors import new_app
from healthcard.cli.options import JsonOption, console, print_json, reports_unreadable_log
from healthcard.cli.outputs import check_output_file
from healthcard.readmodels import open_projections

app = new_app()
db_app = new_app(name="db", help="The store's tables: init.")
app.add_typer(db_app, name="db")

InitDbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite file to create or complete. Default: eventsourcing's environment "
        "variables (PERSISTENCE_MODULE, POSTGRES_*), as the app servers use them.",
    ),
]


@db_app.command("init")
def init(db: InitDbOption = None, as_json: JsonOption = False) -> None:
    """Create the event store's, key store's and read models' tables (idempotent)."""
    if db is not None:
        check_output_file(db, "--db")
        env = local_sqlite_env(db)
    else:
        env = {**HealthCardApp.env, **os.environ}
    env["CREATE_TABLE"] = "yes"
    with reports_unreadable_log(db), open_projections(env) as projections:
        # The served version's tables too: workers without DDL rights fold into them.
        projections.store.current_version() or projections.store.create_version(live=True)
    module = env.get("PERSISTENCE_MODULE", "")
    where = (
        str(db or env.get("SQLITE_DBNAME", ""))
        if module.endswith("sqlite")
        else f"PostgreSQL database {env.get('POSTGRES_DBNAME', '')}"
        + (f", schema {env['POSTGRES_SCHEMA']}" if env.get("POSTGRES_SCHEMA") else "")
    )
    if as_json:
        print_json({"ready": ["event store", "key store", "read models"], "where": where})
        return
    console().print(f"tables ready (event store, key store, read models): {where}", markup=False)
