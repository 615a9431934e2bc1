"""The key-encryption key (KEK): what wraps every per-person key, held outside the database.

Why wrap: a per-person key deleted from the key-store table is still readable in every
copy made before the deletion (dead tuples, the PostgreSQL WAL and its archives,
replicas, ``pg_dump`` files, copies of a SQLite file). Stored wrapped under a KEK that
never enters the database, such a copy is only readable while that KEK exists. The
KEK comes in *generations*: a rotation wraps every live key under a new generation and
the old one is destroyed (after the backup-retention window), and from then on no copy
made before can open a key erased before it (``docs/privacy.md``).

A generation wraps with AES-256-GCM, a fresh 96-bit nonce per key, and the subject
as associated data, so a wrapped key cannot be moved onto another person's row.

- :class:`FileKeyEncryptionKey` keeps generations as files in the keys folder
  (``kek.json`` names them, ``kek-<generation>.key`` holds each, mode 0600);
- :class:`InMemoryKeyEncryptionKey` keeps them in memory (tests, examples);
- a KMS implements :class:`KeyEncryptionKey` (wrap and unwrap by the KMS, generations
  as its key versions).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from healthcard.adapters.secret_files import (
    check_private,
    read_hex_key,
    replace_file,
    write_secret,
)
from healthcard.domain.errors import ConfigurationError

KEK_FORMAT: Final = "healthcard.kek/1"
KEK_STATE_FILE: Final = "kek.json"
KEK_SIZE: Final = 32
NONCE_SIZE: Final = 12
GENERATION_PATTERN: Final = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
"""A generation id: its creation time (UTC) and six random hex digits; safe in a file name."""


class GenerationUnavailable(LookupError):
    """A key is wrapped under a KEK generation this process cannot use (destroyed, or
    not in the configured keys folder): the key, and so the person's data, cannot be
    opened with the current keys."""

    def __init__(self, generation: str) -> None:
        super().__init__(f"key-encryption key generation {generation} is not available")
        self.generation = generation


@runtime_checkable
class KeyEncryptionKey(Protocol):
    """Generations of a key-encryption key. Implement it to keep the KEK in a KMS."""

    def generations(self) -> tuple[str, ...]:
        """The generations that exist (not destroyed), oldest first."""
        ...

    def wrap(self, generation: str, key: bytes, context: bytes) -> bytes:
        """``key`` encrypted under ``generation``, bound to ``context`` (the subject)."""
        ...

    def unwrap(self, generation: str, wrapped: bytes, context: bytes) -> bytes:
        """The key; raises ``GenerationUnavailable`` when ``generation`` is gone."""
        ...

    def create(self) -> str:
        """Make a new generation (the newest); returns its id."""
        ...

    def destroy(self, generation: str) -> None:
        """Destroy ``generation`` for good (idempotent)."""
        ...


def new_generation_id(at: datetime | None = None) -> str:
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class _Generations:
    """Generation id -> KEK bytes, oldest first, with the AES contexts kept."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.ciphers: dict[str, AESGCM] = {}
        self.lock = threading.Lock()

    def wrap(self, generation: str, key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._cipher(generation).encrypt(nonce, key, context)

    def unwrap(self, generation: str, wrapped: bytes, context: bytes) -> bytes:
        try:
            return self._cipher(generation).decrypt(
                wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], context
            )
        except InvalidTag:
            raise ValueError("a wrapped key does not open under its generation") from None

    def _cipher(self, generation: str) -> AESGCM:
        cipher = self.ciphers.get(generation)
        if cipher is None:
            key = self.keys.get(generation)
            if key is None:
                raise GenerationUnavailable(generation)
            cipher = self.ciphers[generation] = AESGCM(key)
        return cipher


class InMemoryKeyEncryptionKey:
    """Generations kept in this process only: for tests and examples (a key store
    wrapped with it cannot be opened by any other process)."""

    def __init__(self) -> None:
        self._state = _Generations()
        self.create()

    def generations(self) -> tuple[str, ...]:
        return tuple(self._state.keys)

    def wrap(self, generation: str, key: bytes, context: bytes) -> bytes:
        return self._state.wrap(generation, key, context)

    def unwrap(self, generation: str, wrapped: bytes, context: bytes) -> bytes:
        return self._state.unwrap(generation, wrapped, context)

    def create(self) -> str:
        with self._state.lock:
            generation = new_generation_id()
            while generation in self._state.keys:
                generation = new_generation_id()
            self._state.keys[generation] = AESGCM.generate_key(bit_length=8 * KEK_SIZE)
            return generation

    def destroy(self, generation: str) -> None:
        with self._state.lock:
            self._state.keys.pop(generation, None)
            self._state.ciphers.pop(generation, None)


