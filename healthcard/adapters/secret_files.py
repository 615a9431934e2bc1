"""Files that hold secrets: created private, read only while still private.

Why check on every read: a key file that group or others can read has leaked to them
already, and one owned by another user (or a folder others can write) can be swapped
for a key of their choosing. Refusing to start is the only answer that does not
silently run on a compromised key. New files are created with mode 0600 (folders
0700) and never replace an existing file by accident.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from healthcard.domain.errors import ConfigurationError, InsecureKeyFile

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def check_private(path: Path, *, folder: bool = False) -> None:
    """Refuse ``path`` unless it is ours and not open to group or others.

    For a folder, group and others may not write (they could swap the files in it);
    for a file, they may not read or write it.
    """
    try:
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise InsecureKeyFile(str(path), "it does not exist") from None
    if stat.S_ISLNK(info.st_mode):
        raise InsecureKeyFile(str(path), "it is a symbolic link")
    if info.st_uid != os.geteuid():
        raise InsecureKeyFile(str(path), "it is owned by another user")
    if folder:
        if not stat.S_ISDIR(info.st_mode):
            raise InsecureKeyFile(str(path), "it is not a folder")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise InsecureKeyFile(str(path), "group or others can write to it")
        return
    if not stat.S_ISREG(info.st_mode):
        raise InsecureKeyFile(str(path), "it is not a regular file")
    if info.st_mode & 0o077:
        raise InsecureKeyFile(str(path), "group or others can read or write it (chmod 600)")


def read_secret(path: Path) -> bytes:
    """The content of a private file (``check_private`` first)."""
    check_private(path)
    return path.read_bytes()


def read_hex_key(path: Path, size: int) -> bytes:
    """A key of ``size`` bytes kept as hex in a private file; typed errors name the
    file, never the content."""
    text = read_secret(path).decode("ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigurationError(f"{path} does not hold a hex key", field="key_file") from None
    if len(key) != size:
        raise ConfigurationError(
            f"{path} must hold {size} bytes ({2 * size} hex)", field="key_file"
        )
    return key


def write_secret(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to a new file of mode 0600 (``replace``: atomically over an old one)."""
    if replace:
        replace_file(path, data, PRIVATE_FILE)
    else:
        _create(path, data, PRIVATE_FILE)


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Put ``data`` at ``path`` with exactly ``mode``, atomically: a reader sees the old
    file or the new one, never half of it."""
    staging = path.with_name(f".{path.name}.new")
    staging.unlink(missing_ok=True)
    _create(staging, data, mode)
    os.replace(staging, path)


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a file that must not exist yet, with exactly ``mode`` (whatever the umask)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)


def private_folder(path: Path) -> None:
    """Create ``path`` (and its parents) as a folder of mode 0700; refuse an existing
    folder that is not private."""
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    check_private(path, folder=True)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist yet (a database the
    library is about to open: SQLite keeps the mode of the file it finds)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(descriptor)


__all__ = [
    "PRIVATE_FILE",
    "PRIVATE_FOLDER",
    "check_private",
    "create_private_file",
    "private_folder",
    "read_hex_key",
    "read_secret",
    "replace_file",
    "write_secret",
]
