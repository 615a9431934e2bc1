"""Fixtures of the integration tests: key stores on a real SQLite file and a real
PostgreSQL schema, several store objects on one database standing for several processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from healthcard.testing.keystores import KeyStoreBackend, postgres_backend, sqlite_backend


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStoreBackend]:
    if request.param == "sqlite":
        opened = sqlite_backend(tmp_path / "keys.sqlite3")
    else:
        opened = postgres_backend(
            request.getfixturevalue("pg_server"), request.getfixturevalue("pg_schema")
        )
    try:
        yield opened
    finally:
        opened.close()
