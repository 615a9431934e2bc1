"""The key-encryption key: wraps per-person keys by generation; destroyed means gone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from healthcard.adapters.privacy import kek as kek_module
from healthcard.adapters.privacy.kek import (
    KEK_STATE_FILE,
    FileKeyEncryptionKey,
    GenerationUnavailable,
    InMemoryKeyEncryptionKey,
    KeyEncryptionKey,
)
from healthcard.adapters.privacy.keystore import new_key
from healthcard.domain.errors import ConfigurationError, InsecureKeyFile


@pytest.fixture
def folder(kek_folder: Path) -> Path:
    return kek_folder


@pytest.fixture(params=["memory", "file"])
def kek(request: pytest.FixtureRequest, folder: Path) -> KeyEncryptionKey:
    if request.param == "memory":
        return InMemoryKeyEncryptionKey()
    return FileKeyEncryptionKey(folder)


def test_a_wrapped_key_opens_only_under_its_generation_and_subject(kek: KeyEncryptionKey) -> None:
    key = new_key()
    (first,) = kek.generations()
    wrapped = kek.wrap(first, key, b"subject-a")
    assert key not in wrapped
    assert kek.unwrap(first, wrapped, b"subject-a") == key
    with pytest.raises(ValueError, match="does not open"):
        kek.unwrap(first, wrapped, b"subject-b")  # moved onto another person's row
    second = kek.create()
    assert kek.generations() == (first, second)
    with pytest.raises(ValueError, match="does not open"):
        kek.unwrap(second, wrapped, b"subject-a")


def test_a_destroyed_generation_cannot_unwrap_and_destroying_twice_is_harmless(
    kek: KeyEncryptionKey,
) -> None:
    (first,) = kek.generations()
    wrapped = kek.wrap(first, new_key(), b"s")
    kek.create()
    kek.destroy(first)
    kek.destroy(first)
    assert first not in kek.generations()
    with pytest.raises(GenerationUnavailable) as excinfo:
        kek.unwrap(first, wrapped, b"s")
    assert excinfo.value.generation == first


def test_the_file_kek_deletes_the_destroyed_generation_file(folder: Path) -> None:
    kek = FileKeyEncryptionKey(folder)
    (first,) = kek.generations()
    kek.create()
    assert (folder / f"kek-{first}.key").exists()
    kek.destroy(first)
    assert not (folder / f"kek-{first}.key").exists()
    listed = json.loads((folder / KEK_STATE_FILE).read_text(encoding="utf-8"))["generations"]
    assert first not in listed


def test_another_process_sees_a_new_generation_when_it_first_meets_it(folder: Path) -> None:
    reader, rotator = FileKeyEncryptionKey(folder), FileKeyEncryptionKey(folder)
    key = new_key()
    newer = rotator.create()
    wrapped = rotator.wrap(newer, key, b"s")
    assert newer not in reader.generations()
    assert reader.unwrap(newer, wrapped, b"s") == key


def test_a_generation_destroyed_while_another_process_reloads_is_left_out(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader lists the generations, then the rotator destroys the oldest (kek.json
    first, then the file), then the reader opens that file: the reader goes on with
    the generations that remain instead of failing on the one that went."""
    reader, rotator = FileKeyEncryptionKey(folder), FileKeyEncryptionKey(folder)
    (oldest,) = rotator.generations()
    newer = rotator.create()
    read_key = kek_module._read_key

    def destroyed_meanwhile(where: Path, generation: str) -> bytes:
        if generation == oldest:
            rotator.destroy(oldest)
        return read_key(where, generation)

    monkeypatch.setattr(kek_module, "_read_key", destroyed_meanwhile)
    key = new_key()
    assert reader.unwrap(newer, rotator.wrap(newer, key, b"s"), b"s") == key
    assert reader.generations() == (newer,)


def test_new_files_are_private_and_a_readable_one_is_refused(folder: Path) -> None:
    kek = FileKeyEncryptionKey(folder)
    newer = kek.create()
    for name in (KEK_STATE_FILE, f"kek-{newer}.key"):
        assert os.stat(folder / name).st_mode & 0o777 == 0o600
    (folder / f"kek-{newer}.key").chmod(0o644)
    with pytest.raises(InsecureKeyFile):
        FileKeyEncryptionKey(folder)


@pytest.mark.parametrize(
    "state",
    [
        "not json",
        '{"format": "other/1", "generations": []}',
        '{"format": "healthcard.kek/1", "generations": []}',
        '{"format": "healthcard.kek/1", "generations": ["../../etc/passwd"]}',
    ],
    ids=["not-json", "wrong-format", "empty", "path-in-name"],
)
def test_a_bad_state_file_is_a_typed_error_naming_the_file(folder: Path, state: str) -> None:
    (folder / KEK_STATE_FILE).write_text(state, encoding="utf-8")
    with pytest.raises(ConfigurationError) as excinfo:
        FileKeyEncryptionKey(folder)
    assert KEK_STATE_FILE in str(excinfo.value)
    assert excinfo.value.field == "key_file"
