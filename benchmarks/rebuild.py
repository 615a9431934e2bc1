"""Full rebuild of the booking and triage read models against a raw read of the log.

Generates a hospital's history of N events (default 1,000,000) through the
application on SQLite: residents register, complete their identity and bind a
phone; clinic sessions are published; patients book (some cancel), check in at
triage with their ID card or a QR token, and their cards are used at points of
care (diagnosis, payment, dispensing). Aggregates are saved several per
``app.save`` to generate faster; the file is cached in the temp folder, keyed by
N and seed, so reruns skip generation (which runs in a child process, so its
memory does not count in the peak RSS measured here).

Then, in one run, on the same file:

(a) baseline: read every notification with the recorder's ``select_notifications``
    in batches and decode its state with orjson, nothing else;
(b) a full blue/green rebuild of both read models into a fresh views file.

Prints events/s of each (N divided by wall time), the load average before and
after (the machine is shared), peak RSS of the measuring process and of the
largest reader process, and as the last line ``rebuild X ev/s, baseline Y ev/s,
ratio R``. The baseline uses the same reading application (``open_projections``),
the same batch size and the same paused garbage collector as the rebuild.

Usage: python benchmarks/rebuild.py [--events N] [--seed S] [--batch B]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import closing
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from uuid import UUID, uuid4

import orjson
from stdnum.cn import ric

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.national_ids import ehc_id, main_index_id
from healthcard.adapters.persistence import sqlite_env
from healthcard.application.keyed_ids import account_id, document_claim_id, idempotent_uuid
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
from healthcard.readmodels import open_projections, rebuild
from healthcard.readmodels.rebuild import REBUILD_BATCH
from healthcard.readmodels.runner import paused_gc

GENERATOR_VERSION = 2
"""Bump when the generated history changes shape (invalidates cached files)."""

DEPARTMENTS = tuple(f"dept-{i:02d}" for i in range(10))
DOCTORS = ("d1", "d2", "d3")
PERIODS = (Period.MORNING, Period.AFTERNOON)
CAPACITY = 40
NEW_PEOPLE_PER_DAY = 500
BOOKINGS_PER_DAY = 1_800
HORIZON_DAYS = 2
SAVE_CHUNK = 250
POOL_LIMIT = 40_000
AREAS = ("510104", "510105", "510106", "510107", "510108", "510112")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡"
GIVEN = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波宇浩凯健俊帆芳娜敏静丽艳娟霞秀玲燕琳雪莉婷慧颖"

AUDIT = Audit(actor="bench", channel=Channel.WINDOW, institution="H510100001")
TRIAGE = Audit(actor="bench", channel=Channel.TRIAGE_DESK, institution="H510100001")
DOCTOR = Audit(actor="bench", channel=Channel.DOCTOR_WORKSTATION, institution="H510100001")


# -- generation (child process) ---------------------------------------------------------


class Generator:
    """Writes a seeded hospital history through the application until N events."""

    def __init__(self, app: HealthCardApp, clock: FakeClock, seed: int, target: int) -> None:
        self.app = app
        self.clock = clock
        self.rng = random.Random(seed)
        self.target = target
        self.written = 0
        self.people = 0
        self.pool: dict[UUID, tuple[HealthCard, UUID]] = {}
        self.sessions: dict[date, list[ClinicSession]] = {}
        self.pending: list[Aggregate] = []

    def save(self, aggregates: Iterable[Aggregate]) -> None:
        unique = list({id(a): a for a in aggregates}.values())
        for i in range(0, len(unique), SAVE_CHUNK):
            chunk = unique[i : i + SAVE_CHUNK]
            self.written += sum(len(a.pending_events) for a in chunk)
            self.app.save(*chunk)

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        moment = datetime.combine(day, dtime(hour, minute), tzinfo=CHINA_TZ)
        self.clock.set(max(moment, self.clock.now))
        return self.clock()

    def run(self) -> None:
        day = self.clock.now.date()
        for ahead in range(HORIZON_DAYS):
            self.publish(day, day + timedelta(days=ahead))
        while self.written < self.target:
            self.publish(day, day + timedelta(days=HORIZON_DAYS))
            self.register(day)
            self.book(day)
            self.visit(day)
            self.sessions.pop(day, None)
            day += timedelta(days=1)
            print(f"  generated {self.written:,} events", file=sys.stderr, flush=True)

    def publish(self, today: date, day: date) -> None:
        at = self.at(today, 7)
        sessions = [
            ClinicSession.publish(
                idempotent_uuid("session", f"{dept}|{doc}|{day}|{period.value}"),
                department=dept,
                doctor=doc,
                day=day,
                period=period,
                capacity=CAPACITY,
                audit=AUDIT,
                at=at,
            )
            for dept in DEPARTMENTS
            for doc in DOCTORS
            for period in PERIODS
        ]
        self.sessions[day] = sessions
        self.save(sessions)

    def register(self, day: date) -> None:
        config = self.app.config
        changed: list[Aggregate] = []
        for _ in range(NEW_PEOPLE_PER_DAY):
            at = self.at(day, 7, 30)
            self.people += 1
            n = self.people
            birth = date(1940, 1, 1) + timedelta(days=n % 25_000)
            first17 = f"{AREAS[n % len(AREAS)]}{birth:%Y%m%d}{(n // 25_000) % 1000:03d}"
            number = first17 + ric.calc_check_digit(first17 + "0")
            sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
            name = self.rng.choice(SURNAMES) + "".join(self.rng.choices(GIVEN, k=2))
            document = IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)
            phone = f"+86138{n:08d}"
            card = HealthCard.register(
                uuid4(),
                issuer_mode=IssuerMode.PRODUCTION,
                name=name,
                phone=phone,
                photo=None,
                volunteer=None,
                audit=AUDIT,
                at=at,
            )
            index = main_index_id("01", number, config.national_keys.index_key)
            card.complete_identity(
                document=document,
                name=name,
                sex=sex,
                birth_date=birth,
                verified_by=AUDIT.institution,
                main_index_id=index,
                ehc_id=ehc_id(index, config.national_keys.root_key, "01", number),
                audit=AUDIT,
                at=at,
            )
            claim = DocumentClaim.start(
                document_claim_id(config.lookup_key, document), card.id, audit=AUDIT, at=at
            )
            the_account = account_id(config.lookup_key, AccountKind.PHONE, phone)
            account = Account.open(
                the_account, kind=AccountKind.PHONE, identifier=phone, audit=AUDIT, at=at
            )
            card.bind(the_account, Relation.SELF, audit=AUDIT, at=at)
            account.add_card(card.id, Relation.SELF, cap=config.family_cap, audit=AUDIT, at=at)
            changed += (card, claim, account)
            self.pool[card.id] = (card, the_account)
        self.save(changed)
        while len(self.pool) > POOL_LIMIT:
            del self.pool[next(iter(self.pool))]

    def book(self, today: date) -> None:
        at = self.at(today, 8)
        open_sessions = [s for d in sorted(self.sessions) for s in self.sessions[d]]
        cards = list(self.pool)
        changed: list[Aggregate] = []
        for _ in range(BOOKINGS_PER_DAY):
            session = self.rng.choice(open_sessions)
            card, _account = self.pool[self.rng.choice(cards)]
            if session.remaining <= 0 or card.id in session.active_by_card:
                continue
            session.book(uuid4(), card, audit=AUDIT, at=at)
            if self.rng.random() < 0.08:
                session.cancel(
                    next(reversed(session.appointments)), "patient_request", audit=AUDIT, at=at
                )
            changed.append(session)
        self.save(changed)

    def visit(self, day: date) -> None:
        for period, hour in ((Period.MORNING, 8), (Period.AFTERNOON, 13)):
            changed: list[Aggregate] = []
            for session in self.sessions.get(day, []):
                if session.period != period:
                    continue
                for card_id in list(session.active_by_card):
                    entry = self.pool.get(card_id)
                    if entry is None or self.rng.random() < 0.12:
                        continue  # no-show (or a card aged out of the generator's pool)
                    card, the_account = entry
                    at = self.at(day, hour)
                    if self.rng.random() < 0.5:
                        card.accept_token(
                            self.token(the_account, at),
                            verifier_mode=IssuerMode.PRODUCTION,
                            audit=TRIAGE,
                            at=at,
                        )
                        session.check_in(card, CheckInCredential.QR, audit=TRIAGE, at=at)
                    else:
                        session.check_in(card, CheckInCredential.ID_CARD, audit=TRIAGE, at=at)
                    changed += (session, card)
            self.save(changed)
            changed = []
            for session in self.sessions.get(day, []):
                if session.period != period:
                    continue
                for appointment in session.appointments.values():
                    if appointment.checked_in_at is None or appointment.card_id not in self.pool:
                        continue
                    card, the_account = self.pool[appointment.card_id]
                    steps = [UsageStep.DIAGNOSIS] if self.rng.random() < 0.9 else []
                    steps += [UsageStep.PAYMENT] if self.rng.random() < 0.8 else []
                    steps += [UsageStep.DISPENSING] if self.rng.random() < 0.5 else []
                    for step in steps:
                        at = self.at(day, hour + 1)
                        card.use(
                            self.token(the_account, at),
                            step,
                            verifier_mode=IssuerMode.PRODUCTION,
                            audit=DOCTOR,
                            at=at,
                        )
                    if steps:
                        changed.append(card)
            self.save(changed)

    def token(self, the_account: UUID, at: datetime) -> PresentedToken:
        return PresentedToken(
            nonce=f"{self.rng.getrandbits(64):016x}",
            key_id=0,
            mode=IssuerMode.PRODUCTION,
            account_tag=the_account.bytes[:4],
            use=TokenUse.ANY,
            issued_at=at,
            expires_at=at + timedelta(seconds=60),
        )


def generate(path: Path, events: int, seed: int) -> None:
    """Write the history to a temporary name, then rename (a cache is never half-made)."""
    partial = path.with_name(path.name + ".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    clock = FakeClock(datetime(2026, 1, 5, 7, 0, tzinfo=CHINA_TZ))
    app = HealthCardApp(sqlite_env(partial), clock=clock, config=HealthCardConfig())
    try:
        Generator(app, clock, seed, events).run()
    finally:
        app.close()
    with closing(sqlite3.connect(partial)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)


def cached_log(events: int, seed: int) -> Path:
    folder = Path(tempfile.gettempdir()) / "healthcard-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"rebuild-n{events}-s{seed}-g{GENERATOR_VERSION}.sqlite3"
    if not path.exists():
        print(f"generating {events:,} events into {path} (cached for reruns)", file=sys.stderr)
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 (this very script, fixed arguments)
            [
                sys.executable,
                __file__,
                "--generate",
                str(path),
                "--events",
                str(events),
                "--seed",
                str(seed),
            ],
            check=True,
        )
        print(f"generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


# -- measurement -------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(app: HealthCardApp, batch: int) -> tuple[int, float]:
    """Read every notification and decode it with orjson; nothing else."""
    recorder = app.recorder
    loads = orjson.loads
    started = time.perf_counter()
    position = 0
    count = 0
    while True:
        with paused_gc():  # as the rebuild does per batch, so neither pays for the collector
            notifications = recorder.select_notifications(position, batch, inclusive_of_start=False)
            if not notifications:
                break
            for notification in notifications:
                loads(notification.state)
            count += len(notifications)
            position = notifications[-1].id
    return count, time.perf_counter() - started


def warm_page_cache(path: Path) -> None:
    with path.open("rb") as file:
        while file.read(1 << 24):
            pass


def measure(log: Path, batch: int) -> None:
    """(a) the baseline, then (b) a full rebuild, on ``log``; the last line is the summary.

    Runs in a process of its own, so the children whose peak RSS it reports are only
    the rebuild's reader processes (not the generator)."""
    warm_page_cache(log)
    folder = Path(tempfile.mkdtemp(prefix="healthcard-views-"))
    views = folder / "bench.views.sqlite3"
    print(f"log {log} ({log.stat().st_size / 1e6:.0f} MB)")
    print(f"load average before: {load_average()}")
    try:
        with open_projections(sqlite_env(log), views_path=views) as projections:
            app = projections.app
            head = app.recorder.max_notification_id() or 0
            count, base_seconds = baseline(app, batch)  # type: ignore[arg-type]
            base_rate = count / base_seconds
            print(
                f"baseline: {count:,} events read+decoded in {base_seconds:.2f} s = "
                f"{base_rate:,.0f} ev/s; peak RSS {peak_rss_mb():.0f} MB"
            )
            result = rebuild(
                app, projections.store, batch_size=batch, reader_env=projections.reader_env
            )
            rebuild_rate = head / result.seconds
            print(
                f"rebuild: {head:,} events ({result.applied:,} folded) in {result.seconds:.2f} s"
                f" = {rebuild_rate:,.0f} ev/s"
            )
        print(f"views file {views.stat().st_size / 1e6:.0f} MB")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average after: {load_average()}")
    readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS {peak_rss_mb():.0f} MB (this process); {readers:.0f} MB (largest reader)")
    ratio = rebuild_rate / base_rate
    print(f"rebuild {rebuild_rate:.0f} ev/s, baseline {base_rate:.0f} ev/s, ratio {ratio:.2f}")


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=REBUILD_BATCH)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:
        generate(args.generate, args.events, args.seed)
    elif args.measure is not None:
        measure(args.measure, args.batch)
    else:
        log = cached_log(args.events, args.seed)
        sys.stdout.flush()
        subprocess.run(  # noqa: S603 (this very script, fixed arguments)
            [sys.executable, __file__, "--measure", str(log), "--batch", str(args.batch)],
            check=True,
        )


if __name__ == "__main__":
    main()
