"""Hostile arguments and hostile stored values never make a ``healthcard`` command crash.

Every value that comes from the operator (a department, a file name) or from the log
(a department, a reason, an actor code, a photo reference, the ``[erased]``
placeholder) is shown as written: rich markup (``[red]``, ``[/x]``) and emoji codes
(``:smile:``) in it are data, not formatting. Arguments that make no sense (a date
that is not one, a time out of range, a folder or a text file as ``--db``, a card id
that is not a UUID) end with a one-line error and a non-zero status, never a
traceback.

What the boundary accepts decides how markup reaches the log: free text (a
department, a reason) and a photo reference may hold ``[`` and ``]``; codes (actor,
institution, doctor) hold ASCII letters, digits and ``-_.:`` only, so the markup
they can carry is an emoji code such as ``:smile:``.
"""

from __future__ import annotations

import io
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from click.testing import Result
from rich.console import Console
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import key_file_for, local_sqlite_env
from healthcard.application.commands import (
    CompleteIdentity,
    ErasePersonalData,
    PublishSession,
    RegisterCard,
)
from healthcard.cli import app
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind, PhotoRef
from healthcard.domain.clinic_values import Period
from healthcard.domain.relation import Relation
from healthcard.readmodels import views_path_for
from healthcard.simulation.render import render_report
from healthcard.simulation.report import AccountFigures, DayReport, SessionFigures
from healthcard.testing.world import Driver, person

runner = CliRunner()

DAY = "2026-11-25"
AT = "2026-11-25T12:00:00+08:00"
STORED_DEPARTMENT = "[red]x[/red]"
"""A department name (free text) that is rich markup; the boundary accepts it."""
STORED_REASON = "[/x]"
"""A freeze reason (free text) that would close a tag nobody opened."""
PHOTO_REF = "[bold]p[/x]"
"""A photo reference: any printable ASCII, so brackets too (personal: ``--clear`` shows it)."""
DOCTOR = "dr:smile:"
ACTOR = "staff:warning:"
INSTITUTION = "H510:hospital:"
"""Codes refuse ``[`` and ``]``; the markup they can hold is an emoji code."""


@dataclass(frozen=True)
class Log:
    db: Path
    card: UUID
    """Registered by ACTOR at INSTITUTION, with PHOTO_REF; booked in the session."""
    erased: UUID
    """Booked in the session, then erased: its name is the ``[erased]`` placeholder."""
    frozen: UUID
    """Frozen for STORED_REASON."""
    text_file: Path
    folder: Path


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    root = tmp_path_factory.mktemp("hostile")
    db = root / "events.sqlite3"
    clock = FakeClock()
    health = HealthCardApp(local_sqlite_env(db, create_key=True), clock=clock)
    try:
        driver = Driver(health)
        odd = Audit(actor=ACTOR, channel=Channel.WINDOW, institution=INSTITUTION)
        card = health.register(
            RegisterCard(audit=odd, name="欧阳娜娜", photo=PhotoRef(sha256="0" * 64, ref=PHOTO_REF))
        )
        who = person(1, name="欧阳娜娜")
        health.complete_identity(
            CompleteIdentity(
                audit=odd,
                card_id=card,
                document=who.document,
                name=who.name,
                sex=who.sex,
                birth_date=who.birth_date,
            )
        )
        session = health.publish_session(
            PublishSession(
                audit=driver.audit(Channel.SYSTEM),
                department=STORED_DEPARTMENT,
                doctor=DOCTOR,
                day=driver.today,
                period=Period.MORNING,
                capacity=10,
            )
        )
        driver.book(session, card)
        driver.check_in(session, who)
        erased = driver.register(name="王芳")
        driver.complete_identity(erased, person(2))
        driver.book(session, erased)
        health.erase_personal_data(ErasePersonalData(audit=driver.audit(), card_id=erased))
        frozen = driver.register()
        driver.freeze(frozen, reason=STORED_REASON)
    finally:
        health.close()
    text_file = root / "notes.txt"
    text_file.write_text("not a database\n", encoding="utf-8")
    folder = root / "folder"
    folder.mkdir()
    return Log(db, card, erased, frozen, text_file, folder)


