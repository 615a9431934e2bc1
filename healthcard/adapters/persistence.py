"""Persistence settings as eventsourcing environment variables.

Why helpers: the variables are eventsourcing's own (``PERSISTENCE_MODULE``,
``SQLITE_DBNAME``, ``POSTGRES_*``); these functions only spell them correctly.
SQLite tables are not prefixed per application, so keep one application per file.

A SQLite file can also be opened read-only (:func:`read_only_sqlite_env`): for tools
that must leave the file exactly as they found it (``healthcard history``, ``stats``
...). eventsourcing's own SQLite factory writes on opening (it creates the tables and
switches the file to WAL); :class:`ReadOnlySQLiteFactory` does neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final
from urllib.parse import quote

from eventsourcing.cryptography import AESCipher
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment, EnvType

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


READ_ONLY_SQLITE: Final = "healthcard.adapters.persistence:ReadOnlySQLiteFactory"
"""``PERSISTENCE_MODULE`` of a SQLite file opened read-only (:class:`ReadOnlySQLiteFactory`).

Deliberately not ending in ``sqlite``: code that recognises a writable SQLite store by
that suffix (to create the file 0600, to open its key store) must not touch this one.
"""

SQLITE_COMPANIONS: Final = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database while a connection has it open (or after a crash)."""


class ReadOnlySQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite factory for a file that must not change.

    Why a factory of its own: eventsourcing's creates the tables on opening (unless
    ``CREATE_TABLE`` is off) and switches a file that is not in WAL mode to WAL on its
    first connection, two writes. Here neither happens whatever the environment says;
    the file's own journal mode is what SQLite reads it with. Give it a read-only URI
    (:func:`read_only_sqlite_uri`), so that SQLite itself refuses any other write.
    """

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        # Marked as already in WAL: the pool then never issues ``PRAGMA journal_mode=WAL``.
        self.datastore.pool.is_journal_mode_wal = True

    def env_create_table(self) -> bool:
        return False


def read_only_sqlite_uri(db: str | os.PathLike[str]) -> str:
    """A ``file:`` URI that opens ``db`` read-only (``mode=ro``), creating nothing.

    Why ``immutable=1`` when the file is idle: a read-only connection to a WAL-mode
    file still creates its ``-wal`` and ``-shm`` files when they are missing (and
    cannot delete them afterwards). No ``-shm``, no ``-journal`` and no ``-wal``
    holding frames means no connection has the file open and every committed
    transaction is in the file itself, so reading it as immutable sees all of it and
    creates nothing. Otherwise a writer may be at work, or left frames behind: SQLite
    then reads through those files (``mode=ro``), as any reader does. What
    ``immutable`` gives up: a writer that starts and checkpoints while the read runs
    is not seen, and may make that read fail.
    """
    path = Path(db).resolve()
    return f"file:{quote(str(path))}?mode=ro" + ("" if _in_use(path) else "&immutable=1")


def _in_use(path: Path) -> bool:
    """Whether a connection may have ``path`` open, or left something to read beside it."""
    try:
        if Path(f"{path}-wal").stat().st_size > 0:
            return True
    except FileNotFoundError:
        pass
    return any(Path(f"{path}{suffix}").exists() for suffix in ("-shm", "-journal"))


def read_only_sqlite_env(db: str | os.PathLike[str]) -> dict[str, str]:
    """:func:`local_sqlite_env` for reading only: the file opened read-only, no table
    created, and the at-rest key read from ``<db>.key`` (never created)."""
    env = local_sqlite_env(db)
    env.update(
        {
            "PERSISTENCE_MODULE": READ_ONLY_SQLITE,
            "SQLITE_DBNAME": read_only_sqlite_uri(db),
            "CREATE_TABLE": "false",
        }
    )
    return env
