"""Searching stored bytes for a person's data: the privacy tests' eyes.

Why in the kit: "nothing personal is readable in the database" can only be tested by
looking at what lies on disk (the SQLite file and its WAL; PostgreSQL's dump, heap
pages and WAL) for every form a value takes when stored (UTF-8, JSON escapes, lower
case, UTF-16, the phone in E.164). A search must also be shown to find clear data (a
guard), or it proves nothing; the tests that use this module do both.

PostgreSQL hides bytes from a naive search in three ways, and each search here undoes
them: ``pg_dump`` writes ``bytea`` (the events' state) hex-encoded, so
:func:`pg_dump_bytes` decodes every hex literal (and inflates zlib, which eventsourcing
applies when ``COMPRESSOR_TOPIC`` is set); an UPDATE or DELETE leaves the old row
version in the table's pages until VACUUM, where no query or dump sees it, so
:func:`pg_heap_bytes` reads the raw pages (TOAST and indexes too, and each tuple's
values decompressed); and the WAL keeps every row version written, so
:func:`pg_wal_bytes` reads the server's segment files.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import struct
import subprocess
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from healthcard.application import HealthCardApp
from healthcard.application.commands import BindCard, CompleteIdentity, RegisterCard
from healthcard.domain.audit import Audit
from healthcard.domain.identity import with_check_character

_AREAS = ("110105", "310104", "440305", "510104")
"""County codes the resident ID validation knows (Beijing, Shanghai, Shenzhen, Chengdu)."""


@dataclass(frozen=True, slots=True)
class Persona:
    """A synthetic person whose data the privacy tests look for."""

    name: str = "欧阳娜娜"
    document: str = "11010519491231002X"
    phone: str = "13912345678"
    birth_date: date = date(1949, 12, 31)
    sex: str = "2"

    @classmethod
    def unique(cls) -> Persona:
        """A person of random but valid values (name, resident ID, mobile number).

        Why: the WAL is shared by every database of the server, and tests run in
        parallel, some planting a persona in clear on purpose (the guards). A search
        that must find nothing is only sound for values no other test writes.
        """
        rng = secrets.SystemRandom()
        name = "".join(chr(rng.randrange(0x4E00, 0x9FA6)) for _ in range(4))
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(24_000))
        order = rng.randrange(1000)
        document = with_check_character(f"{rng.choice(_AREAS)}{born:%Y%m%d}{order:03d}")
        return cls(
            name=name,
            document=document,
            phone=f"139{rng.randrange(10**8):08d}",
            birth_date=born,
            sex="1" if order % 2 else "2",
        )

    def encodings(self) -> list[bytes]:
        """Every stored form of the person's name, document number and phone."""
        return encodings(self.name, self.document, self.phone, phone=self.phone)

    def hits(self, blob: bytes) -> list[bytes]:
        """The forms of the person's data found in ``blob`` (empty: none)."""
        return [needle for needle in self.encodings() if needle in blob]

    def register(self, app: HealthCardApp, audit: Audit) -> UUID:
        """Register, complete identity and bind the person's own phone account."""
        card_id = app.register(RegisterCard(audit=audit, name=self.name, phone=self.phone))
        app.complete_identity(
            CompleteIdentity(
                audit=audit,
                card_id=card_id,
                document={"type": "01", "number": self.document},
                name=self.name,
                sex=self.sex,
                birth_date=self.birth_date,
            )
        )
        app.bind(
            BindCard(
                audit=audit,
                card_id=card_id,
                account={"kind": "phone", "identifier": self.phone},
                relation="01",
            )
        )
        return card_id


def encodings(*values: str, phone: str | None = None) -> list[bytes]:
    """Each value as UTF-8, JSON-escaped ASCII, lower case and UTF-16; ``phone`` also
    in its E.164 form."""
    out: list[bytes] = []
    for value in values:
        out.append(value.encode())
        out.append(json.dumps(value).strip('"').encode())  # \\uXXXX escapes
        out.append(value.lower().encode())
        out.append(value.encode("utf-16-le"))
    if phone is not None:
        out.append(f"+86{phone}".encode())
    return [b for b in out if b]


