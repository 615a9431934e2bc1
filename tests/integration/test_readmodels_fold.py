"""Property: incremental processing (random batch sizes, interleaved with writes),
processing with restarts at random points, and a full rebuild all give the same
tables, equal to a plain fold over the application's decoded events.

The reference fold (``healthcard.testing.clinic_histories.reference_tables``) is
written from the event classes, independently of ``healthcard.readmodels``.
Histories are random command sequences through ``HealthCardApp`` (in memory,
``FakeClock``): registrations, identities, bindings, sessions, bookings,
cancellations, check-ins by ID card and by QR, card uses at points of care,
erasures and the passing of time; refused commands are part of it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.readmodels import Projector, open_projections, rebuild
from healthcard.testing.clinic_histories import History, history_steps, reference_tables
from healthcard.testing.profiles import property_settings, scaled


def served(views: Path, app: HealthCardApp) -> tuple[dict[str, list[tuple[Any, ...]]], int]:
    with open_projections(app=app, views_path=views) as projections:
        store = projections.store
        version = store.current_version()
        applied = next(v.applied for v in store.versions() if v.version == version)
        return store.dump(), applied


# -- the property ----------------------------------------------------------------------------


@settings(property_settings(), max_examples=scaled(60))
@given(
    history=history_steps(),
    catch_up_after=st.lists(st.booleans(), min_size=40, max_size=40),
    restart_after=st.lists(st.booleans(), min_size=40, max_size=40),
    batch_a=st.integers(1, 7),
    batch_b=st.integers(1, 50),
)
def test_incremental_restarted_and_rebuilt_views_equal_the_reference_fold(
    history: list[tuple[int, int, int]],
    catch_up_after: list[bool],
    restart_after: list[bool],
    batch_a: int,
    batch_b: int,
) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as folder, HealthCardApp(memory_env(), clock=clock) as app:
        views_a, views_b = Path(folder) / "a.sqlite3", Path(folder) / "b.sqlite3"
        driver = History(app, clock)
        driver.preamble()
        with open_projections(app=app, views_path=views_a) as live:
            incremental = Projector(app, live.store, batch_size=batch_a)
            for i, (op, a, b) in enumerate(history):
                driver.step(op, a, b)
                if catch_up_after[i]:
                    incremental.catch_up()
                if restart_after[i]:  # a new process: fresh objects on the same file
                    with open_projections(app=app, views_path=views_b) as restarted:
                        Projector(app, restarted.store, batch_size=batch_b).catch_up()
            incremental.catch_up()
        with open_projections(app=app, views_path=views_b) as restarted:
            Projector(app, restarted.store, batch_size=batch_b).catch_up()

        expected, used = reference_tables(app)
        for name in ("appointments", "triage", "cards"):
            note(f"{name}: {'some' if expected[name] else 'none'}")
        statuses = {row[8] for row in expected["triage"]} | {
            row[3] for row in expected["appointments"]
        }
        for status in sorted(statuses):
            note(f"status {status}")
        if any(row[4] for row in expected["cards"]):
            note("an erased card")
        tables_a, applied_a = served(views_a, app)
        tables_b, applied_b = served(views_b, app)
        assert tables_a == expected
        assert tables_b == expected
        assert applied_a == used  # each event applied exactly once
        assert applied_b == used

        with open_projections(app=app, views_path=views_a) as live:
            result = rebuild(app, live.store, batch_size=batch_b)
            assert result.replaced == 1
            assert result.version == 2
            assert live.store.dump() == expected
            assert result.applied == used
