"""Export of the event log (or a filtered slice) to JSONL, CSV or Parquet, streaming.

Why streaming: a production log has millions of events; the export reads the log in
batches (:class:`~healthcard.analytics.log.LogReader`) and writes each batch out
before reading the next (one Parquet row group per batch), so memory stays flat
whatever the size of the log.

Why masked by default: an export leaves the system (a laptop, a notebook, a data
warehouse) and holds many people at once. Unless the caller passes ``clear=True`` (an
explicit, greppable opt-in), rows are masked by the export's k rules
(:func:`~healthcard.adapters.privacy.masking.mask_export_state`): names, phones and
national ids starred, a resident ID reduced to its province, an age band instead of a
birth date, and no keyed-hash id of a document or account anywhere (the
``originator_id`` and ``originator_version`` of document-claim and account events are
``None``), so that every row points to a group of at least ``EXPORT_K`` people.

Why pseudonyms on request: a masked export still names cards, appointments and
requests by the ids the system uses (a QR token names the card; the read models and
the embedding app's logs use the others), which joins it to data outside the export.
``pseudonymise=True`` replaces them by HMAC-SHA256 pseudonyms under a salt drawn
afresh for the export, so two exports cannot be joined by them; a caller who wants to
join exports passes the same ``salt`` (:func:`load_salt`). The salt is never written
into the export.

One row per event, the same columns in every format:

``position`` (order in the log), ``timestamp``, ``topic``, ``event_type``,
``originator_id``, ``originator_version``, ``card_id`` (the card the event is about,
if any), ``actor``, ``channel``, ``institution``, ``correlation_id``, and ``data``:
the event's own fields (JSON; an object in JSONL, text in CSV and Parquet).

The file appears only when complete: it is written beside the target as
``<name>.partial`` and renamed at the end, so a failed export leaves no half file.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self
from uuid import UUID

import orjson
from eventsourcing.application import Application

from healthcard.adapters.log_reader import DEFAULT_BATCH
from healthcard.adapters.privacy.masking import (
    mask_export_state,
    originator_is_keyed,
    sealed_reference_fields,
)
from healthcard.adapters.secret_files import create_private_file, read_secret, write_secret
from healthcard.analytics.log import LogFilter, LogReader, LogRecord, Progress, is_card_topic
from healthcard.domain.clock import china_date
from healthcard.domain.errors import InvalidInput

COLUMNS: tuple[str, ...] = (
    "position",
    "timestamp",
    "topic",
    "event_type",
    "originator_id",
    "originator_version",
    "card_id",
    "actor",
    "channel",
    "institution",
    "correlation_id",
    "data",
)
Row = dict[str, Any]


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote."""

    path: Path
    format: ExportFormat
    rows: int
    masked: bool
    last_position: int
    pseudonymised: bool = False


SALT_BYTES = 32
"""Size of a fresh pseudonym salt (the HMAC-SHA256 key)."""
MIN_SALT_BYTES = 16
"""Shortest salt a salt file may hold: shorter ones could be searched."""
PSEUDONYMISED_FIELDS = ("card_id", "appointment_id")
"""Fields of ``data`` that name a card or an appointment, pseudonymised like the columns."""


