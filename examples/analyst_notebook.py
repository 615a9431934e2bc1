# %% [markdown]
# # Analyst notebook: replay the health card log, export it, query it with DuckDB
#
# Cells are marked with ``# %%`` (VS Code, PyCharm and Jupytext open this file as a
# notebook); it also runs top to bottom: ``python examples/analyst_notebook.py
# [--db healthcard-demo.sqlite3] [--out FOLDER]``. Without ``--db`` it first writes a
# small sample log (three days at one hospital) with the library itself.
#
# The funnel and the no-show rate are computed twice, in SQL over the Parquet export
# and in Python with ``healthcard.analytics``, and the two must agree.

# %%
from __future__ import annotations

import argparse
import random
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from healthcard import HealthCardApp
from healthcard.adapters.persistence import local_sqlite_env
from healthcard.analytics import (
    GroupBy,
    card_as_of_time,
    card_history,
    compute_stats,
    describe_card,
    export_log,
)
from healthcard.analytics.funnel import STAGES
from healthcard.domain.audit import Channel
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import HealthCardError
from healthcard.domain.usage import UsageStep
from healthcard.testing import FakeClock
from healthcard.testing.world import Driver

CHANNELS = [Channel.WECHAT_OFFICIAL_ACCOUNT, Channel.KIOSK, Channel.WINDOW, Channel.APP]


def sample_log(db: Path, *, cards_per_day: int = 40, days: int = 3, seed: int = 7) -> None:
    """A few days at a hospital, written through the application's commands."""
    rng = random.Random(seed)
    clock = FakeClock(datetime(2026, 11, 23, 7, 30, tzinfo=CHINA_TZ))
    app = HealthCardApp(local_sqlite_env(db, create_key=True), clock=clock)
    d = Driver(app)
    try:
        for _ in range(days):
            sessions = [d.publish(capacity=12) for _ in range(3)]
            for _ in range(cards_per_day):
                clock.advance(minutes=rng.randint(1, 9))
                card = d.register(rng.choice(CHANNELS))
                if rng.random() < 0.2:
                    continue
                person = d.complete_identity(card)
                phone = d.bind(card) if rng.random() < 0.75 else None
                if rng.random() < 0.3:
                    continue
                session = rng.choice(sessions)
                try:
                    appointment = d.book(session, card)
                except HealthCardError:  # the session is full
                    continue
                roll = rng.random()
                if roll < 0.1:
                    d.cancel_appointment(session, appointment)
                elif roll < 0.85:
                    d.check_in(session, person)
                    if phone is not None:
                        step = rng.choice([UsageStep.DIAGNOSIS, UsageStep.PAYMENT])
                        d.use(card, phone, step)
            clock.advance(days=1)
            clock.set(clock.now.replace(hour=7, minute=30))
    finally:
        app.close()


parser = argparse.ArgumentParser(description="Replay, export and query the event log.")
parser.add_argument("--db", type=Path, default=None, help="an existing SQLite log")
parser.add_argument("--out", type=Path, default=None, help="folder for the export")
args, _ = parser.parse_known_args()
folder = args.out or Path(tempfile.mkdtemp(prefix="healthcard-notebook-"))
folder.mkdir(parents=True, exist_ok=True)
db = args.db
if db is None:
    db = folder / "sample.sqlite3"
    if not db.exists():
        sample_log(db)
app = HealthCardApp(local_sqlite_env(db))

# %% [markdown]
# ## 1. Export the log to Parquet (personal data masked)

# %%
parquet = folder / "events.parquet"
summary = export_log(app, parquet)
print(f"exported {summary.rows} events to {parquet} (masked: {summary.masked})")
con = duckdb.connect()
con.read_parquet(str(parquet)).create_view("events")


