"""A SQLite file whose write lock another process holds past the busy timeout.

Every command waits the busy timeout, then fails with the typed
``store_unavailable``, whichever store (the events or the keys beside them) met the
lock first; once the lock is released the same command goes through.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.persistence import sqlite_env
from healthcard.domain.errors import StoreUnavailable
from healthcard.testing import FakeClock
from healthcard.testing.world import Driver, person, phone_account


def test_a_held_write_lock_is_store_unavailable_then_the_command_goes_through(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.sqlite3"
    app = HealthCardApp(sqlite_env(db), clock=FakeClock())
    try:
        driver = Driver(app)
        card = driver.register()
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, for too long
        try:
            for step in (
                driver.register,  # a new card's key is written first
                lambda: driver.complete_identity(card, person(1)),
            ):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    step()
                assert time.monotonic() - started < 15.0
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        driver.complete_identity(card, person(1))
        driver.bind(card, phone_account(1))
        assert app.card(card).is_formal
    finally:
        app.close()