def sqlite_bytes(path: Path) -> bytes:
    """A SQLite database file with its WAL, shared-memory and journal files, as on disk."""
    blob = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            blob += candidate.read_bytes()
    return blob


# -- decoding -------------------------------------------------------------------------

_BYTEA_HEX = re.compile(rb"\\{1,2}x((?:[0-9a-fA-F]{2})+)")
r"""A bytea hex literal: ``\\x...`` in COPY data (the backslash escaped), ``\x...`` in
INSERT statements and array literals."""

_ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
"""The first two bytes of a zlib stream, for each compression level."""

_MAX_INFLATED = 64 << 20
"""Bound of one inflated value (a test's data is far smaller)."""


def inflated(value: bytes) -> bytes | None:
    """``value`` inflated when it is a whole zlib (or gzip) stream, else None.

    Why: eventsourcing's ``ZlibCompressor`` (``COMPRESSOR_TOPIC``) stores an event's
    state as a zlib stream, in which no clear value is visible byte for byte.
    """
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: zlib or gzip header
    try:
        out = inflater.decompress(value, _MAX_INFLATED)
    except zlib.error:
        return None
    return out if inflater.eof else None


def inflate_embedded(blob: bytes) -> bytes:
    """Every zlib stream found anywhere inside ``blob``, inflated, joined by newlines.

    Why: in raw storage (a WAL record, a tuple with its header) a compressed state has
    no known boundaries; each place that starts like a zlib stream is tried.
    """
    view = memoryview(blob)
    found: list[bytes] = []
    for header in _ZLIB_HEADERS:
        start = blob.find(header)
        while start != -1:
            inflater = zlib.decompressobj()
            try:
                out = inflater.decompress(view[start:], _MAX_INFLATED)
            except zlib.error:
                out = b""
            if out and inflater.eof:
                found.append(out)
            start = blob.find(header, start + 1)
    return b"\n".join(found)


def decode_bytea_literals(text: bytes) -> bytes:
    r"""Every bytea hex literal in ``text`` (a dump) decoded to raw bytes, each followed
    by its inflated form when it is a zlib stream, joined by newlines.

    Why: ``pg_dump`` writes bytea as hex (``\\x4b...`` in COPY data), so a search of
    the dump's text never sees what an event's state holds.
    """
    out: list[bytes] = []
    for match in _BYTEA_HEX.finditer(text):
        raw = bytes.fromhex(match.group(1).decode("ascii"))
        out.append(raw)
        plain = inflated(raw)
        if plain is not None:
            out.append(plain)
    return b"\n".join(out)


# -- pg_dump --------------------------------------------------------------------------


def pg_dump(
    dbname: str,
    schema: str,
    host: str,
    port: int,
    user: str,
    *,
    password: str = "",
    timeout: float = 120.0,
) -> bytes:
    """``pg_dump`` of one schema (plain SQL text, as an operator would take it).

    Its bytea values are hex text: search :func:`pg_dump_bytes` instead.
    """
    env = {**os.environ, "PGPASSWORD": password} if password else None
    return subprocess.run(  # noqa: S603
        ["pg_dump", "-h", host, "-p", str(port), "-U", user, "-n", schema, dbname],  # noqa: S607
        check=True,
        capture_output=True,
        env=env,
        timeout=timeout,
    ).stdout


def pg_dump_bytes(conninfo: Mapping[str, Any], schema: str) -> bytes:
    """``pg_dump`` of ``schema`` followed by what its bytea columns hold, decoded.

    Why: the dump writes bytea (the events' state, the keys) hex-encoded, which no
    search for a person's data can match; appended here are each hex literal's raw
    bytes and, for a zlib stream (``COMPRESSOR_TOPIC``), its inflated bytes. Only live
    rows are in a dump: old row versions are in :func:`pg_heap_bytes`.
    """
    dump = pg_dump(
        str(conninfo["dbname"]),
        schema,
        str(conninfo.get("host", "127.0.0.1")),
        int(conninfo.get("port", 5432)),
        str(conninfo.get("user", "postgres")),
        password=str(conninfo.get("password", "")),
    )
    return dump + b"\n" + decode_bytea_literals(dump)


