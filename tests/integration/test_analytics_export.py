"""Exports: every event once, in log order, the same columns in every format, personal
data masked by the export's k rules unless ``clear=True``, no keyed-hash id and no part
of a national id in a masked export, pseudonyms on request (stable within an export,
never shared between two unless the salt is), filters honoured, and no half-written
file.

The sample log is written on an encrypted SQLite file with personal fields sealed,
so the export goes through the whole decoding stack.
"""

from __future__ import annotations

import csv
import os
import stat
from collections import Counter
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
from healthcard.adapters.privacy.masking import (
    age_band,
    mask_state,
    originator_is_keyed,
    sealed_reference_fields,
)
from healthcard.analytics.export import (
    COLUMNS,
    ExportFormat,
    export_log,
    format_for,
    load_salt,
    write_rows,
)
from healthcard.analytics.log import LogFilter, LogReader, LogRecord
from healthcard.domain.clock import china_date
from healthcard.domain.errors import InsecureKeyFile, InvalidInput
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
        # Sealed references (the account a card was bound to, the card an account
        # holds) are ids, not texts; their own rule (None when masked) is tested below.
        references = sealed_reference_fields(type(event))
        for name in personal_fields(type(event)) - references:
            value = dumped.get(name)
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "type"}  # the type code is public
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
            version = row["originator_version"]
            row["originator_version"] = int(version) if version else None
            for column in ("originator_id", "card_id", "correlation_id"):
                row[column] = row[column] or None
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
        if originator_is_keyed(type(event)):  # a keyed hash of a document or phone
            assert (row["originator_id"], row["originator_version"]) == (None, None)
        else:
            assert row["originator_id"] == str(event.originator_id)
            assert row["originator_version"] == event.originator_version
        assert row["event_type"] == type(event).__name__
        assert row["channel"] == event.audit.channel.value
        assert row["actor"] == event.audit.actor
        assert row["correlation_id"] == str(event.audit.correlation_id)
        assert datetime.fromisoformat(row["timestamp"]) == event.timestamp
        about = event.originator_id if type(event).__module__.endswith("card") else None
        if "card_id" not in sealed_reference_fields(type(event)):  # else masked: None
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
    assert "欧" not in text  # not even the first character of a name
    masked_names = {r["data"]["name"] for r in read_rows(masked_file, fmt) if "name" in r["data"]}
    assert masked_names == {"***"}
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
    records = LogReader(app).records(LogFilter(card_id=ids["alice"]))
    # Account events name her card sealed: a masked row leaves their card_id empty.
    expected = sum(1 for r in records if "card_id" not in sealed_reference_fields(r.event_class))
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


# -- the k rules, keyed ids and national ids -------------------------------------------


def keyed_and_national_ids(app: HealthCardApp) -> set[str]:
    """Every keyed-hash id (document claims, accounts) and national id in the log."""
    found: set[str] = set()
    for _, event in reference(app):
        if originator_is_keyed(type(event)):
            found.add(str(event.originator_id))
        for name in ("account_id", "main_index_id", "ehc_id"):
            value = getattr(event, name, None)
            if value is not None:
                found.add(str(value))
    return found


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_a_masked_export_holds_no_keyed_id_and_no_part_of_a_national_id(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path, fmt: ExportFormat
) -> None:
    app, _ = logged
    ids = keyed_and_national_ids(app)
    assert any(len(value) == 64 for value in ids)  # an EHC ID or main index ID
    assert any(len(value) == 36 for value in ids)  # a claim or account id
    out = tmp_path / f"masked.{fmt.value}"
    export_log(app, out)
    text = repr(pq.read_table(out).to_pylist()) if fmt is ExportFormat.PARQUET else out.read_text()
    assert sorted(value for value in ids if value in text) == []
    # Nor the 3 + 4 characters a desk mask kept of the long ones.
    parts = sorted(v for v in ids if len(v) == 64 and f"{v[:3]}****{v[-4:]}" in text)
    assert parts == []
    completed = [r for r in read_rows(out, fmt) if r["event_type"] == "IdentityCompleted"]
    assert completed
    assert {(r["data"]["main_index_id"], r["data"]["ehc_id"]) for r in completed} == {
        ("***", "***")
    }


