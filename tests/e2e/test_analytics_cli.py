"""The analytics CLI commands (``history``, ``as-of``, ``export``, ``stats``) on a SQLite
log written the way the demo writes it (encrypted at rest, key file beside it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.persistence import local_sqlite_env
from healthcard.cli.analytics import COMMANDS, analytics_app, parse_time, register
from healthcard.testing import FakeClock
from healthcard.testing.world import Driver

runner = CliRunner()


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, object]]]:
    db = tmp_path_factory.mktemp("cli") / "events.sqlite3"
    clock = FakeClock()
    app = HealthCardApp(local_sqlite_env(db, create_key=True), clock=clock)
    try:
        d = Driver(app)
        card = d.register(name="欧阳娜娜")
        person = d.complete_identity(card)
        phone = d.bind(card)
        session = d.publish()
        d.book(session, card)
        d.check_in(session, person)
        d.use(card, phone)
        clock.advance(hours=3)
        d.freeze(card)
        other = d.register()
        yield db, {"card": card, "other": other, "number": person.document.number}
    finally:
        app.close()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(analytics_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_history_json_masked_and_related(log: tuple[Path, dict[str, object]]) -> None:
    db, ids = log
    code, out, _ = run("history", str(ids["card"]), "--db", str(db), "--json")
    assert code == 0
    entries = json.loads(out)
    assert [e["event_type"] for e in entries] == [
        "Registered",
        "IdentityCompleted",
        "Bound",
        "CardUsed",
        "Frozen",
    ]
    assert str(ids["number"]) not in out
    code, out, _ = run("history", str(ids["card"]), "--db", str(db), "--json", "--related")
    assert code == 0
    types = [e["event_type"] for e in json.loads(out)]
    assert "AppointmentMade" in types
    assert "CheckedIn" in types


def test_history_table_and_clear(log: tuple[Path, dict[str, object]]) -> None:
    db, ids = log
    code, out, _ = run("history", str(ids["card"]), "--db", str(db))
    assert code == 0
    assert "IdentityCompleted" in out
    assert "personal data masked" in out
    assert str(ids["number"]) not in out
    code, out, _ = run("history", str(ids["card"]), "--db", str(db), "--json", "--clear")
    assert str(ids["number"]) in out


def test_as_of_a_time_and_a_version(log: tuple[Path, dict[str, object]]) -> None:
    db, ids = log
    code, out, _ = run("as-of", str(ids["card"]), "2026-11-25T09:00", "--db", str(db), "--json")
    assert code == 0
    before_freeze = json.loads(out)
    assert before_freeze["status"] == "normal"
    assert before_freeze["kind"] == "formal"
    code, out, _ = run("as-of", str(ids["card"]), "2026-11-25", "--db", str(db), "--json")
    assert json.loads(out)["status"] == "frozen"  # a date means its end
    code, out, _ = run("as-of", str(ids["card"]), "--version", "1", "--db", str(db), "--json")
    first = json.loads(out)
    assert (first["version"], first["kind"]) == (1, "temporary")
    code, out, _ = run("as-of", str(ids["card"]), "--version", "2", "--db", str(db))
    assert code == 0
    assert "formal" in out


def test_as_of_before_the_card_existed_is_a_domain_error(
    log: tuple[Path, dict[str, object]],
) -> None:
    db, ids = log
    code, _, err = run("as-of", str(ids["card"]), "2026-11-24", "--db", str(db))
    assert code == 2
    assert err.startswith("error[card_not_found]")
    code, _, err = run("as-of", str(uuid4()), "--version", "1", "--db", str(db))
    assert code == 2
    code, _, err = run("as-of", str(ids["card"]), "--db", str(db))
    assert code == 2
    assert "either TIME or --version" in err


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_writes_the_file(
    log: tuple[Path, dict[str, object]], tmp_path: Path, fmt: str
) -> None:
    db, ids = log
    out = tmp_path / f"slice.{fmt}"
    code, stdout, _ = run(
        "export", "--format", fmt, "--out", str(out), "--db", str(db),
        "--card", str(ids["card"]), "--type", "Registered", "--type", "Frozen", "--json",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(stdout)
    assert summary["rows"] == 2
    assert summary["masked"] is True
    assert out.exists()
    if fmt == "parquet":
        assert pq.read_table(out).column("event_type").to_pylist() == ["Registered", "Frozen"]
    else:
        assert "欧阳娜娜" not in out.read_text(encoding="utf-8")


def test_export_filters_by_time_and_refuses_unknown_types(
    log: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    db, _ = log
    out = tmp_path / "later.jsonl"
    code, _, _ = run(
        "export", "--out", str(out), "--db", str(db), "--since", "2026-11-25T10:00", "--json"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["event_type"] for r in rows] == ["Frozen", "Registered"]
    code, _, err = run(
        "export", "--out", str(tmp_path / "x.jsonl"), "--db", str(db), "--type", "Nope"
    )
    assert code == 2
    assert "unknown event type" in err


def test_stats_json_and_tables(log: tuple[Path, dict[str, object]]) -> None:
    db, _ = log
    code, out, _ = run("stats", "--db", str(db), "--json", "--by", "channel")
    assert code == 0
    data = json.loads(out)
    assert data["total"]["counts"] == {
        "registered": 2,
        "identity_completed": 1,
        "bound": 1,
        "appointment": 1,
        "checked_in": 1,
        "seen": 1,
    }
    code, out, _ = run("stats", "--db", str(db), "--by", "day")
    assert code == 0
    assert "Funnel" in out
    assert "2026-11-25" in out
    assert "no-show rate" in out


def test_a_missing_log_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("stats", "--db", str(tmp_path / "nothing.sqlite3"))
    assert code == 2
    assert "no event log" in err
    assert not (tmp_path / "nothing.sqlite3").exists()


def test_commands_mount_on_another_typer_app() -> None:
    parent = typer.Typer()

    @parent.command()
    def version() -> None:
        """A command of the parent app."""

    register(parent)
    names = {command.name for command in parent.registered_commands}
    assert set(COMMANDS) <= names


def test_times_default_to_china_time() -> None:
    assert parse_time("2026-11-25T09:00").utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert parse_time("2026-11-25", end_of_day=True).isoformat().startswith("2026-11-25T23:59:59")
    with pytest.raises(typer.BadParameter):
        parse_time("yesterday")


def test_ids_are_uuids(log: tuple[Path, dict[str, object]]) -> None:
    db, _ = log
    code, _, _ = run("history", "not-a-uuid", "--db", str(db))
    assert code == 2


def keyed_ids_of(db: Path, card: object) -> set[str]:
    """The keyed-hash ids (account, document claim) a clear related history shows."""
    code, out, _ = run("history", str(card), "--db", str(db), "--json", "--clear", "--related")
    assert code == 0
    found: set[str] = set()
    for entry in json.loads(out):
        if entry["event_type"] in ("DocumentClaimed", "CardAdded", "AccountOpened"):
            found.add(entry["originator_id"])
        if entry["data"].get("account_id"):
            found.add(entry["data"]["account_id"])
    return found


def test_masked_history_and_as_of_show_no_keyed_id_and_no_part_of_the_ehc_id(
    log: tuple[Path, dict[str, object]],
) -> None:
    db, ids = log
    keyed = keyed_ids_of(db, ids["card"])
    assert len(keyed) >= 2  # the document claim and the phone account
    code, out, _ = run("history", str(ids["card"]), "--db", str(db), "--json", "--related")
    assert code == 0
    assert sorted(value for value in keyed if value in out) == []
    entries = json.loads(out)
    claimed = [e for e in entries if e["event_type"] == "DocumentClaimed"]
    assert [e["originator_id"] for e in claimed] == [None]
    completed = next(e for e in entries if e["event_type"] == "IdentityCompleted")
    assert (completed["data"]["ehc_id"], completed["data"]["main_index_id"]) == ("***", "***")
    code, out, _ = run("as-of", str(ids["card"]), "--version", "3", "--db", str(db), "--json")
    assert code == 0
    view = json.loads(out)
    assert sorted(value for value in keyed if value in out) == []
    assert view["ehc_id"] == "***"
    assert view["accounts"] == {"#1": "01"}


def test_export_pseudonymises_on_request_and_joins_only_with_the_same_salt_file(
    log: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    db, ids = log

    def export(name: str, *options: str) -> tuple[dict[str, object], list[dict[str, object]]]:
        out = tmp_path / name
        code, stdout, err = run("export", "--out", str(out), "--db", str(db), "--json", *options)
        assert code == 0, err
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        return json.loads(stdout), rows

    summary, first = export("a.jsonl", "--pseudonymise")
    assert summary["pseudonymised"] is True
    assert str(ids["card"]) not in repr(first)
    _, second = export("b.jsonl", "--pseudonymise")
    cards = [{row["card_id"] for row in rows} - {None} for rows in (first, second)]
    assert cards[0].isdisjoint(cards[1])

    salt_file = tmp_path / "exports.salt"
    summary, third = export("c.jsonl", "--pseudonym-salt-file", str(salt_file))
    assert summary["pseudonymised"] is True
    assert oct(salt_file.stat().st_mode & 0o777) == oct(0o600)
    salt = salt_file.read_text().strip()
    _, fourth = export("d.jsonl", "--pseudonym-salt-file", str(salt_file))
    assert [row["card_id"] for row in third] == [row["card_id"] for row in fourth]
    assert salt not in (tmp_path / "c.jsonl").read_text() + json.dumps(summary)


def test_export_refuses_pseudonyms_with_clear_and_an_open_salt_file(
    log: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    db, _ = log
    out = tmp_path / "x.jsonl"
    code, _, err = run("export", "--out", str(out), "--db", str(db), "--clear", "--pseudonymise")
    assert code == 2
    assert err.startswith("error[invalid_input]")
    assert "--pseudonymise" in err
    salt_file = tmp_path / "open.salt"
    salt_file.write_text("00" * 32)
    salt_file.chmod(0o644)
    code, _, err = run(
        "export", "--out", str(out), "--db", str(db), "--pseudonym-salt-file", str(salt_file)
    )
    assert code == 2
    assert err.startswith("error[insecure_key_file]")
    salt_file.chmod(0o600)
    salt_file.write_text("too short")
    code, _, err = run(
        "export", "--out", str(out), "--db", str(db), "--pseudonym-salt-file", str(salt_file)
    )
    assert code == 2
    assert err.startswith("error[invalid_input]")
    assert "pseudonym_salt_file" in err
    assert not out.exists()