# -- heap pages -----------------------------------------------------------------------


def _connect(conninfo: Mapping[str, Any]) -> psycopg.Connection[Any]:
    conn = psycopg.connect(**{"connect_timeout": 10, **conninfo}, autocommit=True)
    conn.execute("SET statement_timeout = '120s'")
    return conn


def _ensure_extension(conn: psycopg.Connection[Any], name: str) -> None:
    """Create extension ``name`` in the connection's database unless it is there."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (name,)).fetchone():
        return
    # UniqueViolation: a concurrent session created it meanwhile.
    with suppress(psycopg.errors.UniqueViolation):
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))


def pg_schema_tables(conninfo: Mapping[str, Any], schema: str) -> list[str]:
    """The tables (and materialised views) of ``schema``, as qualified names."""
    with _connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'm') ORDER BY 1",
            (schema,),
        ).fetchall()
    return [str(row[0]) for row in rows]


def _relations(conn: psycopg.Connection[Any], tables: Iterable[str]) -> list[tuple[int, str]]:
    """Each table, its TOAST table and the indexes of both, as (oid, relkind)."""
    found: dict[int, str] = {}
    for table in tables:
        row = conn.execute(
            "SELECT c.oid::int8, c.relkind::text, c.reltoastrelid::int8 FROM pg_class c"
            " WHERE c.oid = %s::regclass",
            (table,),
        ).fetchone()
        if row is None:
            raise LookupError(f"no relation {table!r}")
        oid, kind, toast = int(row[0]), str(row[1]), int(row[2])
        found[oid] = kind
        owners = [oid]
        if toast:
            found[toast] = "t"
            owners.append(toast)
        for index in conn.execute(
            "SELECT indexrelid::int8 FROM pg_index WHERE indrelid = ANY(%s::oid[])", (owners,)
        ).fetchall():
            found[int(index[0])] = "i"
    return sorted(found.items())


_SPLIT = (
    "SELECT lp, tuple_data_split(%s::oid, t_data, t_infomask, t_infomask2, t_bits, %s)"
    " FROM heap_page_items(%s) WHERE t_data IS NOT NULL"
)


def _tuple_values(conn: psycopg.Connection[Any], oid: int, page: bytes) -> list[bytes]:
    """The values of every tuple on a heap page, dead ones included: detoasted (TOAST
    fetched, pglz inflated) where PostgreSQL can, else as stored."""
    try:
        rows = conn.execute(_SPLIT, (oid, True, page)).fetchall()
    except psycopg.Error:
        # One tuple cannot be detoasted (a dead one whose TOAST chunks are gone): the
        # others one by one, that one as stored.
        rows = []
        items = conn.execute(
            "SELECT lp FROM heap_page_items(%s) WHERE t_data IS NOT NULL", (page,)
        ).fetchall()
        for (lp,) in items:
            for detoast in (True, False):
                try:
                    rows += conn.execute(_SPLIT + " AND lp = %s", (oid, detoast, page, lp))
                    break
                except psycopg.Error:
                    continue
    values: list[bytes] = []
    for _lp, attributes in rows:
        values += [bytes(value) for value in attributes or () if value is not None]
    return values


def pg_heap_bytes(conninfo: Mapping[str, Any], tables: Iterable[str]) -> bytes:
    """The raw pages of ``tables``, their TOAST tables and their indexes, then every
    heap tuple's values decoded, as PostgreSQL holds them now (``pageinspect``).

    Why: an UPDATE or DELETE leaves the old row version (a dead tuple) in the page
    until VACUUM reclaims it; no query or dump shows it, but it lies on disk. Read
    through the buffer manager, the pages include changes not yet written out. Each
    tuple's values are added detoasted (a value over about 2 kB is compressed with
    pglz or cut into TOAST chunks, hiding it from a byte search) and, when a value is
    a zlib stream, inflated. Creates ``pageinspect`` in the connection's database if
    missing (superuser): give a test its own database (:func:`pg_own_database`).
    """
    out: list[bytes] = []
    with _connect(conninfo) as conn:
        _ensure_extension(conn, "pageinspect")
        for oid, kind in _relations(conn, tables):
            size = conn.execute(
                "SELECT pg_relation_size(%s::oid) / current_setting('block_size')::int8",
                (oid,),
            ).fetchone()
            blocks = int(size[0]) if size else 0
            for block in range(blocks):
                row = conn.execute(
                    "SELECT get_raw_page(%s::oid::regclass::text, 'main', %s)", (oid, block)
                ).fetchone()
                if row is None:
                    continue
                page = bytes(row[0])
                out.append(page)
                if kind in ("r", "m", "t"):
                    for value in _tuple_values(conn, oid, page):
                        out.append(value)
                        plain = inflate_embedded(value)
                        if plain:
                            out.append(plain)
    return b"\n".join(out)


# -- WAL ------------------------------------------------------------------------------

_SHORT_PAGE_HEADER = 24
"""``SizeOfXLogShortPHD``: magic, info, timeline, page address, remaining length."""
_LONG_PAGE_HEADER = 40
"""``SizeOfXLogLongPHD``: the first page of a segment also holds the system id and sizes."""


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def pg_current_wal_lsn(conninfo: Mapping[str, Any]) -> str:
    """The server's current WAL write position (``pg_current_wal_lsn()``), as text."""
    with _connect(conninfo) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


