"""Export of the event log (or a filtered slice) to JSONL, CSV or Parquet, streaming.

Why streaming: a production log has millions of events; the export reads the log in
batches (:class:`~healthcard.analytics.log.LogReader`) and writes each batch out
before reading the next (one Parquet row group per batch), so memory stays flat
whatever the size of the log.

Why masked by default: an export leaves the system (a laptop, a notebook, a data
warehouse). Personal fields are masked (``张*``, ``510***********1234``) unless the
caller passes ``clear=True``, an explicit, greppable opt-in.

One row per event, the same columns in every format:

``position`` (order in the log), ``timestamp``, ``topic``, ``event_type``,
``originator_id``, ``originator_version``, ``card_id`` (the card the event is about,
if any), ``actor``, ``channel``, ``institution``, ``correlation_id``, and ``data``:
the event's own fields (JSON; an object in JSONL, text in CSV and Parquet).

The file appears only when complete: it is written beside the target as
``<name>.partial`` and renamed at the end, so a failed export leaves no half file.
"""

from __future__ import annotations

import csv
import os
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
from healthcard.adapters.privacy.masking import mask_state
from healthcard.adapters.secret_files import create_private_file
from healthcard.analytics.log import LogFilter, LogReader, LogRecord, Progress
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


def to_row(record: LogRecord, *, clear: bool = False) -> Row:
    """One export row from one log record (personal fields masked unless ``clear``)."""
    state = record.state
    audit = state.get("audit") or {}
    data = {k: v for k, v in state.items() if k not in ("timestamp", "audit")}
    if not clear:
        data = mask_state(record.event_class, data)
    card_id = record.card_id
    return {
        "position": record.position,
        "timestamp": state["timestamp"],
        "topic": record.topic,
        "event_type": record.event_type,
        "originator_id": str(record.originator_id),
        "originator_version": record.originator_version,
        "card_id": None if card_id is None else str(card_id),
        "actor": audit.get("actor"),
        "channel": audit.get("channel"),
        "institution": audit.get("institution"),
        "correlation_id": audit.get("correlation_id"),
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
) -> tuple[int, int]:
    """Write ``records`` to ``out`` in batches; returns (rows, last position)."""
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
                batch.append(to_row(record, clear=clear))
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
) -> ExportSummary:
    """Export the log (or the slice ``flt`` selects) of ``app`` to ``out``.

    ``fmt`` defaults to the file's suffix. Personal data is masked unless
    ``clear=True``. ``progress`` is called with the log position reached after
    each batch read (compare with ``LogReader(app).max_position()``).
    """
    chosen = fmt if fmt is not None else format_for(out)
    reader = LogReader(app, batch_size=batch_size)
    records = reader.records(flt, progress=progress)
    rows, last = write_rows(records, out, chosen, clear=clear, batch_size=batch_size)
    return ExportSummary(out, chosen, rows, not clear, last)


__all__ = [
    "COLUMNS",
    "ExportFormat",
    "ExportSummary",
    "export_log",
    "format_for",
    "to_row",
    "write_rows",
]
