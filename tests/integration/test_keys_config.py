"""Keys from configuration: the keys folder, production mode, and the files' modes.

``healthcard.application.keys`` writes and reads the folder; ``HealthCardApp`` loads
every key from it (``HEALTHCARD_KEYS_DIR``); ``HEALTHCARD_REQUIRE_PRODUCTION_KEYS=1``
refuses any test or missing key before anything is read or written, whatever
``config=`` or ``keyring=`` say; a test-mode app logs one warning; key files open to
others are refused; files holding secrets or personal data are created 0600.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.national_ids import TEST_INDEX_KEY, TEST_ROOT_KEY, ehc_id, main_index_id
from healthcard.adapters.persistence import local_sqlite_env, memory_env, sqlite_env
from healthcard.analytics.export import export_log
from healthcard.application import keys as keys_folder
from healthcard.application.commands import AccountRef, BindCard, IssueToken
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.errors import (
    ConfigurationError,
    InsecureConfiguration,
    InsecureKeyFile,
    TokenRejected,
    TokenRejectReason,
)
from healthcard.domain.usage import TokenUse
from healthcard.qr.issue import issue_token
from healthcard.qr.keyring import Keyring, PublishedKeys
from healthcard.qr.verify import Verifier
from healthcard.readmodels import catch_up_all, views_path_for
from healthcard.testing.world import Driver

STAFF = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
PHONE = AccountRef(kind="phone", identifier="13812345678")
REQUIRE = {"HEALTHCARD_REQUIRE_PRODUCTION_KEYS": "1"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated keys folder (generating an Ed25519 key and five secrets is cheap,
    but tests that change the folder make their own)."""
    return keys_folder_at(tmp_path_factory.mktemp("deploy") / "keys")


def keys_folder_at(path: Path) -> Path:
    keys_folder.generate(path)
    return path


def env_of(folder: Path) -> dict[str, str]:
    """What sourcing the folder's healthcard.env gives an application."""
    lines = (folder / keys_folder.ENV_FILE).read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines)


# -- the folder ----------------------------------------------------------------------------


def test_generate_writes_every_secret_private_and_the_public_document(folder: Path) -> None:
    assert mode(folder) == 0o700
    for name in [
        *keys_folder.SECRET_SIZES,
        "qr-signing-0.pem",
        "qr-signing.json",
        "healthcard.env",
    ]:
        assert mode(folder / name) == 0o600, name
    assert mode(folder / keys_folder.PUBLIC_FILE) == 0o644
    assert env_of(folder) == {"HEALTHCARD_KEYS_DIR": str(folder.resolve())}
    loaded = keys_folder.load(folder)
    published = PublishedKeys.from_json((folder / keys_folder.PUBLIC_FILE).read_bytes())
    key = published.verification_key(IssuerMode.PRODUCTION, 0)
    assert key is not None
    assert not key.retired
    assert loaded.keyring.public_json(IssuerMode.PRODUCTION) == (
        folder / keys_folder.PUBLIC_FILE
    ).read_text(encoding="utf-8")
    (generation,) = loaded.kek.generations()
    kek_file = folder / f"kek-{generation}.key"
    assert mode(kek_file) == 0o600
    assert mode(folder / "kek.json") == 0o600
    # independent secrets
    assert loaded.lookup_key.hex() != kek_file.read_text(encoding="ascii").strip()
    assert "KeySet(folder=" in repr(loaded)
    assert loaded.lookup_key.hex() not in repr(loaded)


