"""``healthcard demo``: a simulated day at a Sichuan hospital, on a SQLite file.

The day itself is :mod:`healthcard.simulation`; this command deletes the previous
day's log, runs the day on a fake clock, catches the read models up and prints the
tables (people masked). It uses the public test-mode keys.

Paths that cannot work (``--db`` in a folder that does not exist or naming a folder,
``--out`` under a file, a file that is not a healthcard log where the log goes) are
refused before the day starts, in one line naming the path (status 2), so a
mistyped path costs no simulated day, deletes nothing and never ends in a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.ids import SeededIds
from healthcard.adapters.persistence import SQLITE_COMPANIONS, key_file_for, local_sqlite_env
from healthcard.application import HealthCardApp
from healthcard.application.config import HealthCardConfig
from healthcard.cli.errors import cannot_run, new_app
from healthcard.cli.logfiles import log_problem
from healthcard.cli.options import DEMO_DB, console, reports_unreadable_log
from healthcard.cli.outputs import check_output_file, make_output_folder, writing
from healthcard.cli.progress import progress
from healthcard.readmodels import catch_up_all, views_path_for
from healthcard.simulation import DAY_START, MIN_CARDS, HospitalDay
from healthcard.simulation.hospital import HOSPITAL
from healthcard.simulation.qr_files import write_first_bound_card_qr
from healthcard.simulation.render import render_report

PROGRESS_FROM = 200
"""Show a progress bar (on stderr) from this many cards on."""


def shows_progress(cards: int) -> bool:
    """Whether a day of ``cards`` residents shows a progress bar (small days are quick)."""
    return cards >= PROGRESS_FROM


app = new_app()


@app.command()
def demo(
    db: Annotated[
        Path,
        typer.Option(
            help="SQLite file for the day's event log (its folder must exist). An existing "
            "log is deleted first: one run is one simulated day, so every run starts a fresh "
            "log. A file that is not a healthcard log is never deleted.",
        ),
    ] = DEMO_DB,
    cards: Annotated[
        int, typer.Option(help="How many residents register.", min=MIN_CARDS, max=100_000)
    ] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the simulation: same seed, same log.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for summary.json and, for one bound card, qr-signed.png, "
            "qr-signed.txt, qr-national.png and keys/public.json (created if needed).",
        ),
    ] = None,
) -> None:
    """Simulate a day at a Sichuan hospital on SQLite and print what happened.

    Residents register through every channel (WeChat official account, kiosk with or
    without a volunteer, window, app), most identities are verified, families bind
    their cards under the cap, patients book clinic sessions and check in at triage.
    Refusals (temporary card, full session, family cap) are shown by error code.
    The day is deterministic for a seed; all people are synthetic and shown masked.
    The demo uses the public test-mode keys; the log is encrypted at rest with a key
    written beside it (<db>.key, mode 0600) so later commands can open it.
    """
    _check_paths(db, out)
    out_console = console()
    if _remove_old_log(db):
        out_console.print(
            f"Deleted the existing {db}: one run is one simulated day, starting a fresh log.",
            markup=False,
        )
    started = time.perf_counter()
    clock = FakeClock(DAY_START)
    with writing(db, "--db"):
        env = local_sqlite_env(db, create_key=True)
    health = HealthCardApp(env, clock=clock, config=HealthCardConfig(), ids=SeededIds(seed))
    qr_files: list[Path] = []
    try:
        day = HospitalDay(health, clock, seed=seed, cards=cards)
        with progress("simulating", total=day.plan.steps, enabled=shows_progress(cards)) as bar:
            report = day.run(bar.phase)
        if out is not None:
            qr_files = _write_qr_files(health, out)
    finally:
        health.close()
    with reports_unreadable_log(db):
        views = catch_up_all(db)  # the booking and triage read models, beside the log
    elapsed = time.perf_counter() - started
    out_console.print(
        f"Simulated {report.day.isoformat()} at hospital {HOSPITAL}: "
        f"{cards} cards, seed {seed}, log in {db} ({elapsed:.2f} s)",
        markup=False,
    )
    render_report(out_console, report)
    out_console.print(
        f"Read models caught up: {views['applied']} events folded, position "
        f"{views['position']} of {views['head']} (views in {views_path_for(db)}); "
        "see `healthcard triage` and `healthcard booking`.",
        markup=False,
    )
    if out is not None:
        summary = out / "summary.json"
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
        with writing(summary, "--out"):
            summary.write_text(text + "\n", encoding="utf-8")
        out_console.print(f"Summary written to {summary}", markup=False, highlight=False)
        for path in qr_files:
            out_console.print(f"QR file written to {path}", markup=False, highlight=False)
        if qr_files:
            # The token lives a minute of *simulated* time: verify it at that moment.
            out_console.print(
                f"Verify offline: healthcard qr verify --keys {out / 'keys' / 'public.json'} "
                f"--token-file {out / 'qr-signed.txt'} --mode test "
                f"--at {clock.now.isoformat(timespec='seconds')}",
                markup=False,
                soft_wrap=True,
            )


def _check_paths(db: Path, out: Path | None) -> None:
    """Refuse, before anything is deleted or simulated, paths that cannot work; make
    the ``--out`` folder now, so that one that cannot be made costs no day."""
    check_output_file(db, "--db")
    if out is not None:
        make_output_folder(out, "--out")


def _write_qr_files(health: HealthCardApp, out: Path) -> list[Path]:
    with writing(out, "--out"):
        return write_first_bound_card_qr(health, out)


def _remove_old_log(db: Path) -> bool:
    """Delete a previous demo log (its WAL files, key and read models with it).

    Only a healthcard event log (or an empty file) is deleted: ``--db`` naming any
    other file, another SQLite database included, is refused, so a slip of the
    keyboard cannot delete somebody's data.
    """
    if not db.exists():
        return False
    problem = log_problem(db)
    if problem is not None and db.stat().st_size > 0:
        cannot_run(f"{db} exists and is not a healthcard event log; not deleting it (--db)")
    views = views_path_for(db)  # read models of the old log go with it
    doomed = [Path(f"{base}{suffix}") for base in (db, views) for suffix in SQLITE_COMPANIONS]
    doomed += [key_file_for(db), views, db]
    for path in doomed:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            cannot_run(f"cannot delete {path} (--db): {error.strerror or error}")
    return True
