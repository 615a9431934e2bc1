"""Guards of the PostgreSQL leak searches: each one finds a person's data stored in clear.

The privacy tests assert that ``pg_dump_bytes``, ``pg_heap_bytes`` and ``pg_wal_bytes``
find *nothing* of a person; that is worth something only if the same functions do find
the data when it is there, in each form it can take on PostgreSQL: bytea (hex in a
dump), a zlib stream (eventsourcing's ``COMPRESSOR_TOPIC``), a dead row version left
by an UPDATE or DELETE, a value PostgreSQL compressed (pglz) or moved to TOAST, and a
WAL record that crosses a WAL page. The last test stores real events with sealing
turned off and shows that the searches the privacy tests use report the person.
Every test has a database of its own, dropped afterwards; every persona is unique.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Iterator

import orjson
import pytest

from healthcard.adapters.privacy.sealing import PersonalDataCodec
from healthcard.domain.audit import Audit
from healthcard.testing.leaks import (
    Persona,
    decode_bytea_literals,
    inflate_embedded,
    pg_dump,
    pg_dump_bytes,
    pg_heap_bytes,
    pg_schema_tables,
    pg_wal_window,
)
from healthcard.testing.postgres import PostgresServer, traces_of_registration

ZLIB = "eventsourcing.compressor:ZlibCompressor"


@pytest.fixture
def own_pg(pg_server: PostgresServer) -> Iterator[PostgresServer]:
    """A database of this test's own (pageinspect goes in it), dropped afterwards."""
    with pg_server.own_database() as server:
        yield server


def _clear(person: Persona) -> bytes:
    """The person's name, document and phone as UTF-8 text, as a careless store keeps it."""
    return f"{person.name} {person.document} +86{person.phone}".encode()


def _packed(person: Persona) -> bytes:
    """The person in a zlib-compressed JSON document, as ``ZlibCompressor`` stores state."""
    return zlib.compress(orjson.dumps({"name": person.name, "document": person.document}))


def _found_whole(person: Persona, blob: bytes) -> bool:
    """Name, document and phone (E.164) all found in ``blob``."""
    hits = set(person.hits(blob))
    return {person.name.encode(), person.document.encode(), f"+86{person.phone}".encode()} <= hits


def test_decoding_reads_both_hex_forms_and_inflates_zlib() -> None:
    person, packed = Persona.unique(), Persona.unique()
    copy_line = (
        b"1\t\\\\x" + _clear(person).hex().encode() + b"\t\\\\x" + _packed(packed).hex().encode()
    )
    insert = b"INSERT INTO t VALUES ('\\x" + _clear(packed).hex().encode() + b"');"
    assert person.hits(copy_line + insert) == []  # hex text hides everything
    decoded = decode_bytea_literals(copy_line + b"\n" + insert)
    assert _found_whole(person, decoded)
    assert _found_whole(packed, decoded)
    # zlib streams inside other bytes (a WAL record, a tuple with its header):
    embedded = inflate_embedded(b"\x00\x01header" + _packed(person) + b"trailing\x78\x9c")
    assert person.name.encode() in embedded
    assert person.name.encode() not in _packed(person)  # found only inflated


@pytest.mark.postgres
def test_decoded_dump_finds_clear_and_zlib_packed_bytea(own_pg: PostgresServer) -> None:
    clear, packed = Persona.unique(), Persona.unique()
    conninfo = own_pg.conninfo()
    with own_pg.connect() as conn:
        conn.execute("CREATE TABLE planted (id int PRIMARY KEY, raw bytea, packed bytea)")
        conn.execute("INSERT INTO planted VALUES (1, %s, %s)", (_clear(clear), _packed(packed)))
    plain = pg_dump(conninfo["dbname"], "public", own_pg.host, own_pg.port, own_pg.user)
    assert b"planted" in plain
    # The old search: pg_dump's text shows bytea as hex, so neither person is seen.
    assert clear.hits(plain) == []
    assert packed.hits(plain) == []
    dumped = pg_dump_bytes(conninfo, "public")
    assert _found_whole(clear, dumped)
    assert {packed.name.encode(), packed.document.encode()} <= set(packed.hits(dumped))


