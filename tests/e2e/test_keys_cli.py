"""``healthcard keys ...`` and production mode from the command line.

The done-when of production keys, end to end: ``keys generate`` + its
``healthcard.env`` + ``HEALTHCARD_REQUIRE_PRODUCTION_KEYS=1`` gives commands that run
and refuse a token signed with the public test key; without the folder the same
setting refuses to start; the demo (test keys by design) refuses too.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application import HealthCardApp
from healthcard.application import keys as keys_folder
from healthcard.application.commands import AccountRef, BindCard, IssueToken
from healthcard.cli import app
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.usage import TokenUse
from healthcard.qr.issue import issue_token
from healthcard.qr.keyring import Keyring
from healthcard.testing.world import Driver

runner = CliRunner()
STAFF = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
PHONE = AccountRef(kind="phone", identifier="13812345678")


def env_file(folder: Path) -> dict[str, str]:
    lines = (folder / "healthcard.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_generate_show_rotate_retire_print_no_key(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    generated = runner.invoke(app, ["keys", "generate", "--out", str(folder)])
    assert generated.exit_code == 0, generated.output
    secrets = [
        (folder / name).read_text(encoding="ascii").strip() for name in keys_folder.SECRET_SIZES
    ]
    outputs = [generated.output]
    for argv in (
        ["keys", "show", "--keys", str(folder), "--json"],
        ["keys", "rotate", "--keys", str(folder)],
        ["keys", "retire", "--keys", str(folder), "--kid", "0"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    shown = json.loads(outputs[1])
    assert shown["current_signing_key"] == 0
    assert all(secret not in output for secret in secrets for output in outputs)
    state = json.loads(runner.invoke(app, ["keys", "show", "--keys", str(folder), "--json"]).output)
    assert state["signing_keys"] == [
        {"kid": 0, "status": "retired"},
        {"kid": 1, "status": "active"},
    ]
    again = runner.invoke(app, ["keys", "retire", "--keys", str(folder), "--kid", "1"])
    assert again.exit_code == 2
    assert again.stderr.startswith("error[invalid_configuration]")


@pytest.fixture
def production(tmp_path: Path) -> tuple[Path, Path, str]:
    """A keys folder, a log written with it, and a production token of one of its cards."""
    folder = tmp_path / "keys"
    assert runner.invoke(app, ["keys", "generate", "--out", str(folder)]).exit_code == 0
    db = tmp_path / "events.sqlite3"
    with HealthCardApp({**sqlite_env(db), **env_file(folder)}, clock=FakeClock()) as health:
        driver = Driver(health)
        card = driver.register()
        driver.complete_identity(card)
        health.bind(BindCard(audit=STAFF, card_id=card, account=PHONE))
        token = health.issue_token(IssueToken(audit=STAFF, card_id=card, account=PHONE))
    return folder, db, token


def test_required_production_keys_with_the_folder_run_and_refuse_test_tokens(
    production: tuple[Path, Path, str],
) -> None:
    folder, db, token = production
    env = {**env_file(folder), "HEALTHCARD_REQUIRE_PRODUCTION_KEYS": "1"}
    stats = runner.invoke(app, ["stats", "--db", str(db), "--json"], env=env)
    assert stats.exit_code == 0, stats.output
    public = str(folder / "public.json")
    at = FakeClock().now.isoformat()
    verified = runner.invoke(app, ["qr", "verify", "--keys", public, "--token", token, "--at", at])
    assert verified.exit_code == 0, verified.output
    forged, _ = issue_token(
        Keyring.for_tests(),
        card_id=UUID(json.loads(verified.stdout)["card_id"]),
        account_id=UUID(int=0),  # any: the test key is refused before any lookup
        mode=IssuerMode.TEST,
        use=TokenUse.ANY,
        at=FakeClock().now,
    )
    refused = runner.invoke(app, ["qr", "verify", "--keys", public, "--token", forged, "--at", at])
    assert refused.exit_code == 1
    assert refused.stderr.strip() == "rejected: test_token_in_production"


def test_required_production_keys_without_the_folder_refuse_to_start(
    production: tuple[Path, Path, str],
) -> None:
    _, db, _ = production
    env = {"HEALTHCARD_REQUIRE_PRODUCTION_KEYS": "1", "HEALTHCARD_KEYS_DIR": ""}
    stats = runner.invoke(app, ["stats", "--db", str(db)], env=env)
    assert stats.exit_code == 2
    assert stats.stderr.startswith("error[insecure_configuration]")
    assert "lookup key" in stats.stderr


def test_the_demo_refuses_to_run_where_production_keys_are_required(
    production: tuple[Path, Path, str], tmp_path: Path
) -> None:
    folder, _, _ = production
    env = {**env_file(folder), "HEALTHCARD_REQUIRE_PRODUCTION_KEYS": "1"}
    demo = runner.invoke(app, ["demo", "--db", str(tmp_path / "day.sqlite3")], env=env)
    assert demo.exit_code == 2
    assert demo.stderr.startswith("error[insecure_configuration]")
    assert not (tmp_path / "day.sqlite3").exists()