def invoke(argv: list[str]) -> Result:
    """Run the root command on a wide terminal, so that no table cell wraps."""
    return runner.invoke(app, argv, env={"COLUMNS": "400"})


def assert_no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


# -- markup in arguments -------------------------------------------------------------

ARGUMENT_MARKUP = ["[/x]", "[red]x[/red]", "[bold]x", "x:smile:"]


@pytest.mark.parametrize("department", ARGUMENT_MARKUP)
@pytest.mark.parametrize("command", ["booking", "triage"])
def test_a_department_argument_is_shown_as_written(log: Log, command: str, department: str) -> None:
    argv = [command, "--department", department, "--date", DAY, "--at", AT, "--db", str(log.db)]
    result = invoke(argv)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert f"{department} {DAY}" in result.stdout


@pytest.mark.parametrize("name", ["[red]x.csv", "[bold]x[i].jsonl", "x:smile:.csv"])
def test_an_export_file_name_is_shown_as_written(log: Log, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = invoke(["export", "--out", str(out), "--db", str(log.db)])
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert name in result.stdout
    assert out.is_file()


def test_demo_file_names_are_shown_as_written(tmp_path: Path) -> None:
    db = tmp_path / "[red]day:smile:.sqlite3"
    out = tmp_path / "[bold]out"
    result = invoke(["demo", "--db", str(db), "--cards", "10", "--out", str(out)])
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert f"log in {db}" in result.stdout
    assert f"Summary written to {out / 'summary.json'}" in result.stdout


# -- markup stored in the log --------------------------------------------------------


def stored_cases() -> list[tuple[str, list[str], list[str]]]:
    """(id, argv with {db}/{card}/... placeholders, literals the output must hold)."""
    day = ["--date", DAY, "--at", AT]
    return [
        (
            "booking",
            ["booking", "--department", STORED_DEPARTMENT, *day],
            [f"{STORED_DEPARTMENT} {DAY}: sessions", DOCTOR, f"{DOCTOR} morning", "[erased]"],
        ),
        (
            "triage",
            ["triage", "--department", STORED_DEPARTMENT, *day],
            [f"{STORED_DEPARTMENT} {DAY}:", DOCTOR],
        ),
        ("history-reason", ["history", "{frozen}"], [f"reason={STORED_REASON}"]),
        ("history-erased", ["history", "{erased}"], ["name=[erased]"]),
        ("history-photo", ["history", "{card}", "--clear"], [f'"ref": "{PHOTO_REF}"']),
        ("history-related", ["history", "{card}", "--related"], [f"verified_by={INSTITUTION}"]),
        ("as-of", ["as-of", "{card}", AT], [INSTITUTION]),
        ("audit", ["audit", "{card}"], [ACTOR, INSTITUTION]),
    ]


@pytest.mark.parametrize(
    ("argv", "literals"),
    [pytest.param(argv, literals, id=name) for name, argv, literals in stored_cases()],
)
def test_markup_stored_in_the_log_is_shown_as_written(
    log: Log, argv: list[str], literals: list[str]
) -> None:
    ids = {"card": log.card, "erased": log.erased, "frozen": log.frozen}
    result = invoke([arg.format(**ids) for arg in argv] + ["--db", str(log.db)])
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    for literal in literals:
        assert literal in result.stdout, literal


def test_the_demo_tables_show_report_values_as_written() -> None:
    """The demo's tables may be printed on any console (a notebook's reads markup)."""
    report = DayReport(
        seed=0,
        cards=1,
        day=date(2026, 11, 25),
        family_cap=5,
        registrations_by_channel={"[red]kiosk[/red]": 1},
        accounts=[
            AccountFigures(
                kind=AccountKind.PHONE,
                masked_identifier="[bold]139****0001",
                members=(("[/x]", Relation.SELF),),
            )
        ],
        sessions=[
            SessionFigures(
                session_id=uuid4(),
                department="[/dept]",
                doctor=DOCTOR,
                period=Period.MORNING,
                capacity=3,
                booked=1,
                checked_in=1,
            )
        ],
        refusals=Counter({("[cmd]", "[/code]"): 2}),
        card_uses=Counter({("010102", "x:smile:"): 1}),
        events_by_topic={"[/topic]": 4},
    )
    buffer = io.StringIO()
    render_report(Console(file=buffer, width=200, color_system=None), report)
    text = buffer.getvalue()
    for literal in (
        "[red]kiosk[/red]",
        "[bold]139****0001",
        "[/x] (01)",
        "[/dept]",
        "[cmd]",
        "[/code]",
        "x:smile:",
        "[/topic]",
    ):
        assert literal in text, literal


# -- arguments that make no sense ----------------------------------------------------

READERS: list[tuple[str, list[str]]] = [
    ("history", ["history", "{card}"]),
    ("as-of", ["as-of", "{card}", "--version", "1"]),
    ("export", ["export", "--out", "{tmp}/out.csv"]),
    ("stats", ["stats"]),
    ("audit", ["audit", "{card}"]),
    ("booking", ["booking", "--department", "x", "--date", DAY]),
    ("triage", ["triage", "--department", "x", "--date", DAY]),
    ("projections-status", ["projections", "status"]),
    ("projections-catch-up", ["projections", "catch-up"]),
    ("projections-rebuild", ["projections", "rebuild"]),
    ("projections-run", ["projections", "run"]),
]


def fill(argv: list[str], log: Log, tmp_path: Path) -> list[str]:
    return [arg.format(card=log.card, tmp=tmp_path) for arg in argv]


@pytest.mark.parametrize("argv", [argv for _, argv in READERS], ids=[n for n, _ in READERS])
def test_a_text_file_as_db_is_one_line_of_error(log: Log, tmp_path: Path, argv: list[str]) -> None:
    result = invoke([*fill(argv, log, tmp_path), "--db", str(log.text_file)])
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == f"error: {log.text_file} is not a healthcard event log\n"
    assert log.text_file.read_text(encoding="utf-8") == "not a database\n"  # untouched


@pytest.mark.parametrize("command", ["booking", "triage"])
def test_a_foreign_views_file_is_named_instead_of_the_log(
    log: Log, tmp_path: Path, command: str
) -> None:
    db = tmp_path / "copy.sqlite3"
    shutil.copyfile(log.db, db)
    shutil.copy2(key_file_for(log.db), key_file_for(db))  # keeps its private mode
    views = views_path_for(db)
    views.write_text("not a database either\n", encoding="utf-8")
    result = invoke([command, "--department", "x", "--date", DAY, "--db", str(db)])
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == f"error: {views} is not a healthcard read-model file\n"


@pytest.mark.parametrize("argv", [argv for _, argv in READERS], ids=[n for n, _ in READERS])
def test_a_folder_as_db_is_one_line_of_error(log: Log, tmp_path: Path, argv: list[str]) -> None:
    result = invoke([*fill(argv, log, tmp_path), "--db", str(log.folder)])
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == f"error: {log.folder} is a directory, not a healthcard event log\n"


NONSENSE: list[tuple[str, list[str], str]] = [
    ("booking-date", ["booking", "--department", "x", "--date", "nonsense"], "--date"),
    ("booking-date-30-feb", ["booking", "--department", "x", "--date", "2026-02-30"], "--date"),
    ("triage-date", ["triage", "--department", "x", "--date", "25/11/2026"], "--date"),
    ("booking-at", ["booking", "--department", "x", "--date", DAY, "--at", "noon"], "--at"),
    # A lone surrogate is how Python hands over argument bytes that are not UTF-8.
    ("booking-department-not-utf8", ["booking", "--department", "\udcff", "--date", DAY], "--de"),
    ("triage-department-not-utf8", ["triage", "--department", "x\udcff", "--date", DAY], "--de"),
    ("triage-at", ["triage", "--department", "x", "--date", DAY, "--at", "[/x]"], "--at"),
    (
        "triage-at-after-year-9999",
        ["triage", "--department", "x", "--date", DAY, "--at", "9999-12-31T23:59:59+00:00"],
        "--at",
    ),
    (
        "triage-at-before-year-1",
        ["triage", "--department", "x", "--date", DAY, "--at", "0001-01-01T00:00:00+14:00"],
        "--at",
    ),
    (
        "booking-at-out-of-range",
        ["booking", "--department", "x", "--date", DAY, "--at", "9999-12-31T23:59:59-14:00"],
        "--at",
    ),
    ("as-of-time", ["as-of", "{card}", "yesterday"], "TIME"),
    ("as-of-time-out-of-range", ["as-of", "{card}", "9999-12-31T23:59:59-14:00"], "TIME"),
    ("export-since", ["export", "--out", "{tmp}/x.csv", "--since", "soon"], "--since"),
    (
        "export-until-out-of-range",
        ["export", "--out", "{tmp}/x.csv", "--until", "0001-01-01T00:00:00+14:00"],
        "--until",
    ),
    ("stats-as-of", ["stats", "--as-of", "2026-13-01"], "--as-of"),
    ("stats-since", ["stats", "--since", "2026-11-25T25:00"], "--since"),
    ("as-of-version-beyond-sqlite", ["as-of", "{card}", "--version", str(2**63)], "--version"),
    (
        "export-batch-beyond-sqlite",
        ["export", "--out", "{tmp}/x.csv", "--batch-size", str(2**64)],
        "--batch-size",
    ),
    ("history-card", ["history", "not-a-uuid"], "card"),
    ("as-of-card", ["as-of", "[/x]", "--version", "1"], "card"),
    ("audit-card", ["audit", "not-a-uuid"], "CARD"),
    ("export-card", ["export", "--out", "{tmp}/x.csv", "--card", "12"], "--card"),
    ("export-format", ["export", "--out", "{tmp}/x.csv", "--format", "xml"], "--format"),
    ("export-type", ["export", "--out", "{tmp}/x.csv", "--type", "[/x]"], "error[invalid_input]"),
]


@pytest.mark.parametrize(
    ("argv", "names"), [pytest.param(argv, names, id=n) for n, argv, names in NONSENSE]
)
def test_nonsense_arguments_exit_2_without_a_traceback(
    log: Log, tmp_path: Path, argv: list[str], names: str
) -> None:
    result = invoke([*fill(argv, log, tmp_path), "--db", str(log.db)])
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    assert names in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_demo_refuses_a_db_in_a_missing_folder(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "day.sqlite3"
    result = invoke(["demo", "--db", str(db), "--cards", "10"])
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write {db} (--db): no folder {db.parent}\n"
    assert not db.parent.exists()


def test_demo_refuses_an_out_folder_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    db, out = tmp_path / "day.sqlite3", tmp_path / "file" / "out"
    result = invoke(["demo", "--db", str(db), "--cards", "10", "--out", str(out)])
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot write into {out} (--out): {out.parent} is a file, not a folder\n"
    )


@pytest.mark.parametrize("argv", [["demo", "--db", "{folder}"], ["demo", "--db", "{text}"]])
def test_demo_refuses_a_folder_or_a_foreign_file(log: Log, argv: list[str]) -> None:
    result = invoke([arg.format(folder=log.folder, text=log.text_file) for arg in argv])
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert log.text_file.read_text(encoding="utf-8") == "not a database\n"