@dataclass(frozen=True, slots=True)
class _WalLayout:
    directory: Path
    timeline: int
    segment_size: int
    block_size: int
    system_id: int


def _wal_layout(conn: psycopg.Connection[Any]) -> _WalLayout:
    row = conn.execute(
        "SELECT current_setting('data_directory'),"
        " (SELECT setting::int8 FROM pg_settings WHERE name = 'wal_segment_size'),"
        " (SELECT setting::int8 FROM pg_settings WHERE name = 'wal_block_size'),"
        " (SELECT timeline_id::int8 FROM pg_control_checkpoint()),"
        " (SELECT system_identifier::text FROM pg_control_system())"
    ).fetchone()
    assert row is not None
    return _WalLayout(
        directory=Path(str(row[0])) / "pg_wal",
        segment_size=int(row[1]),
        block_size=int(row[2]),
        timeline=int(row[3]),
        system_id=int(row[4]),
    )


def _segment_name(layout: _WalLayout, segment: int) -> str:
    per_id = 0x1_0000_0000 // layout.segment_size
    return f"{layout.timeline:08X}{segment // per_id:08X}{segment % per_id:08X}"


class WalRecycled(RuntimeError):
    """A WAL page no longer holds the records asked for: the segment was recycled."""


def pg_wal_bytes(
    conninfo: Mapping[str, Any], since_lsn: str, until_lsn: str | None = None
) -> bytes:
    """The WAL written from ``since_lsn`` to ``until_lsn`` (the current position by
    default), read from the server's segment files, page headers cut out so a record
    crossing a page is whole again; followed by every zlib stream in it, inflated.

    Why the files: WAL keeps every row version a transaction wrote (an erased key's
    INSERT too) after VACUUM has cleaned the table, and ``pg_walinspect`` in
    PostgreSQL 15 shows records' metadata only (block data needs PostgreSQL 16),
    ``pg_waldump`` no data at all. The WAL is the server's, shared by all its
    databases: search it for values unique to the test (:meth:`Persona.unique`).
    Values PostgreSQL compressed itself (pglz, over about 2 kB) are not inflated
    here; the dump and the heap search see them. Skips the test when the segment
    files cannot be read (a server on another machine, no permission); raises
    :class:`WalRecycled` when a page was overwritten (hold a :func:`pg_wal_window`).
    """
    with _connect(conninfo) as conn:
        layout = _wal_layout(conn)
        if until_lsn is None:
            # A transaction that writes WAL, committed synchronously, flushes the WAL up
            # to its commit record: every record inserted before it is then in the files
            # (a record nobody waited for, a non-transactional message, may not be yet).
            conn.execute("SET synchronous_commit = on")
            conn.execute("SELECT pg_logical_emit_message(true, 'healthcard-leaks-flush', '')")
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None
            until_lsn = str(row[0])
    start, end = _lsn(since_lsn), _lsn(until_lsn)
    if not os.access(layout.directory, os.R_OK | os.X_OK):
        import pytest

        pytest.skip(
            f"the server's WAL files ({layout.directory}) are not readable here:"
            " the server runs elsewhere or this user lacks permission"
        )
    out = bytearray()
    block = layout.block_size
    page_lsn = start - start % block
    opened: dict[int, Any] = {}
    try:
        while page_lsn < end:
            segment, offset = divmod(page_lsn, layout.segment_size)
            if segment not in opened:
                path = layout.directory / _segment_name(layout, segment)
                try:
                    opened[segment] = path.open("rb")
                except FileNotFoundError as exc:
                    raise WalRecycled(f"WAL segment {path.name} is gone") from exc
                first = opened[segment].read(_LONG_PAGE_HEADER)
                (system_id,) = struct.unpack_from("<Q", first, _SHORT_PAGE_HEADER)
                if system_id != layout.system_id:
                    raise WalRecycled(f"{path} belongs to another server")
            handle = opened[segment]
            handle.seek(offset)
            page = handle.read(block)
            (address,) = struct.unpack_from("<Q", page, 8)
            if address != page_lsn:
                raise WalRecycled(f"WAL page {page_lsn:X} holds page {address:X}")
            header = _LONG_PAGE_HEADER if offset == 0 else _SHORT_PAGE_HEADER
            out += page[max(header, start - page_lsn) : min(block, end - page_lsn)]
            page_lsn += block
    finally:
        for handle in opened.values():
            handle.close()
    raw = bytes(out)
    return raw + b"\n" + inflate_embedded(raw)