class Pseudonyms:
    """Per-export pseudonyms: HMAC-SHA256 of an id under a salt, shown as a UUID.

    Why a UUID: the columns keep their type, so joins and filters an analyst writes for
    a plain export work on a pseudonymised one. The same id gives the same pseudonym
    in every row and column of one export (a card's ``originator_id`` and the
    ``card_id`` of its appointments still match); without the salt a pseudonym cannot
    be traced back to the id, nor matched with another export's.
    """

    def __init__(self, salt: bytes) -> None:
        if len(salt) < MIN_SALT_BYTES:
            raise InvalidInput("salt", f"must be at least {MIN_SALT_BYTES} bytes")
        self._salt = salt

    def __repr__(self) -> str:
        return "Pseudonyms(salt=<hidden>)"

    def __call__(self, value: str | None) -> str | None:
        if value is None:
            return None
        with contextlib.suppress(ValueError):  # one id, one pseudonym, however written
            value = str(UUID(value))
        digest = hmac.new(self._salt, f"pseudonym\x00{value}".encode(), hashlib.sha256).digest()
        raw = bytearray(digest[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom (RFC 9562)
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC variant
        return str(UUID(bytes=bytes(raw)))


def fresh_salt() -> bytes:
    """A salt nobody else has: two exports pseudonymised with fresh salts share no
    pseudonym."""
    return secrets.token_bytes(SALT_BYTES)


def load_salt(path: Path) -> bytes:
    """The salt kept in ``path`` (hex text), created there (mode 0600) when missing.

    Why a file: exports that must be joined (this month's and last month's) need the
    same salt, and a salt typed on a command line would end in the shell history.
    The file is refused unless private (``InsecureKeyFile``), like every key file.
    """
    if not path.exists():
        try:
            write_secret(path, fresh_salt().hex().encode() + b"\n")
        except FileExistsError:
            pass  # another export created it meanwhile: use theirs
        except OSError as error:
            raise InvalidInput(
                "pseudonym_salt_file", f"cannot create the salt file ({error.strerror})"
            ) from None
    content = read_secret(path)
    try:
        salt = bytes.fromhex(content.decode("ascii").strip())
    except ValueError:  # UnicodeDecodeError included
        raise InvalidInput("pseudonym_salt_file", "must hold the salt as hex text") from None
    if len(salt) < MIN_SALT_BYTES:
        raise InvalidInput(
            "pseudonym_salt_file", f"must hold at least {2 * MIN_SALT_BYTES} hex characters"
        )
    return salt


def to_row(record: LogRecord, *, clear: bool = False, pseudonyms: Pseudonyms | None = None) -> Row:
    """One export row from one log record: masked by the export's k rules unless
    ``clear``; card, appointment and correlation ids replaced by ``pseudonyms``."""
    state = record.state
    audit = state.get("audit") or {}
    data = {k: v for k, v in state.items() if k not in ("timestamp", "audit")}
    event_class = record.event_class
    originator: str | None = str(record.originator_id)
    version: int | None = record.originator_version
    if not clear:
        data = mask_export_state(event_class, data, on=china_date(record.timestamp))
        if originator_is_keyed(event_class):
            # The id is a keyed hash of a document or phone; the version would count the
            # cards of a household's account.
            originator = version = None
    card_id = None if record.card_id is None else str(record.card_id)
    if not clear and "card_id" in sealed_reference_fields(event_class):
        card_id = None  # which card an account holds is personal (sealed in the log)
    correlation_id = audit.get("correlation_id")
    if pseudonyms is not None:
        if is_card_topic(record.topic):
            originator = pseudonyms(originator)
        card_id = pseudonyms(card_id)
        correlation_id = pseudonyms(correlation_id)
        for name in PSEUDONYMISED_FIELDS:
            if isinstance(data.get(name), str):
                data[name] = pseudonyms(data[name])
    return {
        "position": record.position,
        "timestamp": state["timestamp"],
        "topic": record.topic,
        "event_type": record.event_type,
        "originator_id": originator,
        "originator_version": version,
        "card_id": card_id,
        "actor": audit.get("actor"),
        "channel": audit.get("channel"),
        "institution": audit.get("institution"),
        "correlation_id": correlation_id,
        "data": data,
    }


class RowWriter(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    """One JSON object per line (UTF-8, ``data`` nested)."""

    def __init__(self, path: Path) -> None:
        self.file: IO[bytes] = path.open("wb")

    def write(self, rows: list[Row]) -> None:
        self.file.write(b"".join(orjson.dumps(row) + b"\n" for row in rows))

    def close(self) -> None:
        self.file.close()


class CsvWriter:
    """RFC 4180 CSV with a header; ``data`` is JSON text."""

    def __init__(self, path: Path) -> None:
        self.file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(COLUMNS)

    def write(self, rows: list[Row]) -> None:
        self.writer.writerows(
            [
                *(row[c] for c in COLUMNS[:-1]),
                orjson.dumps(row["data"]).decode(),
            ]
            for row in rows
        )

    def close(self) -> None:
        self.file.close()


class ParquetWriter:
    """Parquet (zstd) with a fixed schema, one row group per batch (nothing buffered:
    larger row groups cost memory for little gain at these row sizes). ``timestamp``
    is a timezone-aware timestamp (Asia/Shanghai)."""

    def __init__(self, path: Path) -> None:
        try:
            import pyarrow as pa  # type: ignore[import-untyped]
            import pyarrow.parquet as pq  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - the analytics extra is not installed
            raise RuntimeError(
                "Parquet export needs pyarrow: pip install 'healthcard[analytics]'"
            ) from None
        self.pa = pa
        self.schema = pa.schema(
            [
                ("position", pa.int64()),
                ("timestamp", pa.timestamp("us", tz="Asia/Shanghai")),
                ("topic", pa.string()),
                ("event_type", pa.string()),
                ("originator_id", pa.string()),
                ("originator_version", pa.int64()),
                ("card_id", pa.string()),
                ("actor", pa.string()),
                ("channel", pa.string()),
                ("institution", pa.string()),
                ("correlation_id", pa.string()),
                ("data", pa.string()),
            ]
        )
        self.writer = pq.ParquetWriter(
            str(path),
            self.schema,
            compression="zstd",
            use_dictionary=["topic", "event_type", "actor", "channel", "institution"],
        )

    def write(self, rows: list[Row]) -> None:
        if not rows:
            return
        pa = self.pa
        columns: dict[str, Any] = {name: [row[name] for row in rows] for name in COLUMNS[:-1]}
        columns["data"] = [orjson.dumps(row["data"]).decode() for row in rows]
        timestamps = pa.array(columns.pop("timestamp"), pa.string())
        arrays = []
        for field in self.schema:
            if field.name == "timestamp":
                arrays.append(timestamps.cast(field.type))
            else:
                arrays.append(pa.array(columns[field.name], field.type))
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self.writer.write_table(pa.Table.from_batches([batch]), row_group_size=len(rows))

    def close(self) -> None:
        self.writer.close()


WRITERS: dict[ExportFormat, Callable[[Path], RowWriter]] = {
    ExportFormat.JSONL: JsonlWriter,
    ExportFormat.CSV: CsvWriter,
    ExportFormat.PARQUET: ParquetWriter,
}


def format_for(path: Path) -> ExportFormat:
    """The format named by a file's suffix (``.jsonl``, ``.csv``, ``.parquet``)."""
    try:
        return ExportFormat(path.suffix.lstrip(".").lower())
    except ValueError:
        raise InvalidInput(
            "format", "cannot tell the export format from the file's suffix: give --format"
        ) from None


class _PartialFile:
    """Write to ``<path>.partial``; rename on success, delete on failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


def write_rows(
    records: Iterable[LogRecord],
    out: Path,
    fmt: ExportFormat,
    *,
    clear: bool = False,
    batch_size: int = DEFAULT_BATCH,
    pseudonyms: Pseudonyms | None = None,
) -> tuple[int, int]:
    """Write ``records`` to ``out`` in batches; returns (rows, last position)."""
    if clear and pseudonyms is not None:
        raise InvalidInput("pseudonymise", "pseudonyms are for masked exports, not clear ones")
    rows = 0
    last = 0
    with _PartialFile(out) as target:
        if clear:  # personal data in clear: the file is the owner's alone
            target.partial.unlink(missing_ok=True)
            create_private_file(target.partial)
        writer = WRITERS[fmt](target.partial)
        try:
            batch: list[Row] = []
            for record in records:
                batch.append(to_row(record, clear=clear, pseudonyms=pseudonyms))
                if len(batch) >= batch_size:
                    writer.write(batch)
                    rows += len(batch)
                    last = batch[-1]["position"]
                    batch = []
            if batch:
                writer.write(batch)
                rows += len(batch)
                last = batch[-1]["position"]
        finally:
            writer.close()
    return rows, last


def export_log(
    app: Application[UUID],
    out: Path,
    fmt: ExportFormat | None = None,
    flt: LogFilter | None = None,
    *,
    clear: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    pseudonymise: bool = False,
    salt: bytes | None = None,
) -> ExportSummary:
    """Export the log (or the slice ``flt`` selects) of ``app`` to ``out``.

    ``fmt`` defaults to the file's suffix. Personal data is masked unless
    ``clear=True``. ``pseudonymise=True`` replaces card, appointment and correlation
    ids by pseudonyms under a fresh salt, or under ``salt`` when given (which implies
    it), to join this export with others made with the same salt. ``progress`` is
    called with the log position reached after each batch read (compare with
    ``LogReader(app).max_position()``).
    """
    chosen = fmt if fmt is not None else format_for(out)
    pseudonyms = None
    if pseudonymise or salt is not None:
        pseudonyms = Pseudonyms(salt if salt is not None else fresh_salt())
    if clear and pseudonyms is not None:
        raise InvalidInput("pseudonymise", "pseudonyms are for masked exports, not clear ones")
    reader = LogReader(app, batch_size=batch_size)
    records = reader.records(flt, progress=progress)
    rows, last = write_rows(
        records, out, chosen, clear=clear, batch_size=batch_size, pseudonyms=pseudonyms
    )
    return ExportSummary(out, chosen, rows, not clear, last, pseudonyms is not None)


__all__ = [
    "COLUMNS",
    "MIN_SALT_BYTES",
    "PSEUDONYMISED_FIELDS",
    "SALT_BYTES",
    "ExportFormat",
    "ExportSummary",
    "Pseudonyms",
    "export_log",
    "format_for",
    "fresh_salt",
    "load_salt",
    "to_row",
    "write_rows",
]