def test_generate_refuses_a_folder_in_use(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        keys_folder.generate(folder)
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        keys_folder.generate(tmp_path)


def test_an_app_loads_every_key_from_the_folder(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = keys_folder.load(folder)
    with (
        caplog.at_level(logging.WARNING, logger="healthcard"),
        HealthCardApp({**memory_env(), **env_of(folder), **REQUIRE}, clock=FakeClock()) as app,
    ):
        assert app.config.lookup_key == loaded.lookup_key
        assert app.config.national_keys == loaded.national_keys
        assert app.config.qr_protection_key == loaded.qr_protection_key
        assert app.kek is not None
        assert app.kek.generations() == loaded.kek.generations()
        assert app.keyring.mode is IssuerMode.PRODUCTION
        assert app.config.test_keys() == []
        driver = Driver(app)
        card = driver.register()
        who = driver.complete_identity(card)
        doc = who.document
        test_ehc = ehc_id(
            main_index_id("01", doc.number, TEST_INDEX_KEY), TEST_ROOT_KEY, "01", doc.number
        )
        assert app.card(card).ehc_id not in (None, test_ehc)
        app.bind(BindCard(audit=STAFF, card_id=card, account=PHONE))
        token = app.issue_token(IssueToken(audit=STAFF, card_id=card, account=PHONE))
        published = PublishedKeys.from_json((folder / keys_folder.PUBLIC_FILE).read_bytes())
        assert not isinstance(Verifier(published).verify(token, app.clock()), TokenRejectReason)
        forged, _ = issue_token(
            Keyring.for_tests(),
            card_id=card,
            account_id=app.account(PHONE).id,
            mode=IssuerMode.TEST,
            use=TokenUse.ANY,
            at=app.clock(),
        )
        with pytest.raises(TokenRejected) as excinfo:
            app.verify_token(forged)
        assert excinfo.value.reason is TokenRejectReason.TEST_TOKEN_IN_PRODUCTION
    assert [r for r in caplog.records if r.name == "healthcard"] == []  # production: silent


# -- production mode required ------------------------------------------------------------


def test_required_production_keys_refuse_to_start_without_them(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite3"
    with pytest.raises(InsecureConfiguration) as excinfo:
        HealthCardApp({**sqlite_env(db), **REQUIRE})
    assert excinfo.value.code == "insecure_configuration"
    assert excinfo.value.key == "lookup key"
    assert not db.exists()  # refused before anything was read or written


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"config": HealthCardConfig()}, "lookup key"),
        ({"keyring": Keyring.for_tests()}, "QR signing key"),
    ],
    ids=["config=", "keyring="],
)
def test_required_production_keys_cannot_be_bypassed_by_arguments(
    folder: Path, override: dict[str, object], key: str
) -> None:
    with pytest.raises(InsecureConfiguration) as excinfo:
        HealthCardApp({**memory_env(), **env_of(folder), **REQUIRE}, **override)  # type: ignore[arg-type]
    assert excinfo.value.key == key


def test_single_key_variables_without_a_signing_key_are_not_production() -> None:
    env = {
        **memory_env(),
        **REQUIRE,
        "HEALTHCARD_LOOKUP_KEY": "11" * 32,
        "HEALTHCARD_EHC_ROOT_KEY": "22" * 16,
        "HEALTHCARD_EHC_INDEX_KEY": "33" * 32,
    }
    with pytest.raises(InsecureConfiguration) as excinfo:
        HealthCardApp(env)
    assert excinfo.value.key == "national QR protection key"
    with pytest.raises(InsecureConfiguration) as excinfo:
        HealthCardApp({**env, "HEALTHCARD_EHC_QR_KEY": "44" * 16})
    assert excinfo.value.key == "key-encryption key"


def test_a_folder_and_single_key_variables_together_are_refused(folder: Path) -> None:
    with pytest.raises(ConfigurationError, match="both set"):
        HealthCardApp({**memory_env(), **env_of(folder), "HEALTHCARD_LOOKUP_KEY": "11" * 32})


