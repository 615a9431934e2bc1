"""Code written against 0.1.0 keeps running: its module paths are aliases of the new
ones (same objects, a ``MovedModuleWarning`` naming the new path), its README tour
runs unchanged, and ``python -m healthcard.projections.runner`` still starts a worker.
"""

from __future__ import annotations

import importlib
import runpy
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from healthcard._moved import MovedModuleWarning
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application import HealthCardApp
from healthcard.testing.world import Driver

MOVED: dict[str, str] = {
    "healthcard.commands": "healthcard.application.commands",
    "healthcard.config": "healthcard.application.config",
    "healthcard.lookup": "healthcard.application.keyed_ids",
    "healthcard.persistence": "healthcard.adapters.persistence",
    "healthcard.masking": "healthcard.adapters.privacy.masking",
    "healthcard.audit_trail": "healthcard.analytics.audit_trail",
    "healthcard.cli_support": "healthcard.cli.errors",
    "healthcard.cli_qr": "healthcard.cli.qr",
    "healthcard.cli_projections": "healthcard.cli.readmodels",
    "healthcard.cli_analytics": "healthcard.cli.analytics",
    "healthcard.events.base": "healthcard.domain.events.base",
    "healthcard.events.card": "healthcard.domain.events.card",
    "healthcard.events.account": "healthcard.domain.events.account",
    "healthcard.events.document": "healthcard.domain.events.document",
    "healthcard.events.session": "healthcard.domain.events.session",
    "healthcard.events.catalog": "healthcard.domain.events.catalog",
    "healthcard.events.codec": "healthcard.adapters.codec",
    "healthcard.privacy.keystore": "healthcard.adapters.privacy.keystore",
    "healthcard.privacy.personal_data": "healthcard.adapters.privacy.sealing",
    "healthcard.qr.national": "healthcard.adapters.national_ids",
    "healthcard.qr.render": "healthcard.adapters.qr_render",
    "healthcard.qr.demo_output": "healthcard.simulation.qr_files",
    "healthcard.analytics.redact": "healthcard.adapters.privacy.masking",
    "healthcard.testing.clock": "healthcard.adapters.clock",
    "healthcard.testing.steps": "healthcard.testing.strategies.values",
    **{
        f"healthcard.projections.{name}": f"healthcard.readmodels.{name}"
        for name in [
            "booking",
            "connect",
            "decode",
            "fold",
            "logreader",
            "model",
            "pipeline",
            "queries",
            "reader_process",
            "rebuild",
            "runner",
            "schema",
            "sql_dialect",
            "status",
            "store_postgres",
            "store_sql",
            "store_sqlite",
            "triage",
            "views",
        ]
    },
}
PACKAGES = {
    "healthcard.events": "healthcard.domain.events",
    "healthcard.privacy": "healthcard.adapters.privacy",
    "healthcard.projections": "healthcard.readmodels",
}
HERE = Path(__file__).resolve().parent


def fresh_import(name: str) -> object:
    """Import ``name`` as if for the first time (its alias is set up again); its old
    parent package, if any, is imported first (its own warning is another test's)."""
    parent = name.rpartition(".")[0]
    if parent in PACKAGES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MovedModuleWarning)
            importlib.import_module(parent)
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_is_the_new_module_with_a_warning(old: str, new: str) -> None:
    with pytest.warns(MovedModuleWarning, match=new.replace(".", r"\.")):
        module = fresh_import(old)
    assert module is importlib.import_module(new)


@pytest.mark.parametrize(("old", "new"), sorted(PACKAGES.items()))
def test_an_old_package_offers_the_new_packages_names(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(MovedModuleWarning, match=new.replace(".", r"\.")):
        package = importlib.import_module(old)
    modern = importlib.import_module(new)
    names = getattr(modern, "__all__", [])
    for name in names:
        assert getattr(package, name) is getattr(modern, name)


def test_an_old_event_class_is_the_same_class_and_keeps_its_topic() -> None:
    from healthcard.domain.events.card import Registered

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MovedModuleWarning)
        old = fresh_import("healthcard.events.card")
    assert old.Registered is Registered  # type: ignore[attr-defined]
    assert Registered.TOPIC == "healthcard.card.Registered"


def test_the_0_1_0_readme_tour_runs_unchanged() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MovedModuleWarning)
        for name in [*MOVED, *PACKAGES]:
            sys.modules.pop(name, None)
        runpy.run_path(str(HERE / "compat" / "api_tour_0_1_0.py"), run_name="tour")


def test_the_0_1_0_worker_command_still_catches_up(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite3"
    with HealthCardApp(sqlite_env(db), clock=FakeClock()) as app:
        driver = Driver(app)
        card = driver.register()
        driver.complete_identity(card)
        session = driver.publish()
        driver.book(session, card)
    completed = subprocess.run(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "healthcard.projections.runner", "--db", str(db), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "events.views.sqlite3").exists()
