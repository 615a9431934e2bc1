"""Write rate of healthcard's command flow against bare eventsourcing, same run, same disk.

Both sides write the same events in the same shape, on a fresh SQLite file each:
per card, 4 saves holding 7 events (register; complete identity + document claim;
bind + account opened + card added; appointment). The baseline uses eventsourcing's
own ``Aggregate`` with its default JSON transcoder and repository, so the ratio is
healthcard's overhead (pydantic validation, orjson codec, keyed hashes, SM4 EHC ID,
domain rules). The last line is ``healthcard X ev/s, bare Y ev/s, ratio R``.

Usage: python benchmarks/commands.py [--cards N] [--rounds R]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import statistics
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from flow import BareAccount, BareApp, BareCard, BareClaim, BareSession, synthetic_people

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application.commands import (
    BindCard,
    CompleteIdentity,
    MakeAppointment,
    PublishSession,
    RegisterCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.identity import Sex

EVENTS_PER_CARD = 7


class Timing:
    """Wall and CPU seconds of one timed loop."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Timing:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def run_bare(db: Path, people: list[tuple[str, str, str]], per_session: int) -> Timing:
    app = BareApp(sqlite_env(db))
    session_ids: list[UUID] = []
    with Timing() as timing:
        for index, (name, phone, document) in enumerate(people):
            card = BareCard(name=name, phone=phone)
            app.save(card)
            card = app.repository.get(card.id)
            card.complete(document=document, birth_date=document[6:14])
            app.save(card, BareClaim(card_id=card.id))
            card = app.repository.get(card.id)
            account = BareAccount(phone=phone)
            card.bind(account.id)
            account.add(card.id)
            app.save(card, account)
            if index % per_session == 0:
                session = BareSession(capacity=per_session)
                app.save(session)
                session_ids.append(session.id)
            session = app.repository.get(session_ids[-1])
            session.book(card.id)
            app.save(session)
    app.close()
    return timing


# -- healthcard ----------------------------------------------------------------------


def run_healthcard(db: Path, people: list[tuple[str, str, str]], per_session: int) -> Timing:
    clock = FakeClock(datetime(2026, 11, 25, 7, 0, tzinfo=CHINA_TZ))
    app = HealthCardApp(sqlite_env(db), clock=clock)
    audit = Audit(actor="bench", channel=Channel.WINDOW, institution="H510100001")
    day = date(2026, 11, 25)
    session_ids: list[UUID] = []
    # Sessions are published inside the timed loop, as the bare side does.
    with Timing() as timing:
        for index, (name, phone, document) in enumerate(people):
            card_id = app.register(RegisterCard(audit=audit, name=name, phone=phone))
            app.complete_identity(
                CompleteIdentity(
                    audit=audit,
                    card_id=card_id,
                    document={"type": "01", "number": document},
                    name=name,
                    sex=Sex.MALE if int(document[16]) % 2 else Sex.FEMALE,
                    birth_date=date(
                        int(document[6:10]), int(document[10:12]), int(document[12:14])
                    ),
                )
            )
            app.bind(
                BindCard(
                    audit=audit, card_id=card_id, account={"kind": "phone", "identifier": phone}
                )
            )
            if index % per_session == 0:
                session_ids.append(
                    app.publish_session(
                        PublishSession(
                            audit=audit,
                            department="internal-medicine",
                            doctor=f"D{index:06d}",
                            day=day,
                            period=Period.AFTERNOON,
                            capacity=per_session,
                        )
                    )
                )
            app.make_appointment(
                MakeAppointment(audit=audit, session_id=session_ids[-1], card_id=card_id)
            )
    app.close()
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-session", type=int, default=30)
    args = parser.parse_args()
    people = synthetic_people(args.cards)
    events = args.cards * EVENTS_PER_CARD + -(-args.cards // args.per_session)
    timings: dict[str, list[Timing]] = {"bare": [], "hc": []}
    runs = {"bare": run_bare, "hc": run_healthcard}
    with tempfile.TemporaryDirectory() as folder:
        for round_no in range(args.rounds):
            # Alternate the order so neither side always runs on a warmer machine.
            order = ("bare", "hc") if round_no % 2 == 0 else ("hc", "bare")
            for side in order:
                db = Path(folder) / f"{side}-{round_no}-{uuid4().hex}.sqlite3"
                timings[side].append(runs[side](db, people, args.per_session))
            hc_last, bare_last = timings["hc"][-1], timings["bare"][-1]
            print(
                f"round {round_no + 1}: healthcard {events / hc_last.wall:,.0f} ev/s "
                f"({hc_last.cpu / events * 1e6:.0f} µs CPU/event), "
                f"bare {events / bare_last.wall:,.0f} ev/s "
                f"({bare_last.cpu / events * 1e6:.0f} µs CPU/event)"
            )
    hc = statistics.median(events / t.wall for t in timings["hc"])
    bare = statistics.median(events / t.wall for t in timings["bare"])
    hc_cpu = statistics.median(t.cpu / events for t in timings["hc"])
    bare_cpu = statistics.median(t.cpu / events for t in timings["bare"])
    print(f"cards {args.cards}, events per side {events}, rounds {args.rounds} (medians)")
    print(
        f"CPU per event: healthcard {hc_cpu * 1e6:.0f} µs, bare {bare_cpu * 1e6:.0f} µs "
        f"(process time)"
    )
    print(
        f"healthcard {hc:,.0f} ev/s, bare {bare:,.0f} ev/s, ratio {hc / bare:.2f}, "
        f"cpu_ratio {bare_cpu / hc_cpu:.2f}"
    )


if __name__ == "__main__":
    main()