def test_a_test_mode_app_logs_one_warning_without_personal_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="healthcard"), HealthCardApp(memory_env()) as app:
        Driver(app).register(name="欧阳娜娜")
    warnings = [r for r in caplog.records if r.name == "healthcard"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "test mode" in message
    assert "QR signing key" in message
    assert "欧阳娜娜" not in message


# -- key files -------------------------------------------------------------------------------


def test_a_key_file_open_to_others_is_refused_naming_it(tmp_path: Path) -> None:
    folder = keys_folder_at(tmp_path / "keys")
    (folder / "lookup.key").chmod(0o640)
    with pytest.raises(InsecureKeyFile) as excinfo:
        HealthCardApp({**memory_env(), **env_of(folder)})
    assert excinfo.value.path == str(folder / "lookup.key")
    assert excinfo.value.code == "insecure_key_file"


def test_a_key_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test runs as root (CI does) to give a file away")
    folder = keys_folder_at(tmp_path / "keys")
    os.chown(folder / "kek.json", 4242, 4242)
    with pytest.raises(InsecureKeyFile, match="another user"):
        keys_folder.load(folder)


def test_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    folder = keys_folder_at(tmp_path / "keys")
    folder.chmod(0o777)
    with pytest.raises(InsecureKeyFile, match="write"):
        keys_folder.load(folder)


def test_a_missing_key_is_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    folder = keys_folder_at(tmp_path / "keys")
    (folder / "kek.json").unlink()
    with pytest.raises(InsecureKeyFile, match=r"kek\.json"):
        keys_folder.load(folder)


def test_a_missing_key_encryption_key_generation_names_its_file(tmp_path: Path) -> None:
    folder = keys_folder_at(tmp_path / "keys")
    (generation,) = keys_folder.load(folder).kek.generations()
    (folder / f"kek-{generation}.key").unlink()
    with pytest.raises(InsecureKeyFile, match=rf"kek-{generation}\.key"):
        keys_folder.load(folder)


def test_the_demo_key_file_is_refused_unless_private(tmp_path: Path) -> None:
    db = tmp_path / "day.sqlite3"
    key_file = Path(f"{db}.key")
    key_file.write_text("planted-by-someone-else\n", encoding="ascii")
    key_file.chmod(0o644)
    with pytest.raises(InsecureKeyFile):
        local_sqlite_env(db, create_key=True)
    key_file.unlink()
    local_sqlite_env(db, create_key=True)
    assert mode(key_file) == 0o600


# -- rotation ------------------------------------------------------------------------------


def test_rotation_signs_with_the_new_key_until_the_old_one_is_retired(tmp_path: Path) -> None:
    folder = keys_folder_at(tmp_path / "keys")
    env = {**sqlite_env(tmp_path / "events.sqlite3"), **env_of(folder)}
    with HealthCardApp(env, clock=FakeClock()) as app:
        driver = Driver(app)
        card = driver.register()
        driver.complete_identity(card)
        app.bind(BindCard(audit=STAFF, card_id=card, account=PHONE))
        old = app.issue_token(IssueToken(audit=STAFF, card_id=card, account=PHONE))
        clock = app.clock
    assert keys_folder.rotate(folder) == 1
    published = PublishedKeys.from_json((folder / keys_folder.PUBLIC_FILE).read_bytes())
    verifier = Verifier(published)
    at = clock()
    assert not isinstance(verifier.verify(old, at), TokenRejectReason)  # still verifies
    with HealthCardApp(env, clock=FakeClock(at)) as app:
        new = app.issue_token(IssueToken(audit=STAFF, card_id=card, account=PHONE))
        assert app.token_verifier.claims(new, at).key_id == 1
    keys_folder.retire(folder, 0)
    assert not (folder / "qr-signing-0.pem").exists()
    published = PublishedKeys.from_json((folder / keys_folder.PUBLIC_FILE).read_bytes())
    assert Verifier(published).verify(old, at) is TokenRejectReason.RETIRED_KEY
    assert not isinstance(Verifier(published).verify(new, at), TokenRejectReason)
    with pytest.raises(ConfigurationError, match="current key"):
        keys_folder.retire(folder, 1)


# -- files the library creates ------------------------------------------------------------


def test_files_holding_secrets_or_personal_data_are_created_private(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite3"
    with HealthCardApp(local_sqlite_env(db, create_key=True), clock=FakeClock()) as app:
        driver = Driver(app)
        card = driver.register()
        driver.complete_identity(card)
        clear = tmp_path / "clear.jsonl"
        export_log(app, clear, clear=True)
    catch_up_all(db)
    assert mode(db) == 0o600  # events and the per-person key table
    assert mode(Path(f"{db}.key")) == 0o600
    assert mode(views_path_for(db)) == 0o600
    assert mode(clear) == 0o600
    for suffix in ("-wal", "-shm"):
        wal = Path(f"{db}{suffix}")
        if wal.exists():
            assert mode(wal) & 0o077 == 0, suffix
