"""The ``healthcard`` command line: ``demo`` (in process and as the console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import healthcard
from healthcard import HealthCardApp
from healthcard.adapters.persistence import key_file_for, local_sqlite_env
from healthcard.cli import app, exits_on_domain_error
from healthcard.cli.demo import shows_progress
from healthcard.cli.progress import progress
from healthcard.domain.errors import FamilyCapReached
from healthcard.domain.events.card import Registered
from healthcard.domain.events.session import CheckedIn, SessionPublished

TITLES = (
    "Events written by topic",
    "Registrations by channel",
    "Cards: formal vs temporary",
    "Bindings per account",
    "Clinic sessions",
    "Refusals by error code",
    "Triage check-ins",
    "Card uses at points of care",
)
ARGS = ["demo", "--cards", "30", "--seed", "1"]


def _db_facts(db: Path) -> dict[str, Any]:
    """Figures read independently from the event log, and the personal data it holds."""
    store = HealthCardApp(local_sqlite_env(db))
    try:
        notifications = store.recorder.select_notifications(1, 1_000_000)
        topics = Counter(n.topic for n in notifications)
        events = [store.mapper.to_domain_event(n) for n in notifications]
        registered = [e for e in events if isinstance(e, Registered)]
        cards = [store.card(e.originator_id) for e in registered]
        sessions = {
            str(e.originator_id): store.session(e.originator_id)
            for e in events
            if isinstance(e, SessionPublished)
        }
        personal: set[str] = set()
        for card in cards:
            assert card.name is not None
            assert card.phone is not None
            personal |= {card.name, card.phone, card.phone.removeprefix("+86")}
            if card.document is not None:
                personal.add(card.document.number)
        return {
            "topics": dict(topics),
            "channels": Counter(card.channel.value for card in cards),
            "volunteers": sum(card.volunteer is not None for card in cards),
            "formal": sum(card.is_formal for card in cards),
            "temporary": sum(not card.is_formal for card in cards),
            "bindings": sum(len(card.accounts) for card in cards),
            "sessions": sessions,
            "personal": personal,
        }
    finally:
        store.close()


def _check_summary_against_db(summary: dict[str, Any], db: Path) -> dict[str, Any]:
    facts = _db_facts(db)
    assert summary["events"]["by_topic"] == facts["topics"]
    assert summary["events"]["total"] == sum(facts["topics"].values())
    assert summary["registrations"]["by_channel"] == dict(facts["channels"])
    assert summary["registrations"]["volunteer_assisted"] == facts["volunteers"] >= 1
    assert summary["cards_by_kind"] == {"formal": facts["formal"], "temporary": facts["temporary"]}
    assert summary["bindings"]["total"] == facts["bindings"]
    assert summary["bindings"]["accounts"] == facts["topics"]["healthcard.account.Opened"]
    assert summary["appointments"]["made"] == facts["topics"]["healthcard.session.AppointmentMade"]
    assert summary["check_ins"]["total"] == facts["topics"]["healthcard.session.CheckedIn"]
    assert summary["card_uses"]["total"] == facts["topics"]["healthcard.card.Used"] >= 1
    assert "010102" in summary["card_uses"]["by_step"]  # diagnosis at the doctor's
    assert summary["refusals"]["by_code"]["token_rejected"] == 1  # the replayed token
    assert {s["session_id"] for s in summary["sessions"]} == set(facts["sessions"])
    for figures in summary["sessions"]:
        session = facts["sessions"][figures["session_id"]]
        assert figures["capacity"] == session.capacity
        assert figures["booked"] == session.booked <= session.capacity
        assert figures["remaining"] == session.remaining
    assert set(summary["refusals"]["by_code"]) >= {
        "identity_incomplete",
        "session_full",
        "family_cap_reached",
    }
    return facts


def _check_output(output: str, personal: set[str]) -> None:
    for title in TITLES:
        assert title in output
    leaked = [value for value in personal if value in output]
    assert not leaked, f"{len(leaked)} personal values printed in clear"


def test_demo_in_process(tmp_path: Path) -> None:
    db, out = tmp_path / "day.sqlite3", tmp_path / "out"
    result = CliRunner().invoke(app, [*ARGS, "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary_text = (out / "summary.json").read_text(encoding="utf-8")
    facts = _check_summary_against_db(json.loads(summary_text), db)
    assert len(facts["personal"]) > 60  # names, phones and ID numbers were really checked
    _check_output(result.output, facts["personal"])
    _check_output_masks_something(result.output)
    assert not [value for value in facts["personal"] if value in summary_text]


def _check_output_masks_something(output: str) -> None:
    assert "*" in output  # masked names and account identifiers are shown
    assert "Deleted" not in output


def test_demo_as_installed_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "healthcard"
    assert script.exists(), f"console script not installed at {script}"
    db, out = tmp_path / "day.sqlite3", tmp_path / "out"
    completed = subprocess.run(  # noqa: S603 (our own console script, fixed arguments)
        [str(script), *ARGS, "--db", str(db), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    facts = _check_summary_against_db(summary, db)
    _check_output(completed.stdout + completed.stderr, facts["personal"])


def test_second_run_starts_a_fresh_log(tmp_path: Path) -> None:
    db = tmp_path / "day.sqlite3"
    runner = CliRunner()
    first = runner.invoke(app, [*ARGS, "--db", str(db), "--out", str(tmp_path / "a")])
    second = runner.invoke(app, [*ARGS, "--db", str(db), "--out", str(tmp_path / "b")])
    assert first.exit_code == second.exit_code == 0
    assert "Deleted the existing" in second.output
    assert "fresh log" in second.output
    a = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
    assert a == b  # same seed, same day, and the log holds one day only
    assert _db_facts(db)["topics"] == b["events"]["by_topic"]


def test_demo_refuses_to_delete_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("not a database", encoding="utf-8")
    result = CliRunner().invoke(app, ["demo", "--db", str(precious)])
    assert result.exit_code == 2
    assert precious.read_text(encoding="utf-8") == "not a database"


def test_demo_refuses_too_few_cards(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--db", str(tmp_path / "x.sqlite3"), "--cards", "3"])
    assert result.exit_code == 2
    assert not (tmp_path / "x.sqlite3").exists()


def test_demo_help_says_each_run_starts_fresh() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "one run is one simulated day" in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert healthcard.__version__ in result.output


def test_domain_errors_print_their_code_and_exit_2() -> None:
    probe = typer.Typer()

    @probe.command()
    @exits_on_domain_error
    def refuse(cap: int = 5) -> None:
        raise FamilyCapReached(cap)

    @probe.command()
    def other() -> None:
        """A second command, so that typer keeps command names."""

    result = CliRunner().invoke(probe, ["refuse", "--cap", "3"])
    assert result.exit_code == 2
    assert "error[family_cap_reached]: the account already holds 3 cards" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("cards", "shown"), [(40, False), (199, False), (200, True)])
def test_progress_bar_only_for_big_days(cards: int, shown: bool) -> None:
    assert shows_progress(cards) is shown
    terminal = Console(stderr=True, force_terminal=True)
    with progress("simulating", total=10, enabled=shown, console=terminal) as bar:
        bar.phase("registering", 10)
        assert (bar._bar is not None) is shown
        if bar._bar is not None:
            assert bar._bar.tasks[0].completed == 10
            assert bar._bar.tasks[0].description == "registering"


def test_no_progress_bar_where_stderr_is_no_terminal() -> None:
    """Piped or redirected, a bar is noise (and rich leaves an empty line behind)."""
    with progress("counting", console=Console(stderr=True, force_terminal=False)) as bar:
        assert bar._bar is None


def test_demo_log_is_encrypted_at_rest_with_a_private_key_file(tmp_path: Path) -> None:
    db = tmp_path / "day.sqlite3"
    result = CliRunner().invoke(app, [*ARGS, "--db", str(db)])
    assert result.exit_code == 0, result.output
    key_file = key_file_for(db)
    assert key_file.stat().st_mode & 0o777 == 0o600
    facts = _db_facts(db)
    raw = b"".join(
        Path(f"{db}{suffix}").read_bytes()
        for suffix in ("", "-wal")
        if Path(f"{db}{suffix}").exists()
    )
    assert b'"audit"' not in raw  # the event states are ciphertext
    leaked = [value for value in facts["personal"] if value.encode() in raw]
    assert leaked == []


def test_audit_lists_who_did_what_for_a_card(tmp_path: Path) -> None:
    db = tmp_path / "day.sqlite3"
    assert CliRunner().invoke(app, [*ARGS, "--db", str(db)]).exit_code == 0
    store = HealthCardApp(local_sqlite_env(db))
    try:
        checked_in = next(
            event
            for event in map(
                store.mapper.to_domain_event, store.recorder.select_notifications(1, 10**6)
            )
            if isinstance(event, CheckedIn)
        )
        card = store.card(checked_in.card_id)
        expected = len(list(store.events.get(card.id)))
    finally:
        store.close()
    result = CliRunner().invoke(app, ["audit", str(card.id), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    whats = [row["what"] for row in rows]
    assert whats.count("CheckedIn") == 1
    assert "AppointmentMade" in whats
    assert len(rows) == expected + whats.count("AppointmentMade") + whats.count(
        "CheckedIn"
    ) + whats.count("AppointmentCancelled")
    assert all(row["institution"] and row["channel"] and row["actor"] for row in rows)
    assert card.name is not None
    assert card.name not in result.output
    missing = CliRunner().invoke(app, ["audit", str(UUID(int=0)), "--db", str(db)])
    assert missing.exit_code == 2
    assert "error[card_not_found]" in missing.output


def test_demo_out_writes_qr_files_that_verify_offline(tmp_path: Path) -> None:
    db, out = tmp_path / "day.sqlite3", tmp_path / "out"
    result = CliRunner().invoke(app, [*ARGS, "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("qr-signed.png", "qr-signed.txt", "qr-national.png", "keys/public.json"):
        assert (out / name).stat().st_size > 0
    hint = next(line for line in result.output.splitlines() if line.startswith("Verify offline"))
    argv = hint.removeprefix("Verify offline: healthcard ").split()
    verified = CliRunner().invoke(app, argv)
    assert verified.exit_code == 0, verified.output
    claims = json.loads(verified.output)
    assert claims["mode"] == "test"
    production = CliRunner().invoke(app, [*argv[:-4], "--mode", "production", *argv[-2:]])
    assert production.exit_code == 1
    assert "test_token_in_production" in production.output