def rows(sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


# %%
print("events per type:")
for event_type, n in rows("SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC"):
    print(f"  {event_type:<22} {n}")

# %% [markdown]
# ## 2. The funnel by registration channel, in SQL

# %%
FUNNEL_SQL = """
WITH cards AS (
    SELECT card_id, channel FROM events WHERE event_type = 'Registered'
),
reached AS (
    SELECT card_id,
        bool_or(event_type = 'IdentityCompleted') AS identity_completed,
        bool_or(event_type = 'Bound') AS bound,
        bool_or(event_type = 'AppointmentMade') AS appointment,
        bool_or(event_type = 'CheckedIn') AS checked_in,
        bool_or(event_type = 'CardUsed'
                AND json_extract_string(data, '$.step')
                    IN ('010102', '010103', '010104', '010106', '010107')) AS seen
    FROM events WHERE card_id IS NOT NULL GROUP BY card_id
)
SELECT c.channel,
    count(*) AS registered,
    count(*) FILTER (WHERE identity_completed) AS identity_completed,
    count(*) FILTER (WHERE bound) AS bound,
    count(*) FILTER (WHERE appointment) AS appointment,
    count(*) FILTER (WHERE checked_in) AS checked_in,
    count(*) FILTER (WHERE seen) AS seen
FROM cards c JOIN reached r USING (card_id)
GROUP BY c.channel ORDER BY c.channel
"""
sql_funnel = {row[0]: dict(zip(STAGES, row[1:], strict=True)) for row in rows(FUNNEL_SQL)}
for channel, counts in sql_funnel.items():
    print(f"  {channel:<24} " + "  ".join(f"{stage}={n}" for stage, n in counts.items()))

# %% [markdown]
# ## 3. The same with ``healthcard.analytics`` (one streaming pass), and they agree

# %%
stats = compute_stats(app, by=GroupBy.CHANNEL)
python_funnel = {row.group: row.counts for row in stats.rows}
assert python_funnel == sql_funnel, (python_funnel, sql_funnel)
print("SQL and Python funnels agree:", python_funnel == sql_funnel)

# %% [markdown]
# ## 4. No-show rate: appointments of past sessions neither cancelled nor checked in

# %%
NO_SHOW_SQL = """
WITH sessions AS (
    SELECT originator_id AS session_id, CAST(json_extract_string(data, '$.day') AS DATE) AS day
    FROM events WHERE event_type = 'SessionPublished'
),
booked AS (
    SELECT originator_id AS session_id, json_extract_string(data, '$.appointment_id') AS id
    FROM events WHERE event_type = 'AppointmentMade'
),
ended AS (
    SELECT json_extract_string(data, '$.appointment_id') AS id, any_value(event_type) AS how
    FROM events WHERE event_type IN ('AppointmentCancelled', 'CheckedIn') GROUP BY 1
),
as_of AS (
    SELECT CAST(max(timezone('Asia/Shanghai', timestamp)) AS DATE) AS day FROM events
    WHERE event_type IN ('Registered', 'IdentityCompleted', 'Bound', 'SessionPublished',
        'AppointmentMade', 'AppointmentCancelled', 'CheckedIn', 'CardUsed')
)
SELECT count(*) AS due, count(*) FILTER (WHERE ended.how IS NULL) AS no_shows
FROM booked JOIN sessions USING (session_id) LEFT JOIN ended USING (id), as_of
WHERE sessions.day < as_of.day AND coalesce(ended.how, '') <> 'AppointmentCancelled'
"""
due, no_shows = rows(NO_SHOW_SQL)[0]
print(f"no-shows: {no_shows} of {due} due ({no_shows / due:.1%})" if due else "no past sessions")
assert (due, no_shows) == (stats.no_shows.past_appointments, stats.no_shows.no_shows)

# %% [markdown]
# ## 5. One card's story, and the card as it was an hour after registering

# %%
card_id = rows(
    "SELECT card_id FROM events WHERE event_type = 'CardUsed' ORDER BY position LIMIT 1"
)[0][0]
for entry in card_history(app, UUID(card_id), related=True):
    print(f"  {entry.timestamp:%Y-%m-%d %H:%M} {entry.event_type:<20} {entry.channel}")
first = card_history(app, UUID(card_id))[0].timestamp
then = describe_card(card_as_of_time(app, UUID(card_id), first))
print("as registered:", {k: then[k] for k in ("status", "kind", "name", "document_number")})

# %%
app.close()
result = {
    "events": summary.rows,
    "funnel": sql_funnel,
    "no_shows": (no_shows, due),
    "parquet": str(parquet),
}
print("done:", {k: v for k, v in result.items() if k != "funnel"})
