"""Wiring: everything an application needs besides its event store, in one place.

Why one factory: the mapper must seal personal fields with the key store, tokens
must be signed with the keyring, and every rule must see the same clock. Resolving
them here, from the application's environment and the caller's explicit choices,
keeps the service class free of set-up code and gives configuration one home (what
is read from which variable, what the defaults are, which keys are test keys).

``HealthCardApp.__init__`` calls, in this order:

1. :func:`secrets` on the environment eventsourcing will use, *before* anything is
   read or written: it loads the keys (``HEALTHCARD_KEYS_DIR`` or single-key
   variables), refuses test or missing keys when ``HEALTHCARD_REQUIRE_PRODUCTION_KEYS``
   is set (whatever ``config=`` and ``keyring=`` say), and logs one warning in test mode;
2. :func:`prepare_storage`: a SQLite file the application is about to create is
   created with mode 0600 first (it will hold personal data and the per-person keys);
3. eventsourcing's ``Application.__init__`` (connections, tables);
4. :func:`collaborators` for the clock and the key store, then
   :func:`seal_personal_fields` on the mapper.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import Mapper

from healthcard.adapters.clock import system_clock
from healthcard.adapters.codec import PydanticMapper
from healthcard.adapters.privacy.kek import KeyEncryptionKey
from healthcard.adapters.privacy.keystore import KeyStore, keystore_from_env
from healthcard.adapters.privacy.sealing import PersonalDataCodec
from healthcard.adapters.secret_files import create_private_file
from healthcard.application import keys as keys_folder
from healthcard.application.config import HealthCardConfig
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.clock import Clock
from healthcard.domain.errors import InsecureConfiguration
from healthcard.qr.keyring import Keyring

logger = logging.getLogger("healthcard")

ENV_REQUIRE_PRODUCTION_KEYS = "HEALTHCARD_REQUIRE_PRODUCTION_KEYS"
TRUE = frozenset({"1", "true", "yes"})


@dataclass(frozen=True, slots=True)
class Secrets:
    """The configuration (with its keys), the QR keyring and the key-encryption key an
    application runs with."""

    config: HealthCardConfig
    keyring: Keyring
    kek: KeyEncryptionKey | None
    own_keystore: bool = True
    """False when the caller hands in a key store (a KMS wraps its keys itself)."""

    def test_keys(self) -> list[str]:
        """Keys that are public test keys or missing (empty in production)."""
        weak = self.config.test_keys()
        if self.kek is None and self.own_keystore:
            weak.append("key-encryption key")
        if self.keyring.current_key_id(IssuerMode.PRODUCTION) is None:
            weak.append("QR signing key")
        return weak


def secrets(
    env: Mapping[str, str],
    *,
    config: HealthCardConfig | None = None,
    keyring: Keyring | None = None,
    kek: KeyEncryptionKey | None = None,
    keystore_given: bool = False,
) -> Secrets:
    """Resolve the configuration, the keyring and the key-encryption key, and judge them.

    - ``config``: given, else ``HealthCardConfig.from_env`` (the keys folder named by
      ``HEALTHCARD_KEYS_DIR`` when set, else single-key variables, else test keys);
    - ``keyring``: given, else the folder's signing keys, else the public test keyring;
    - ``kek``: given, else the folder's (``kek.json``), else none: per-person keys are
      then stored unwrapped (test mode), unless the caller hands in its own key store.

    Raises ``InsecureConfiguration`` (naming the first weak key) when
    ``HEALTHCARD_REQUIRE_PRODUCTION_KEYS`` is set and any key is a test key or missing.
    """
    folder = env.get(keys_folder.ENV_KEYS_DIR, "")
    loaded = keys_folder.load(Path(folder)) if folder else None
    resolved = Secrets(
        config=config if config is not None else HealthCardConfig.from_env(env, keys=loaded),
        keyring=keyring
        if keyring is not None
        else (loaded.keyring if loaded is not None else Keyring.for_tests()),
        kek=kek if kek is not None else (loaded.kek if loaded is not None else None),
        own_keystore=not keystore_given,
    )
    weak = resolved.test_keys()
    if weak and env.get(ENV_REQUIRE_PRODUCTION_KEYS, "").strip().lower() in TRUE:
        raise InsecureConfiguration(weak[0])
    if weak:
        logger.warning(
            "healthcard runs in test mode: %s %s public test keys or missing; never use "
            "this in production (HEALTHCARD_KEYS_DIR, see docs/security.md)",
            ", ".join(weak),
            "is" if len(weak) == 1 else "are",
        )
    return resolved


def prepare_storage(env: Mapping[str, str]) -> None:
    """Create the SQLite file of the event store with mode 0600 if it does not exist."""
    if not env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        return
    path = env.get("SQLITE_DBNAME", "")
    if (
        path
        and ":memory:" not in path
        and "mode=memory" not in path
        and not path.startswith("file:")
    ):
        create_private_file(Path(path))


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What an application instance works with besides its secrets, resolved once."""

    clock: Clock
    keystore: KeyStore
    owns_keystore: bool
    """True when the key store was opened here (the application closes it)."""


def collaborators(
    env: Mapping[str, str],
    *,
    clock: Clock | None = None,
    keystore: KeyStore | None = None,
    kek: KeyEncryptionKey | None = None,
) -> Collaborators:
    """The clock (the system clock in China Standard Time unless given) and the
    per-person key store (beside the event store ``env`` names, its keys wrapped under
    ``kek``, unless given)."""
    return Collaborators(
        clock=clock if clock is not None else system_clock,
        keystore=keystore if keystore is not None else keystore_from_env(env, kek=kek),
        owns_keystore=keystore is None,
    )


def seal_personal_fields(mapper: Mapper[UUID], keystore: KeyStore) -> None:
    """Have ``mapper`` seal fields marked ``Personal`` with per-person keys of ``keystore``."""
    if not isinstance(mapper, PydanticMapper):
        raise TypeError("the application's mapper must be a PydanticMapper")
    mapper.personal = PersonalDataCodec(keystore)
