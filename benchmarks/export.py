"""Export of a large event log to Parquet: time, rate and peak memory (RSS).

The log is written by the application on a SQLite file (encrypted at rest with a key
file beside it, as the CLI does; personal fields sealed per person), through the
domain's own aggregates and ``HealthCardApp.save``, several cards per save. A day of
a hospital per simulated day: registrations through every channel, identity
completions, bindings, appointments (some cancelled), check-ins, card uses, a few
freezes. The generated file is cached in the temp folder, keyed by N and seed, so
repeated runs measure the export only.

Then ``export_log`` streams it to Parquet. Peak RSS is measured with
``resource.getrusage`` in a fresh child process that only exports (so generation
memory never counts), beside a baseline child that imports the same modules (pyarrow
too), opens the application and reads nothing; both are printed with their ratio.
The target is a peak RSS <= 200 MB for 1,000,000 events.

Usage: python benchmarks/export.py [--events N] [--seed S] [--format parquet|jsonl|csv]
       [--batch-size B] [--clear] [--keep-output]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID

from stdnum.cn import ric

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.national_ids import ehc_id, main_index_id
from healthcard.adapters.persistence import local_sqlite_env
from healthcard.application.keyed_ids import account_id, document_claim_id
from healthcard.domain.account import Account
from healthcard.domain.aggregate import Aggregate
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import AccountKind, IssuerMode
from healthcard.domain.clinic_session import ClinicSession
from healthcard.domain.clinic_values import CheckInCredential, Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex
from healthcard.domain.relation import Relation
from healthcard.domain.usage import PresentedToken, TokenUse, UsageStep

START = datetime(2026, 1, 5, 7, 30, tzinfo=CHINA_TZ)
CARDS_PER_DAY = 2_000
CARDS_PER_SAVE = 250
SESSION_CAPACITY = 120
HOSPITAL = "H510107001"
CHANNELS = (Channel.WECHAT_OFFICIAL_ACCOUNT, Channel.KIOSK, Channel.WINDOW, Channel.APP)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟强磊军勇杰涛明超刚芳娜敏静丽艳娟霞秀玲"
AREAS = ("510104", "510105", "510106", "510107", "510108", "510112")


def cache_path(events: int, seed: int) -> Path:
    folder = Path(tempfile.gettempdir()) / "healthcard-bench"
    folder.mkdir(exist_ok=True)
    return folder / f"export-{events}-seed{seed}.sqlite3"


class LogWriter:
    """Writes cards' lives through the aggregates and ``app.save``, in batches."""

    def __init__(self, app: HealthCardApp, clock: FakeClock, rng: random.Random) -> None:
        self.app = app
        self.clock = clock
        self.rng = rng
        self.events = 0
        self.pending: dict[UUID, Aggregate] = {}
        self.serial = 0
        self.day = START.date()
        self.sessions: list[ClinicSession] = []
        self.desk = Audit(actor="triage-01", channel=Channel.TRIAGE_DESK, institution=HOSPITAL)
        self.doctor = Audit(
            actor="dr-0001", channel=Channel.DOCTOR_WORKSTATION, institution=HOSPITAL
        )

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def stage(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.pending[aggregate.id] = aggregate

    def flush(self) -> None:
        if not self.pending:
            return
        # Sessions last: in the log a card's registration then precedes its appointment,
        # as when each command is saved on its own.
        aggregates = sorted(self.pending.values(), key=lambda a: isinstance(a, ClinicSession))
        self.events += sum(len(a.pending_events) for a in aggregates)
        self.app.save(*aggregates)
        self.pending.clear()
        # Sessions stay in memory (and in self.pending when touched again).

    def new_day(self) -> None:
        self.flush()
        self.clock.set(datetime.combine(self.day, START.timetz()))
        audit = Audit(actor="scheduler", channel=Channel.SYSTEM, institution=HOSPITAL)
        self.sessions = []
        for index in range(CARDS_PER_DAY // SESSION_CAPACITY + 1):
            session = ClinicSession.publish(
                self.uuid(),
                department=("internal_medicine", "paediatrics", "obstetrics")[index % 3],
                doctor=f"dr-{index:03d}",
                day=self.day,
                period=Period.MORNING if index % 2 == 0 else Period.AFTERNOON,
                capacity=SESSION_CAPACITY,
                audit=audit,
                at=self.clock(),
            )
            self.sessions.append(session)
            self.stage(session)

    def person(self) -> tuple[str, Sex, date, IdentityDocument, str]:
        self.serial += 1
        sex = Sex.MALE if self.rng.random() < 0.5 else Sex.FEMALE
        # Unique documents: (area, birth date, order) follows from the serial number.
        group, order = divmod(self.serial, 500)
        group, area_index = divmod(group, len(AREAS))
        born = date(1940, 1, 1) + timedelta(days=(group * 7919) % 30_000)
        order = order * 2 + (1 if sex is Sex.MALE else 0)
        area = AREAS[area_index]
        first17 = f"{area}{born:%Y%m%d}{order:03d}"
        number = first17 + ric.calc_check_digit(first17 + "0")
        name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)
        phone = f"+86139{self.serial:08d}"
        document = IdentityDocument.model_construct(type=DocumentType.RESIDENT_ID, number=number)
        return name, sex, born, document, phone

    def one_card(self) -> None:
        rng = self.rng
        channel = rng.choice(CHANNELS)
        audit = Audit(actor=f"staff-{rng.randrange(40):02d}", channel=channel, institution=HOSPITAL)
        name, sex, born, document, phone = self.person()
        card = HealthCard.register(
            self.uuid(),
            issuer_mode=IssuerMode.PRODUCTION,
            name=name,
            phone=phone,
            photo=None,
            volunteer="V001" if channel is Channel.KIOSK and rng.random() < 0.3 else None,
            audit=audit,
            at=self.clock(),
        )
        self.stage(card)
        if rng.random() < 0.15:
            return  # stays temporary
        keys = self.app.config.national_keys
        index_id = main_index_id(document.type.value, document.number, keys.index_key)
        at = self.clock()
        card.complete_identity(
            document=document,
            name=name,
            sex=sex,
            birth_date=born,
            verified_by="C510107012",
            main_index_id=index_id,
            ehc_id=ehc_id(index_id, keys.root_key, document.type.value, document.number),
            audit=audit,
            at=at,
        )
        claim_id = document_claim_id(self.app.config.lookup_key, document)
        self.stage(DocumentClaim.start(claim_id, card.id, audit=audit, at=at))
        account: Account | None = None
        if rng.random() < 0.8:
            at = self.clock()
            the_id = account_id(self.app.config.lookup_key, AccountKind.PHONE, phone)
            account = Account.open(
                the_id, kind=AccountKind.PHONE, identifier=phone, audit=audit, at=at
            )
            card.bind(account.id, Relation.SELF, audit=audit, at=at)
            account.add_card(card.id, Relation.SELF, cap=5, audit=audit, at=at)
            self.stage(account)
        if rng.random() < 0.03:
            card.freeze("lost_phone", audit=audit, at=self.clock())
            return
        if rng.random() < 0.35:
            return
        self.appointment(card, account, audit)

    def appointment(self, card: HealthCard, account: Account | None, audit: Audit) -> None:
        rng = self.rng
        open_sessions = [s for s in self.sessions if s.remaining > 0]
        if not open_sessions:
            return
        session = rng.choice(open_sessions)
        appointment_id = self.uuid()
        session.book(appointment_id, card, audit=audit, at=self.clock())
        self.stage(session)
        roll = rng.random()
        if roll < 0.08:
            session.cancel(appointment_id, "patient_request", audit=audit, at=self.clock())
            return
        if roll < 0.20:
            return  # a no-show
        session.check_in(card, CheckInCredential.ID_CARD, audit=self.desk, at=self.clock())
        if account is None or rng.random() < 0.25:
            return
        at = self.clock()
        token = PresentedToken(
            nonce=f"{rng.getrandbits(64):016x}",
            key_id=0,
            mode=IssuerMode.PRODUCTION,
            account_tag=account.id.bytes[:4],
            use=TokenUse.ANY,
            expires_at=at + timedelta(seconds=60),
        )
        card.use(
            token, UsageStep.DIAGNOSIS, verifier_mode=IssuerMode.PRODUCTION,
            audit=self.doctor, at=at,
        )  # fmt: skip

    def run(self, target: int, progress: bool = True) -> None:
        cards_today = 0
        self.new_day()
        started = time.perf_counter()
        while self.events < target:
            for _ in range(CARDS_PER_SAVE):
                self.one_card()
            cards_today += CARDS_PER_SAVE
            self.flush()
            if cards_today >= CARDS_PER_DAY:
                self.day += timedelta(days=1)
                cards_today = 0
                self.new_day()
            if progress:
                rate = self.events / (time.perf_counter() - started)
                print(f"\r  generated {self.events:,} events ({rate:,.0f}/s)", end="", flush=True)
        if progress:
            print()


def generate(events: int, seed: int) -> Path:
    """The cached log of about ``events`` events (generated on first use)."""
    db = cache_path(events, seed)
    done = db.with_name(db.name + ".done")
    if db.exists() and done.exists():
        return db
    for stale in db.parent.glob(db.name + "*"):
        stale.unlink()
    print(f"generating {events:,} events into {db} (cached for later runs)")
    clock = FakeClock(START)
    app = HealthCardApp(
        local_sqlite_env(db, create_key=True), clock=clock, config=HealthCardConfig()
    )
    try:
        LogWriter(app, clock, random.Random(seed)).run(events)
    finally:
        app.close()
    done.write_text(str(events))
    return db


CHILD = """
import json, resource, sys, time
from pathlib import Path
from healthcard import HealthCardApp
from healthcard.analytics.export import export_log, ExportFormat
from healthcard.adapters.persistence import local_sqlite_env
import pyarrow, pyarrow.parquet  # the baseline imports them too
db, out, fmt, batch, clear, mode = sys.argv[1:7]
app = HealthCardApp(local_sqlite_env(db))
started = time.perf_counter()
rows = 0
if mode == "export":
    summary = export_log(app, Path(out), ExportFormat(fmt), batch_size=int(batch),
                         clear=clear == "1")
    rows = summary.rows
elapsed = time.perf_counter() - started
app.close()
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": elapsed, "peak_mb": peak_kb / 1024}))
"""


def run_child(
    db: Path, out: Path, fmt: str, batch: int, clear: bool, mode: str
) -> dict[str, float]:
    command = [
        sys.executable,
        "-c",
        CHILD,
        str(db),
        str(out),
        fmt,
        str(batch),
        "1" if clear else "0",
        mode,
    ]
    result = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("parquet", "jsonl", "csv"), default="parquet")
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--clear", action="store_true", help="export clear personal data")
    parser.add_argument("--keep-output", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    db = generate(args.events, args.seed)
    size_mb = db.stat().st_size / 1e6
    print(f"log ready in {time.perf_counter() - started:.1f} s: {db} ({size_mb:.0f} MB)")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"export.{args.format}"
        base = run_child(db, out, args.format, args.batch_size, args.clear, "baseline")
        result = run_child(db, out, args.format, args.batch_size, args.clear, "export")
        size = out.stat().st_size / 1e6
        if args.keep_output:
            kept = db.with_suffix(f".{args.format}")
            os.replace(out, kept)
            print(f"output kept: {kept}")
    rows = int(result["rows"])
    print(
        f"export {args.format}: {rows:,} events in {result['seconds']:.1f} s "
        f"({rows / result['seconds']:,.0f} events/s), output {size:.0f} MB"
    )
    print(
        f"peak RSS {result['peak_mb']:.0f} MB (baseline: same imports, app opened, "
        f"nothing read: {base['peak_mb']:.0f} MB; ratio {result['peak_mb'] / base['peak_mb']:.2f})"
    )
    print(f"peak RSS within 200 MB: {'yes' if result['peak_mb'] <= 200 else 'NO'}")


if __name__ == "__main__":
    main()