class FileKeyEncryptionKey:
    """Generations as files of a keys folder: ``kek.json`` lists them (oldest first),
    ``kek-<generation>.key`` holds each as hex (mode 0600, checked on every read).

    Another process (``healthcard privacy complete-erasures``) may add and destroy
    generations while this one runs: a generation this process does not know yet is
    read from the folder when a key wrapped under it is first met.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._state = _Generations()
        self._reload()

    @classmethod
    def create_in(cls, folder: Path) -> FileKeyEncryptionKey:
        """Write the first generation into ``folder`` (a new keys folder)."""
        generation = new_generation_id()
        _write_key(folder, generation)
        _write_state(folder, [generation], replace=False)
        return cls(folder)

    def generations(self) -> tuple[str, ...]:
        return tuple(self._state.keys)

    def wrap(self, generation: str, key: bytes, context: bytes) -> bytes:
        if generation not in self._state.keys:
            self._reload()
        return self._state.wrap(generation, key, context)

    def unwrap(self, generation: str, wrapped: bytes, context: bytes) -> bytes:
        if generation not in self._state.keys:
            self._reload()
        return self._state.unwrap(generation, wrapped, context)

    def create(self) -> str:
        with self._state.lock:
            names = _read_state(self.folder)
            generation = new_generation_id()
            _write_key(self.folder, generation)
            _write_state(self.folder, [*names, generation], replace=True)
        self._reload()
        return generation

    def destroy(self, generation: str) -> None:
        """Drop the generation from ``kek.json``, then overwrite and delete its file.

        Overwriting first is best effort (a journaling or copy-on-write file system may
        keep old blocks): keep the keys folder on storage that is not backed up with
        the database, and out of snapshots (``docs/privacy.md``).
        """
        with self._state.lock:
            names = _read_state(self.folder)
            if generation in names:
                _write_state(self.folder, [n for n in names if n != generation], replace=True)
            path = self.folder / _key_file(generation)
            if path.exists():
                with path.open("r+b") as handle:
                    handle.write(b"0" * max(path.stat().st_size, 2 * KEK_SIZE))
                    handle.flush()
                    os.fsync(handle.fileno())
                path.unlink()
            self._state.keys.pop(generation, None)
            self._state.ciphers.pop(generation, None)

    def _reload(self) -> None:
        with self._state.lock:
            keys: dict[str, bytes] = {}
            unreadable: list[str] = []
            for name in _read_state(self.folder):
                try:
                    keys[name] = _read_key(self.folder, name)
                except ConfigurationError:
                    unreadable.append(name)
            # Another process may be destroying a generation: it drops it from kek.json
            # first, then overwrites and deletes its file. A file that could not be
            # read (or was read while being overwritten) counts only if kek.json still
            # lists its generation once the files have been read.
            listed = set(_read_state(self.folder))
            for name in unreadable:
                if name in listed:
                    _read_key(self.folder, name)  # raises its typed error again
            keys = {name: key for name, key in keys.items() if name in listed}
            self._state.keys = keys
            self._state.ciphers = {
                name: cipher for name, cipher in self._state.ciphers.items() if name in keys
            }


def _key_file(generation: str) -> str:
    return f"kek-{generation}.key"


def _write_key(folder: Path, generation: str) -> None:
    write_secret(
        folder / _key_file(generation), secrets.token_bytes(KEK_SIZE).hex().encode() + b"\n"
    )


def _read_key(folder: Path, generation: str) -> bytes:
    return read_hex_key(folder / _key_file(generation), KEK_SIZE)


def _read_state(folder: Path) -> list[str]:
    path = folder / KEK_STATE_FILE
    check_private(path)
    try:
        state = json.loads(path.read_bytes())
        names = state["generations"]
        if state.get("format") != KEK_FORMAT or not isinstance(names, list):
            raise ValueError("format")
        if not all(isinstance(n, str) and GENERATION_PATTERN.match(n) for n in names):
            raise ValueError("generation")
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(
            f"{path} is not a key-encryption key state file", field="key_file"
        ) from None
    if not names:
        raise ConfigurationError(f"{path} lists no key-encryption key", field="key_file")
    return list(names)


def _write_state(folder: Path, names: list[str], *, replace: bool) -> None:
    text = json.dumps({"format": KEK_FORMAT, "generations": names}, indent=2) + "\n"
    if replace:
        replace_file(folder / KEK_STATE_FILE, text.encode(), 0o600)
    else:
        write_secret(folder / KEK_STATE_FILE, text.encode())


__all__ = [
    "KEK_STATE_FILE",
    "FileKeyEncryptionKey",
    "GenerationUnavailable",
    "InMemoryKeyEncryptionKey",
    "KeyEncryptionKey",
    "new_generation_id",
]