@dataclass(frozen=True, slots=True)
class WalWindow:
    """The WAL from ``start`` (a test's beginning) on; :meth:`read` returns it so far."""

    conninfo: Mapping[str, Any] = field(repr=False)
    start: str

    def read(self) -> bytes:
        """:func:`pg_wal_bytes` from ``start`` to now."""
        return pg_wal_bytes(self.conninfo, self.start)


@contextmanager
def pg_wal_window(conninfo: Mapping[str, Any]) -> Iterator[WalWindow]:
    """The WAL written while the block runs, kept from recycling meanwhile.

    Why the slot: a checkpoint recycles the segments before it, and a busy shared
    server can checkpoint during a test. A temporary physical replication slot, which
    reserves WAL at once, keeps them; PostgreSQL drops it with its session, even when
    the test process dies. Without a free slot the window still works, and a read of
    recycled pages raises :class:`WalRecycled` rather than passing on other data.
    """
    conn = _connect(conninfo)
    try:
        slot = f"healthcard_leaks_{uuid.uuid4().hex[:16]}"
        with suppress(psycopg.Error):  # no free slot (max_replication_slots): see above
            conn.execute("SELECT pg_create_physical_replication_slot(%s, true, true)", (slot,))
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        yield WalWindow(conninfo=dict(conninfo), start=str(row[0]))
    finally:
        conn.close()


__all__ = [
    "Persona",
    "WalRecycled",
    "WalWindow",
    "decode_bytea_literals",
    "encodings",
    "inflate_embedded",
    "inflated",
    "pg_current_wal_lsn",
    "pg_dump",
    "pg_dump_bytes",
    "pg_heap_bytes",
    "pg_schema_tables",
    "pg_wal_bytes",
    "pg_wal_window",
    "sqlite_bytes",
]
