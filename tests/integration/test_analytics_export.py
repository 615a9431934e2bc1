"""Exports: every event once, in log order, the same columns in every format, personal
data masked unless ``clear=True``, filters honoured, and no half-written file.

The sample log is written on an encrypted SQLite file with personal fields sealed,
so the export goes through the whole decoding stack.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from healthcard import HealthCardApp
from healthcard.adapters.persistence import local_sqlite_env
from healthcard.adapters.privacy.masking import mask_state
from healthcard.analytics.export import (
    COLUMNS,
    ExportFormat,
    export_log,
    format_for,
    write_rows,
)
from healthcard.analytics.log import LogFilter, LogReader, LogRecord
from healthcard.domain.errors import InvalidInput
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import IdentityCompleted, Registered
from healthcard.domain.personal import personal_fields
from healthcard.testing import FakeClock
from healthcard.testing import strategies as hs
from healthcard.testing.world import Driver


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[HealthCardApp, dict[str, UUID]]]:
    db = tmp_path_factory.mktemp("export") / "events.sqlite3"
    clock = FakeClock()
    app = HealthCardApp(local_sqlite_env(db, create_key=True), clock=clock)
    driver = Driver(app)
    try:
        alice = driver.register(name="欧阳娜娜")
        bob = driver.register(name="李雷")
        alice_person = driver.complete_identity(alice)
        driver.complete_identity(bob)
        phone = driver.bind(alice)
        session = driver.publish()
        driver.book(session, alice)
        driver.book(session, bob)
        driver.check_in(session, alice_person)
        driver.use(alice, phone)
        driver.freeze(bob)
        yield app, {"alice": alice, "bob": bob}
    finally:
        app.close()


def reference(app: HealthCardApp) -> list[tuple[int, DomainEvent]]:
    out = []
    for notification in app.recorder.select_notifications(start=None, limit=10_000):
        event = app.mapper.to_domain_event(notification)
        assert isinstance(event, DomainEvent)
        out.append((notification.id, event))
    return out


def personal_texts(app: HealthCardApp) -> set[str]:
    """Every clear personal value (text leaves) in the log, for leak checks."""
    texts: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif (
            isinstance(value, str) and len(value) >= 2 and (len(value) >= 6 or not value.isdigit())
        ):
            texts.add(value)

    for _, event in reference(app):
        dumped = event.model_dump(mode="json")
        for name in personal_fields(type(event)):
            value = dumped.get(name)
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "type"}  # the type code is public
            if name == "birth_date" and isinstance(value, str):
                value = value[5:]  # the year stays on purpose; month-day must not
            collect(value)
    return texts


def read_rows(path: Path, fmt: ExportFormat) -> list[dict[str, Any]]:
    if fmt is ExportFormat.JSONL:
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]
    if fmt is ExportFormat.CSV:
        with path.open(encoding="utf-8", newline="") as handle:
            rows: list[dict[str, Any]] = list(csv.DictReader(handle))
        for row in rows:
            row["data"] = orjson.loads(row["data"])
            row["position"] = int(row["position"])
            row["originator_version"] = int(row["originator_version"])
            row["card_id"] = row["card_id"] or None
        return rows
    table = pq.read_table(path)
    rows = table.to_pylist()
    for row in rows:
        row["data"] = orjson.loads(row["data"])
        row["timestamp"] = row["timestamp"].isoformat()
    return rows


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_every_event_once_in_log_order_with_the_same_columns(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path, fmt: ExportFormat
) -> None:
    app, ids = logged
    out = tmp_path / f"log.{fmt.value}"
    summary = export_log(app, out, batch_size=3)
    expected = reference(app)
    rows = read_rows(out, fmt)
    assert summary.rows == len(expected) == len(rows)
    assert summary.format is fmt
    assert summary.masked
    assert summary.last_position == expected[-1][0]
    assert [r["position"] for r in rows] == [p for p, _ in expected]
    assert set(rows[0]) == set(COLUMNS)
    for row, (_, event) in zip(rows, expected, strict=True):
        assert row["originator_id"] == str(event.originator_id)
        assert row["originator_version"] == event.originator_version
        assert row["event_type"] == type(event).__name__
        assert row["channel"] == event.audit.channel.value
        assert row["actor"] == event.audit.actor
        assert row["correlation_id"] == str(event.audit.correlation_id)
        assert datetime.fromisoformat(row["timestamp"]) == event.timestamp
        about = event.originator_id if type(event).__module__.endswith("card") else None
        about = about or getattr(event, "card_id", None)
        assert row["card_id"] == (None if about is None else str(about))
    used = [r for r in rows if r["event_type"] == "CardUsed"]
    assert used[0]["data"]["step"] == "010102"
    assert used[0]["card_id"] == str(ids["alice"])


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_personal_data_is_masked_by_default_and_clear_on_request(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path, fmt: ExportFormat
) -> None:
    app, _ = logged
    secrets = personal_texts(app)
    assert "欧阳娜娜" in secrets
    assert any(len(s) == 18 for s in secrets)  # a resident ID number
    masked_file = tmp_path / f"masked.{fmt.value}"
    export_log(app, masked_file)
    if fmt is ExportFormat.PARQUET:
        text = repr(pq.read_table(masked_file).to_pylist())
    else:
        text = masked_file.read_text(encoding="utf-8")
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
    assert "欧***" in text
    clear_file = tmp_path / f"clear.{fmt.value}"
    summary = export_log(app, clear_file, clear=True)
    assert not summary.masked
    clear_rows = read_rows(clear_file, fmt)
    names = [r["data"].get("name") for r in clear_rows if r["event_type"] == "Registered"]
    assert "欧阳娜娜" in names
    clear_text = repr(clear_rows)
    assert all(s in clear_text for s in secrets)


def test_filters_select_the_slice(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    app, ids = logged
    flt = LogFilter.of(card_id=ids["bob"], types=["AppointmentMade", "Frozen", "Registered"])
    out = tmp_path / "bob.jsonl"
    summary = export_log(app, out, flt=flt)
    rows = read_rows(out, ExportFormat.JSONL)
    assert [r["event_type"] for r in rows] == ["Registered", "AppointmentMade", "Frozen"]
    assert {r["card_id"] for r in rows} == {str(ids["bob"])}
    assert summary.rows == 3


def test_parquet_has_typed_columns_and_duckdb_reads_it(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    app, ids = logged
    out = tmp_path / "log.parquet"
    export_log(app, out, batch_size=4)
    schema = pq.read_schema(out)
    assert str(schema.field("timestamp").type) == "timestamp[us, tz=Asia/Shanghai]"
    assert str(schema.field("position").type) == "int64"
    assert pq.ParquetFile(out).metadata.num_row_groups == -(-len(reference(app)) // 4)
    query = (
        "SELECT json_extract_string(data, '$.step') AS step, count(*) AS n "
        "FROM read_parquet(?) WHERE event_type = 'CardUsed' GROUP BY step"
    )
    assert duckdb.execute(query, [str(out)]).fetchall() == [("010102", 1)]
    per_card = duckdb.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE card_id = ?", [str(out), str(ids["alice"])]
    ).fetchall()[0][0]
    expected = sum(1 for _ in LogReader(app).records(LogFilter(card_id=ids["alice"])))
    assert per_card == expected


def test_a_failed_export_leaves_no_file(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    app, _ = logged

    def broken() -> Iterator[LogRecord]:
        records = LogReader(app).records()
        yield next(records)
        yield next(records)
        raise RuntimeError("disk full")

    out = tmp_path / "log.parquet"
    with pytest.raises(RuntimeError, match="disk full"):
        write_rows(broken(), out, ExportFormat.PARQUET, batch_size=1)
    assert list(tmp_path.iterdir()) == []


def test_the_format_comes_from_the_suffix() -> None:
    assert format_for(Path("x.Parquet")) is ExportFormat.PARQUET
    assert format_for(Path("x.jsonl")) is ExportFormat.JSONL
    with pytest.raises(InvalidInput, match="format"):
        format_for(Path("x.xlsx"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.persons(), hs.cn_mobile_numbers(style="e164"))
def test_masking_never_shows_a_whole_personal_value(person: hs.Person, phone: str) -> None:
    registered = {"issuer_mode": "production", "name": person.name, "phone": phone}
    masked = mask_state(Registered, registered)
    assert masked["name"] != person.name
    assert phone not in repr(masked)
    assert phone[3:] not in repr(masked)
    completed: dict[str, Any] = {
        "document": person.document.model_dump(mode="json"),
        "name": person.name,
        "sex": person.sex.value,
        "birth_date": person.birth_date.isoformat(),
        "verified_by": "H1",
        "main_index_id": "A1" * 32,
        "ehc_id": "B2" * 32,
    }
    text = repr(mask_state(IdentityCompleted, completed))
    assert person.document.number not in text
    assert person.birth_date.isoformat() not in text
    assert "A1" * 32 not in text
    assert "B2" * 32 not in text
    if len(person.name) > 1:
        assert person.name not in text
    assert str(person.birth_date.year) in text  # the year stays on purpose
    assert date.fromisoformat(completed["birth_date"]) == person.birth_date
