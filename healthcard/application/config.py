"""Library configuration: family cap, the keys, retries.

Read from the environment (``HEALTHCARD_*``: a keys folder named by
``HEALTHCARD_KEYS_DIR``, or single-key variables) or passed explicitly. Without keys the
library runs in *test mode* with public, documented test keys: fine for demos and
tests, never for production (``HEALTHCARD_REQUIRE_PRODUCTION_KEYS=1`` makes it an error,
see ``healthcard.application.bootstrap``).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from healthcard.adapters.national_ids import ENV_INDEX_KEY, ENV_ROOT_KEY, NationalKeys
from healthcard.application.keys import ENV_KEYS_DIR, KeySet
from healthcard.domain.errors import ConfigurationError
from healthcard.qr.national_qr import (
    ENV_PROTECTION_KEY,
    TEST_PROTECTION_KEY,
    protection_key_from_env,
)

TEST_LOOKUP_KEY = hashlib.sha256(b"healthcard test-mode lookup key").digest()
"""TEST ONLY: public key for the keyed hashes that index documents and accounts."""

FAMILY_CAP_DEFAULT = 5


@dataclass(frozen=True, slots=True)
class HealthCardConfig:
    """Settings of one application instance (the keys are left out of ``repr``)."""

    family_cap: int = FAMILY_CAP_DEFAULT
    lookup_key: bytes = field(default=TEST_LOOKUP_KEY, repr=False)
    national_keys: NationalKeys = field(default_factory=NationalKeys.test, repr=False)
    qr_protection_key: bytes = field(default=TEST_PROTECTION_KEY, repr=False)
    conflict_retries: int = 8
    backup_retention_days: int = 0
    """How long a retired key-encryption key is kept so that backups made under it can
    still be restored (``HEALTHCARD_BACKUP_RETENTION_DAYS``; default 0: destroyed at
    the rotation that retires it). An erasure is complete in every backup at the
    first rotation after this window (``docs/privacy.md``)."""
    group_commit_ms: float = 0.0
    """How long the first of several concurrent saves in one process waits for others
    to share its transaction (``HEALTHCARD_GROUP_COMMIT_MS``; 0, the default: every
    command is its own transaction). See ``healthcard.application.group_commit``."""
    snapshot_interval: int = 100
    """A card's state is snapshotted (sealed with its key) at every this many of its
    events, so a card used thousands of times loads from its latest snapshot and the
    events after it (``HEALTHCARD_SNAPSHOT_INTERVAL``; 0: never). See
    ``healthcard.adapters.snapshots``."""
    combine_session_commands: bool = True
    """Bookings and cancellations of one session from this process's threads are
    decided in turn on one load and saved together, instead of each saving alone and
    conflicting (``HEALTHCARD_COMBINE_SESSION_COMMANDS``; ``0`` switches it off). See
    ``healthcard.application.combining``."""

    def __post_init__(self) -> None:
        if not 1 <= self.family_cap <= 20:
            raise ConfigurationError("HEALTHCARD_FAMILY_CAP must be between 1 and 20")
        if len(self.lookup_key) != 32:
            raise ConfigurationError("HEALTHCARD_LOOKUP_KEY must be 32 bytes (64 hex characters)")
        if len(self.qr_protection_key) != 16:
            raise ConfigurationError("the national QR protection key must be 16 bytes")
        if not 0 <= self.backup_retention_days <= 3660:
            raise ConfigurationError(
                "HEALTHCARD_BACKUP_RETENTION_DAYS must be between 0 and 3660",
                field="HEALTHCARD_BACKUP_RETENTION_DAYS",
            )
        if self.conflict_retries < 1:
            raise ConfigurationError("conflict_retries must be at least 1")
        if not 0 <= self.group_commit_ms <= 100:
            raise ConfigurationError(
                "HEALTHCARD_GROUP_COMMIT_MS must be between 0 and 100",
                field="HEALTHCARD_GROUP_COMMIT_MS",
            )
        if self.snapshot_interval != 0 and not 2 <= self.snapshot_interval <= 100_000:
            raise ConfigurationError(
                "HEALTHCARD_SNAPSHOT_INTERVAL must be 0 (off) or between 2 and 100000",
                field="HEALTHCARD_SNAPSHOT_INTERVAL",
            )

    def test_keys(self) -> list[str]:
        """The keys that are public test keys or missing, by name (empty in production)."""
        weak = []
        if self.lookup_key == TEST_LOOKUP_KEY:
            weak.append("lookup key")
        if self.national_keys.mode == "test":
            weak.append("EHC root and index keys")
        if self.qr_protection_key == TEST_PROTECTION_KEY:
            weak.append("national QR protection key")
        return weak

    @property
    def test_mode(self) -> bool:
        """True when any key is a public test key (or missing)."""
        return bool(self.test_keys())

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, keys: KeySet | None = None
    ) -> HealthCardConfig:
        """Settings from ``HEALTHCARD_*`` variables; the keys from ``keys`` (a loaded
        keys folder) or, without one, from the single-key variables (test keys when
        unset). A keys folder and single-key variables together are refused: which
        one wins would be a guess."""
        env = os.environ if environ is None else environ
        cap = _integer(env, "HEALTHCARD_FAMILY_CAP", FAMILY_CAP_DEFAULT)
        retention = _integer(env, "HEALTHCARD_BACKUP_RETENTION_DAYS", 0)
        window = _number(env, "HEALTHCARD_GROUP_COMMIT_MS", 0.0)
        interval = _integer(env, "HEALTHCARD_SNAPSHOT_INTERVAL", 100)
        combine = _switch(env, "HEALTHCARD_COMBINE_SESSION_COMMANDS", default=True)
        if keys is not None:
            given = [name for name in SINGLE_KEY_VARIABLES if env.get(name)]
            if given:
                raise ConfigurationError(
                    f"{ENV_KEYS_DIR} and {', '.join(given)} are both set: use the keys folder"
                )
            return cls(
                family_cap=cap,
                lookup_key=keys.lookup_key,
                national_keys=keys.national_keys,
                qr_protection_key=keys.qr_protection_key,
                backup_retention_days=retention,
                group_commit_ms=window,
                snapshot_interval=interval,
                combine_session_commands=combine,
            )
        lookup_hex = env.get("HEALTHCARD_LOOKUP_KEY", "")
        try:
            lookup = bytes.fromhex(lookup_hex) if lookup_hex else TEST_LOOKUP_KEY
        except ValueError:
            raise ConfigurationError("HEALTHCARD_LOOKUP_KEY must be hex") from None
        return cls(
            family_cap=cap,
            lookup_key=lookup,
            national_keys=NationalKeys.from_env(env),
            qr_protection_key=protection_key_from_env(env),
            backup_retention_days=retention,
            group_commit_ms=window,
            snapshot_interval=interval,
            combine_session_commands=combine,
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip() or str(default)
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number", field=name) from None
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number", field=name)
    return value


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true or false)", field=name)


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip() or str(default)
    try:
        return int(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer", field=name) from None


SINGLE_KEY_VARIABLES = (
    "HEALTHCARD_LOOKUP_KEY",
    ENV_ROOT_KEY,
    ENV_INDEX_KEY,
    ENV_PROTECTION_KEY,
)
"""Variables that each carry one key (the keys folder replaces them all)."""
