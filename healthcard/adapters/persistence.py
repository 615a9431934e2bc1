"""Persistence settings as eventsourcing environment variables.

Why helpers: the variables are eventsourcing's own (``PERSISTENCE_MODULE``,
``SQLITE_DBNAME``, ``POSTGRES_*``); these functions only spell them correctly.
SQLite tables are not prefixed per application, so keep one application per file.
"""

from __future__ import annotations

import os
from pathlib import Path

from eventsourcing.cryptography import AESCipher

from healthcard.adapters.secret_files import read_secret, write_secret


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


def key_file_for(db: str | os.PathLike[str]) -> Path:
    """Where a local tool keeps the at-rest key of a SQLite file: ``<db>.key``."""
    return Path(f"{os.fspath(db)}.key")


def local_sqlite_env(db: str | os.PathLike[str], *, create_key: bool = False) -> dict[str, str]:
    """SQLite env for the CLI: encrypted at rest when ``<db>.key`` exists (or is created).

    Why a key file: the demo writes an encrypted log and later commands (read models,
    analytics, audit) must open it. A key beside the data protects nothing against
    someone who copies the folder; production apps pass ``CIPHER_KEY`` from a secret
    store instead. The file is created with mode 0600, and refused
    (``InsecureKeyFile``) when it is open to group or others or owned by another
    user: a key file someone else could write would let them choose the key.
    """
    env = sqlite_env(db)
    key_file = key_file_for(db)
    if create_key and not key_file.exists():
        write_secret(key_file, AESCipher.create_key(32).encode("ascii") + b"\n")
    if key_file.exists():
        env.update(
            {
                "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
                "CIPHER_KEY": read_secret(key_file).decode("ascii").strip(),
                "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
            }
        )
    return env