def test_a_masked_export_keeps_the_province_and_an_age_band_only(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    app, _ = logged
    export_log(app, tmp_path / "masked.jsonl")
    export_log(app, tmp_path / "clear.jsonl", clear=True)
    masked = read_rows(tmp_path / "masked.jsonl", ExportFormat.JSONL)
    clear = read_rows(tmp_path / "clear.jsonl", ExportFormat.JSONL)
    checked = 0
    for hidden, shown in zip(masked, clear, strict=True):
        if hidden["event_type"] == "Registered":
            assert hidden["data"]["name"] == "***"
            assert hidden["data"]["phone"] in ("***", None), "starred, or never given"
        if hidden["event_type"] != "IdentityCompleted":
            continue
        number = shown["data"]["document"]["number"]
        born = date.fromisoformat(shown["data"]["birth_date"])
        on = china_date(datetime.fromisoformat(shown["timestamp"]))
        assert hidden["data"]["document"] == {"type": "01", "number": number[:2] + "*" * 16}
        assert hidden["data"]["birth_date"] == "****-**-**"
        assert hidden["data"]["age_band"] == age_band(born, on)
        assert str(born.year) not in orjson.dumps(hidden["data"]).decode()
        checked += 1
    assert checked == 2


# -- pseudonyms -------------------------------------------------------------------------

ID_COLUMNS = ("originator_id", "card_id", "correlation_id")


def pairs(shown: list[dict[str, Any]], hidden: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(id, what the pseudonymised export shows for it) for every card, appointment and
    correlation id, row by row."""
    found: set[tuple[str, str]] = set()
    for plain, pseudo in zip(shown, hidden, strict=True):
        assert plain["position"] == pseudo["position"]
        for column in ID_COLUMNS:
            if plain[column] is not None:
                found.add((plain[column], pseudo[column]))
        for name in ("card_id", "appointment_id"):
            if plain["data"].get(name) is not None:
                found.add((plain["data"][name], pseudo["data"][name]))
    return found


def export_rows(
    app: HealthCardApp, out: Path, fmt: ExportFormat = ExportFormat.JSONL, **options: Any
) -> list[dict[str, Any]]:
    export_log(app, out, fmt, **options)
    return read_rows(out, fmt)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_pseudonyms_replace_card_appointment_and_correlation_ids_consistently(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path, fmt: ExportFormat
) -> None:
    app, ids = logged
    plain = export_rows(app, tmp_path / f"plain.{fmt.value}", fmt)
    out = tmp_path / f"pseudo.{fmt.value}"
    summary = export_log(app, out, fmt, pseudonymise=True)
    assert summary.pseudonymised
    assert summary.masked
    pseudo = read_rows(out, fmt)
    found = pairs(plain, pseudo)
    sessions = {r["originator_id"] for r in plain if r["topic"].startswith("healthcard.session")}
    renamed = {(plain_id, shown) for plain_id, shown in found if plain_id not in sessions}
    one_each = dict(renamed)
    assert len(one_each) == len(renamed), "an id got two pseudonyms"
    assert len(set(one_each.values())) == len(one_each), "two ids got one pseudonym"
    assert all(plain_id != shown for plain_id, shown in renamed)
    text = repr(pseudo)
    assert sorted(plain_id for plain_id in one_each if plain_id in text) == []
    assert str(ids["alice"]) in one_each
    # Session ids (public facts: department, doctor, day, period) stay as they are.
    assert all(plain_id == shown for plain_id, shown in found if plain_id in sessions)
    # The rows of a card still join: the same count of rows per (pseudonymous) card.
    assert sorted(Counter(r["card_id"] for r in plain).values()) == sorted(
        Counter(r["card_id"] for r in pseudo).values()
    )


def test_two_exports_share_no_pseudonym_unless_they_share_a_salt_file(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    app, _ = logged
    plain = export_rows(app, tmp_path / "plain.jsonl")
    first = dict(pairs(plain, export_rows(app, tmp_path / "a.jsonl", pseudonymise=True)))
    second = dict(pairs(plain, export_rows(app, tmp_path / "b.jsonl", pseudonymise=True)))
    changed = {plain_id for plain_id, shown in first.items() if plain_id != shown}
    assert changed
    assert {first[i] for i in changed}.isdisjoint(second[i] for i in changed)

    salt_file = tmp_path / "salt"
    joined = [
        dict(pairs(plain, export_rows(app, tmp_path / f"{n}.jsonl", salt=load_salt(salt_file))))
        for n in ("c", "d")
    ]
    assert stat.S_IMODE(os.stat(salt_file).st_mode) == 0o600
    assert joined[0] == joined[1]
    assert {joined[0][i] for i in changed}.isdisjoint(first[i] for i in changed)
    salt = load_salt(salt_file)
    written = (tmp_path / "c.jsonl").read_bytes()
    assert salt not in written
    assert salt.hex().encode() not in written
    assert salt.hex().upper().encode() not in written


def test_a_salt_file_is_refused_when_others_can_read_it_or_it_holds_no_salt(
    tmp_path: Path,
) -> None:
    salt_file = tmp_path / "salt"
    load_salt(salt_file)
    salt_file.chmod(0o644)
    with pytest.raises(InsecureKeyFile):
        load_salt(salt_file)
    for content in (b"not hex\n", b"00ff\n", b"\xff\xfe"):
        salt_file.unlink()
        salt_file.write_bytes(content)
        salt_file.chmod(0o600)
        with pytest.raises(InvalidInput) as refused:
            load_salt(salt_file)
        assert refused.value.field == "pseudonym_salt_file"
    with pytest.raises(InvalidInput) as refused:
        load_salt(tmp_path / "missing-folder" / "salt")
    assert refused.value.field == "pseudonym_salt_file"


def test_pseudonyms_are_for_masked_exports(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    app, _ = logged
    with pytest.raises(InvalidInput) as refused:
        export_log(app, tmp_path / "x.jsonl", clear=True, pseudonymise=True)
    assert refused.value.field == "pseudonymise"
    assert list(tmp_path.iterdir()) == []


def test_a_card_filter_still_selects_a_pseudonymised_card(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    app, ids = logged
    rows = export_rows(
        app, tmp_path / "bob.jsonl", flt=LogFilter(card_id=ids["bob"]), pseudonymise=True
    )
    assert len({r["card_id"] for r in rows}) == 1
    assert str(ids["bob"]) not in repr(rows)


def test_a_masked_export_never_says_which_card_an_account_holds(
    logged: tuple[HealthCardApp, dict[str, UUID]], tmp_path: Path
) -> None:
    """The card an account holds and the account a card was bound to are sealed in the
    log; a masked row shows neither (a clear export, asked for, shows both)."""
    app, ids = logged
    masked = export_rows(app, tmp_path / "masked.jsonl")
    clear = export_rows(app, tmp_path / "clear.jsonl", clear=True)
    by_position = {row["position"]: row for row in clear}
    referencing = [r for r in masked if r["event_type"] in ("CardAdded", "CardRemoved", "Bound")]
    assert {r["event_type"] for r in referencing} >= {"CardAdded", "Bound"}
    for row in referencing:
        shown = by_position[row["position"]]
        if row["event_type"] == "Bound":
            assert row["data"]["account_id"] is None
            assert shown["data"]["account_id"] is not None
        else:
            assert row["card_id"] is None
            assert row["data"]["card_id"] is None
            assert shown["card_id"] == shown["data"]["card_id"] is not None
    assert str(ids["alice"]) in {r["card_id"] for r in clear if r["event_type"] == "CardAdded"}
