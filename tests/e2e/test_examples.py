"""The examples in ``examples/`` run as tests, so they keep working as the library moves.

- ``embedding_app.py``: an app using the library as a dependency; its morning at the
  desk must end as the lifecycle rules say.
- ``property_test_example.py``: an embedder's property tests; run by pytest in a
  child process, all must pass (and there must be some).
- ``analyst_notebook.py``: the notebook-style script; it cross-checks its DuckDB
  figures against ``healthcard.analytics`` itself and must finish; its Parquet export
  must hold every event of the log.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq

from healthcard import HealthCardApp
from healthcard.adapters.persistence import local_sqlite_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES)}
    return subprocess.run(  # noqa: S603 (our own interpreter and files)
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_embedding_app_follows_the_rules(tmp_path: Path) -> None:
    outcome = load("embedding_app").main(tmp_path / "desk.sqlite3")
    assert outcome["registered"] == 200
    assert outcome["shown_as"] == "王* 110***********002X"
    assert outcome["second_card_for_same_document"] == (409, "document_already_registered")
    assert outcome["typo_in_id_number"] == (422, "invalid_input", "number")
    assert outcome["typo_echoed"] is False
    assert outcome["unknown_staff"] == (403, "not_authorised")  # refused before anything
    assert outcome["booked"] == 200
    assert outcome["session_full"] == (409, "session_full")  # capacity 1, second patient
    assert outcome["arrived"] == 200
    assert outcome["funnel"]["registered"] == 2  # refusals left no temporary card behind
    assert outcome["funnel"]["checked_in"] == 1


def test_the_property_test_example_passes(tmp_path: Path) -> None:
    result = run(
        "-m", "pytest", str(EXAMPLES / "property_test_example.py"), "-q", "-p", "no:cacheprovider",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None
    assert int(passed.group(1)) >= 5
    assert "skipped" not in result.stdout


def test_the_analyst_notebook_runs_and_exports_every_event(tmp_path: Path) -> None:
    result = run(str(EXAMPLES / "analyst_notebook.py"), "--out", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SQL and Python funnels agree: True" in result.stdout
    app = HealthCardApp(local_sqlite_env(tmp_path / "sample.sqlite3"))
    try:
        logged = app.recorder.max_notification_id() or 0
    finally:
        app.close()
    table = pq.read_table(tmp_path / "events.parquet")
    assert table.num_rows == logged
    assert table.column("position").to_pylist() == list(range(1, logged + 1))
