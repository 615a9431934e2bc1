"""Where commands write: the files and folders they are told to create.

Why checks before the work: a mistyped output path (a folder that does not exist, a
file where a folder should be, a folder where a file should be) is found only when
the file is opened, often after the whole log was read or a whole day simulated, and
then as a traceback. Looked at first, it costs nothing and ends in one line naming
the path and the option (:func:`check_output_file`, :func:`check_output_folder`).
What no look can tell (no permission, a full disk) fails when written, and
:func:`writing` turns that ``OSError`` into the same one line.

And one mistake would destroy data: an export written over the log it reads (or
over its key or its read models) replaces it. :func:`check_not_log_file` refuses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from healthcard.adapters.persistence import SQLITE_COMPANIONS, key_file_for
from healthcard.cli.errors import cannot_run
from healthcard.readmodels import views_path_for


def cannot_write(path: Path, option: str, error: OSError) -> NoReturn:
    """End the command: writing ``path`` (given as ``option``) failed with ``error``."""
    cannot_run(f"cannot write {path} ({option}): {error.strerror or error}")


@contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """Run a block that writes ``path`` (given as ``option``): an ``OSError`` in it ends
    the command in one line naming ``path``.

    Only around writing: what a command reads comes through SQLite or the library's
    checked readers, which raise their own errors, so an ``OSError`` here is the
    output's (no permission, no space, a name the file system refuses).
    """
    try:
        yield
    except OSError as error:
        cannot_write(path, option, error)


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the working folder at worst)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()  # pragma: no cover (a relative path's last parent is ".")


def check_output_file(path: Path, option: str) -> None:
    """Refuse a file the command cannot create or replace: a folder, or a file whose
    folder does not exist (it is not created) or is a file."""
    if path.is_dir():
        cannot_run(f"cannot write {path} ({option}): it is a directory")
    folder = path.parent
    found = _first_existing(folder)
    if not found.is_dir():
        cannot_run(f"cannot write {path} ({option}): {found} is a file, not a folder")
    if found != folder:
        cannot_run(f"cannot write {path} ({option}): no folder {folder}")


def check_output_folder(folder: Path, option: str) -> None:
    """Refuse a folder the command cannot create or write into: one that is a file,
    or lies under a file (missing folders are created)."""
    found = _first_existing(folder)
    if not found.is_dir():
        where = "it is a file" if found == folder else f"{found} is a file, not a folder"
        cannot_run(f"cannot write into {folder} ({option}): {where}")


def make_output_folder(folder: Path, option: str) -> None:
    """Create ``folder`` (and its parents) now, so a folder that cannot be made stops
    the command before its work rather than after."""
    check_output_folder(folder, option)
    with writing(folder, option):
        folder.mkdir(parents=True, exist_ok=True)


def log_files(db: Path) -> set[Path]:
    """The files of a SQLite event log: the log, its WAL files, its key, its views."""
    views = views_path_for(db)
    files = {db, key_file_for(db), views}
    files |= {Path(f"{base}{suffix}") for base in (db, views) for suffix in SQLITE_COMPANIONS}
    return {Path(os.path.realpath(path)) for path in files}


def check_not_log_file(path: Path, db: Path | None, option: str) -> None:
    """Refuse to write ``path`` when it is one of the files of the log ``db`` (the log
    being read would be replaced by the output)."""
    if db is not None and Path(os.path.realpath(path)) in log_files(db):
        cannot_run(f"cannot write {path} ({option}): it is a file of the event log {db}")


__all__ = [
    "cannot_write",
    "check_not_log_file",
    "check_output_file",
    "check_output_folder",
    "log_files",
    "make_output_folder",
    "writing",
]