@pytest.mark.postgres
def test_heap_pages_find_dead_row_versions_compressed_and_toasted_values(
    own_pg: PostgresServer,
) -> None:
    updated, deleted, pglz, toasted, packed = (Persona.unique() for _ in range(5))
    conninfo = own_pg.conninfo()
    with own_pg.connect() as conn:
        conn.execute("CREATE TABLE planted (id int PRIMARY KEY, v bytea)")
        conn.execute("CREATE TABLE external (v bytea)")
        conn.execute("ALTER TABLE external ALTER COLUMN v SET STORAGE EXTERNAL")
        filler = b"the same words again and again " * 200  # compressible: pglz inline
        conn.execute(
            "INSERT INTO planted VALUES (1, %s), (2, %s), (3, %s), (4, %s)",
            (_clear(updated), _clear(deleted), filler + _clear(pglz) + filler, _packed(packed)),
        )
        conn.execute("UPDATE planted SET v = 'nothing personal' WHERE id = 1")
        conn.execute("DELETE FROM planted WHERE id = 2")
        # Out of line, uncompressed, cut into ~2 kB TOAST chunks: random bytes around it.
        big = secrets.token_bytes(5000) + _clear(toasted) + secrets.token_bytes(5000)
        conn.execute("INSERT INTO external VALUES (%s)", (big,))
        compression = conn.execute("SELECT pg_column_compression(v) FROM planted WHERE id = 3")
        assert compression.fetchone() == ("pglz",)
        toast = conn.execute(
            "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'external'::regclass"
        ).fetchone()
        assert toast is not None
        assert toast[0] > 0
    dumped = pg_dump_bytes(conninfo, "public")
    assert updated.hits(dumped) == []  # the dump shows live rows only
    assert deleted.hits(dumped) == []
    heap = pg_heap_bytes(conninfo, pg_schema_tables(conninfo, "public"))
    for person in (updated, deleted, pglz, toasted):
        assert _found_whole(person, heap)
    assert {packed.name.encode(), packed.document.encode()} <= set(packed.hits(heap))


@pytest.mark.postgres
def test_wal_finds_what_was_written_since_the_window_opened(own_pg: PostgresServer) -> None:
    clear, packed = Persona.unique(), Persona.unique()
    conninfo = own_pg.conninfo()
    # Longer than a WAL page (8 kB): found whole only if the page headers are cut out.
    # Non-transactional, so nothing flushes it but the read's own flush.
    message = secrets.token_bytes(20_000)
    with own_pg.connect() as conn:
        conn.execute("CREATE TABLE planted (id int PRIMARY KEY, raw bytea, packed bytea)")
        with pg_wal_window(conninfo) as wal:
            conn.execute("INSERT INTO planted VALUES (1, %s, %s)", (_clear(clear), _packed(packed)))
            conn.execute("SELECT pg_logical_emit_message(false, 'leak-guard', %s)", (message,))
            written = wal.read()
    assert _found_whole(clear, written)
    assert {packed.name.encode(), packed.document.encode()} <= set(packed.hits(written))
    assert message in written


@pytest.mark.postgres
@pytest.mark.parametrize("compressor", ["", ZLIB], ids=["plain", "zlib"])
def test_searches_find_the_person_in_real_events_when_sealing_is_off(
    own_pg: PostgresServer, audit: Audit, compressor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Personal fields left clear on purpose: every search the privacy tests use reports
    the person, in the dump, the heap pages and the WAL."""

    def leave_clear(self: PersonalDataCodec, *args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(PersonalDataCodec, "seal", leave_clear)
    person = Persona.unique()
    traces = traces_of_registration(own_pg, person, audit, compressor=compressor)
    assert _found_whole(person, traces.dump)
    assert _found_whole(person, traces.heap)
    assert _found_whole(person, traces.wal)
