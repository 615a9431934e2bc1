"""``healthcard privacy status|complete-erasures``: what an operator runs after erasures.

The fault is the database's own: a trigger makes the key table refuse updates (as a
read-only or failing volume would), so the erasure is recorded but its keys stay.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application import keys as keys_folder
from healthcard.application.commands import ErasePersonalData
from healthcard.cli import app as cli
from healthcard.domain.audit import Audit
from healthcard.domain.errors import ErasureIncomplete
from healthcard.testing.leaks import Persona

REFUSE_KEY_UPDATES = (
    "CREATE TRIGGER refuse_key_updates BEFORE UPDATE ON healthcard_personal_keys"
    " BEGIN SELECT RAISE(FAIL, 'the volume refuses writes'); END"
)


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "deployment-keys"
    keys_folder.generate(folder)
    monkeypatch.setenv("HEALTHCARD_KEYS_DIR", str(folder))
    db = tmp_path / "events.sqlite3"
    return db, {**sqlite_env(db), "HEALTHCARD_KEYS_DIR": str(folder)}


def _run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_status_lists_a_pending_erasure_and_complete_erasures_finishes_it(
    deployment: tuple[Path, dict[str, str]], audit: Audit
) -> None:
    db, env = deployment
    person = Persona.unique()
    with HealthCardApp(env, clock=FakeClock()) as app:
        card_id = person.register(app, audit)
        accounts = set(app.card(card_id).accounts)
        with sqlite3.connect(db) as conn:
            conn.execute(REFUSE_KEY_UPDATES)
        with pytest.raises(ErasureIncomplete):
            app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))

    status = _run("privacy", "status", "--db", str(db))
    assert {UUID(str(s)) for s in status["pending_erasures"]} == {card_id, *accounts}  # type: ignore[attr-defined]
    printed = CliRunner().invoke(cli, ["privacy", "status", "--db", str(db)]).output
    assert str(card_id) in printed
    assert person.name not in printed
    assert person.phone not in printed

    refused = CliRunner().invoke(cli, ["privacy", "complete-erasures", "--db", str(db)])
    assert refused.exit_code == 2
    assert "error[" in refused.output  # the volume still refuses: said, not hidden

    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER refuse_key_updates")
    done = _run("privacy", "complete-erasures", "--db", str(db))
    assert {UUID(str(s)) for s in done["completed"]} == {card_id, *accounts}  # type: ignore[attr-defined]
    assert done["destroyed"]
    after = _run("privacy", "status", "--db", str(db))
    assert after["pending_erasures"] == []
    generations = after["key_store"]["generations"]  # type: ignore[index]
    assert [g["state"] for g in generations] == ["destroyed", "current"]
    with HealthCardApp(env, clock=FakeClock()) as app:
        assert app.card(card_id).name != person.name
