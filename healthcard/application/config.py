"""Library configuration: family cap, lookup key, national keys, retries.

Read from the environment (``HEALTHCARD_*``) or passed explicitly. Without keys the
library runs in *test mode* with public, documented test keys: fine for demos and
tests, never for production (``require_production_keys`` makes that an error).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from healthcard.adapters.national_ids import NationalKeys
from healthcard.domain.errors import ConfigurationError

TEST_LOOKUP_KEY = hashlib.sha256(b"healthcard test-mode lookup key").digest()
"""TEST ONLY: public key for the keyed hashes that index documents and accounts."""

FAMILY_CAP_DEFAULT = 5


@dataclass(frozen=True, slots=True)
class HealthCardConfig:
    """Settings of one application instance."""

    family_cap: int = FAMILY_CAP_DEFAULT
    lookup_key: bytes = field(default=TEST_LOOKUP_KEY, repr=False)
    national_keys: NationalKeys = field(default_factory=NationalKeys.test, repr=False)
    conflict_retries: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.family_cap <= 20:
            raise ConfigurationError("HEALTHCARD_FAMILY_CAP must be between 1 and 20")
        if len(self.lookup_key) != 32:
            raise ConfigurationError("HEALTHCARD_LOOKUP_KEY must be 32 bytes (64 hex characters)")
        if self.conflict_retries < 1:
            raise ConfigurationError("conflict_retries must be at least 1")

    @property
    def test_mode(self) -> bool:
        """True when any key is a public test key."""
        return self.lookup_key == TEST_LOOKUP_KEY or self.national_keys.mode == "test"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HealthCardConfig:
        env = os.environ if environ is None else environ
        cap_text = env.get("HEALTHCARD_FAMILY_CAP", "") or str(FAMILY_CAP_DEFAULT)
        try:
            cap = int(cap_text)
        except ValueError:
            raise ConfigurationError("HEALTHCARD_FAMILY_CAP must be an integer") from None
        lookup_hex = env.get("HEALTHCARD_LOOKUP_KEY", "")
        try:
            lookup = bytes.fromhex(lookup_hex) if lookup_hex else TEST_LOOKUP_KEY
        except ValueError:
            raise ConfigurationError("HEALTHCARD_LOOKUP_KEY must be hex") from None
        config = cls(family_cap=cap, lookup_key=lookup, national_keys=NationalKeys.from_env(env))
        if (
            env.get("HEALTHCARD_REQUIRE_PRODUCTION_KEYS", "") in ("1", "true", "yes")
            and config.test_mode
        ):
            raise ConfigurationError(
                "HEALTHCARD_REQUIRE_PRODUCTION_KEYS is set but test-mode keys are in use"
            )
        return config
