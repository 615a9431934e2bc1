"""Locators: where a document's claim or a phone's account lives, kept in the key store.

Each test runs on a real SQLite file and a real PostgreSQL schema; two store objects
on one database stand for two processes.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from healthcard.adapters.privacy.kek import FileKeyEncryptionKey, GenerationUnavailable
from healthcard.adapters.privacy.sql_keystore import _context
from healthcard.testing.keystores import KeyStoreBackend

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def row_of(backend: KeyStoreBackend, natural: UUID) -> tuple[object, ...] | None:
    rows = [row for row in backend.rows() if str(row[0]) == str(natural)]
    return rows[0] if rows else None


def test_racing_first_uses_of_a_natural_key_all_get_one_stream(
    backend: KeyStoreBackend, kek_folder: Path
) -> None:
    kek = FileKeyEncryptionKey(kek_folder)
    stores = [backend.open(kek), backend.open(FileKeyEncryptionKey(kek_folder))]
    natural = uuid4()
    got: list[UUID] = []
    start = threading.Barrier(8)

    def first_use(index: int) -> None:
        start.wait()
        got.append(stores[index % 2].locate_or_assign(natural, uuid4()))

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(got) == 8
    assert len(set(got)) == 1
    assert stores[0].locate(natural) == stores[1].locate(natural) == got[0]


def test_forget_deletes_only_while_it_leads_to_the_stream_and_leaves_no_tombstone(
    backend: KeyStoreBackend,
) -> None:
    store = backend.open()
    natural, first = uuid4(), uuid4()
    assert store.locate(natural) is None
    assert store.locate_or_assign(natural, first) == first
    assert store.locate_or_assign(natural, uuid4()) == first
    assert not store.forget(natural, uuid4())  # it leads elsewhere: kept
    assert store.locate(natural) == first
    assert store.forget(natural, first)
    assert store.locate(natural) is None
    assert row_of(backend, natural) is None  # no row says this natural key was here
    assert not store.is_erased(natural)
    second = uuid4()
    assert store.locate_or_assign(natural, second) == second


def test_a_moved_locator_is_seen_by_another_process_at_once(backend: KeyStoreBackend) -> None:
    """Locators are never cached: a process that went on reading an old one would
    claim a stream that another process has closed and moved past."""
    mover, reader = backend.open(), backend.open(cache_ttl=60.0)
    natural, first, second = uuid4(), uuid4(), uuid4()
    mover.locate_or_assign(natural, first)
    assert reader.locate(natural) == first
    assert mover.forget(natural, first)
    assert reader.locate(natural) is None
    mover.locate_or_assign(natural, second)
    assert reader.locate(natural) == second


def test_locators_are_wrapped_rotated_and_unreadable_in_old_copies_once_destroyed(
    backend: KeyStoreBackend, kek_folder: Path
) -> None:
    kek = FileKeyEncryptionKey(kek_folder)
    store = backend.open(kek)
    natural, stream = uuid4(), uuid4()
    store.locate_or_assign(natural, stream)
    old = row_of(backend, natural)
    assert old is not None
    _, stored, generation = old
    assert stream.bytes not in bytes(stored)  # only the wrapped form reaches the table
    store.rotate(at=T0, retention=timedelta(0))
    assert store.locate(natural) == stream
    now = row_of(backend, natural)
    assert now is not None
    assert now[2] != generation
    with pytest.raises(GenerationUnavailable):  # the copy taken before the rotation
        kek.unwrap(str(generation), bytes(stored), _context(natural))
