"""Persistence settings as eventsourcing environment variables.

Why helpers: the variables are eventsourcing's own (``PERSISTENCE_MODULE``,
``SQLITE_DBNAME``, ``POSTGRES_*``); these functions only spell them correctly.
SQLite tables are not prefixed per application, so keep one application per file.
"""

from __future__ import annotations

import os


def memory_env() -> dict[str, str]:
    """In-memory (plain Python objects): for unit tests; nothing survives the process."""
    return {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def sqlite_env(path: str | os.PathLike[str]) -> dict[str, str]:
    """A SQLite file: the embedded default."""
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": os.fspath(path)}


def postgres_env(
    dbname: str = "healthcard",
    *,
    host: str = "127.0.0.1",
    port: int = 5432,
    user: str = "postgres",
    password: str = "",
    schema: str = "",
) -> dict[str, str]:
    """PostgreSQL: for production, many app processes and projection workers."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env
