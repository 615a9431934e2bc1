"""Wiring: everything an application needs besides its event store, in one place.

Why one factory: the mapper must seal personal fields with the key store, tokens
must be signed with the keyring, and every rule must see the same clock. Resolving
them here, from the application's environment and the caller's explicit choices,
keeps the service class free of set-up code and gives configuration one home (what
is read from which variable, what the defaults are, which keys are test keys).

``HealthCardApp.__init__`` calls :func:`collaborators` once eventsourcing has built
the environment and the mapper, then :func:`seal_personal_fields` on that mapper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import Mapper

from healthcard.adapters.clock import system_clock
from healthcard.adapters.codec import PydanticMapper
from healthcard.adapters.privacy.keystore import KeyStore, keystore_from_env
from healthcard.adapters.privacy.sealing import PersonalDataCodec
from healthcard.application.config import HealthCardConfig
from healthcard.domain.clock import Clock
from healthcard.qr.keyring import Keyring


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What an application instance works with, resolved once at start."""

    config: HealthCardConfig
    clock: Clock
    keyring: Keyring
    keystore: KeyStore
    owns_keystore: bool
    """True when the key store was opened here (the application closes it)."""


def collaborators(
    env: Mapping[str, str],
    *,
    config: HealthCardConfig | None = None,
    clock: Clock | None = None,
    keystore: KeyStore | None = None,
    keyring: Keyring | None = None,
) -> Collaborators:
    """Resolve each collaborator: the one given, else the one ``env`` configures.

    - ``config``: ``HealthCardConfig.from_env(env)`` (``HEALTHCARD_*`` variables);
    - ``clock``: the system clock in China Standard Time;
    - ``keystore``: the per-person key store beside the event store ``env`` names;
    - ``keyring``: the public test keyring (test mode: tokens no production verifier
      accepts).
    """
    resolved_config = config if config is not None else HealthCardConfig.from_env(env)
    opened = keystore is None
    return Collaborators(
        config=resolved_config,
        clock=clock if clock is not None else system_clock,
        keyring=keyring if keyring is not None else Keyring.for_tests(),
        keystore=keystore if keystore is not None else keystore_from_env(env),
        owns_keystore=opened,
    )


def seal_personal_fields(mapper: Mapper[UUID], keystore: KeyStore) -> None:
    """Have ``mapper`` seal fields marked ``Personal`` with per-person keys of ``keystore``."""
    if not isinstance(mapper, PydanticMapper):
        raise TypeError("the application's mapper must be a PydanticMapper")
    mapper.personal = PersonalDataCodec(keystore)
