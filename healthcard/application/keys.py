"""The keys folder: every secret a deployment needs, generated, loaded and rotated.

``healthcard keys generate --out DIR`` writes (folder mode 0700, secrets mode 0600):

| file | what | size |
| --- | --- | --- |
| ``lookup.key`` | HMAC-SHA256 key of the document and account indexes | 32 bytes, hex |
| ``ehc-index.key`` | HMAC-SM3 key of the main index ID | 32 bytes, hex |
| ``ehc-root.key`` | SM4 root key of the national EHC ID | 16 bytes, hex |
| ``national-qr.key`` | SM4 key protecting the national dynamic QR's validity | 16 bytes, hex |
| ``kek.json``, ``kek-<gen>.key`` | key-encryption key of the per-person keys | 32 bytes, hex |
| ``qr-signing-<kid>.pem`` | Ed25519 QR signing key (production mode), PKCS#8 | one per key id |
| ``qr-signing.json`` | which signing key is current, which are retired | |
| ``public.json`` | the published verification keys (``healthcard qr verify --keys``), 0644 | |
| ``healthcard.env`` | ``HEALTHCARD_KEYS_DIR=DIR``: what configures an app to use the folder | |

The key-encryption key comes in generations (``kek.json`` lists them, one file each):
``healthcard privacy complete-erasures`` adds one and destroys retired ones.

Why a folder of files: a secret store (Kubernetes secrets, systemd credentials, a
mounted vault) hands secrets over as files; one variable then names the folder, and
no key ever sits in an environment listing or a process table. Every file is checked
on load (ours, not open to group or others: ``adapters.secret_files``), so a leaked or
swapped key stops the application instead of running on it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from healthcard.adapters.national_ids import (
    INDEX_KEY_SIZE,
    ROOT_KEY_SIZE,
    TEST_INDEX_KEY,
    TEST_ROOT_KEY,
    NationalKeys,
)
from healthcard.adapters.privacy.kek import FileKeyEncryptionKey
from healthcard.adapters.secret_files import (
    check_private,
    private_folder,
    read_hex_key,
    read_secret,
    replace_file,
    write_secret,
)
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.errors import ConfigurationError, InsecureConfiguration
from healthcard.qr.keyring import Keyring, KeyringError
from healthcard.qr.national_qr import TEST_PROTECTION_KEY

ENV_KEYS_DIR: Final = "HEALTHCARD_KEYS_DIR"
SIGNING_FORMAT: Final = "healthcard.qr.signing/1"

LOOKUP_FILE: Final = "lookup.key"
EHC_INDEX_FILE: Final = "ehc-index.key"
EHC_ROOT_FILE: Final = "ehc-root.key"
NATIONAL_QR_FILE: Final = "national-qr.key"
SIGNING_FILE: Final = "qr-signing.json"
PUBLIC_FILE: Final = "public.json"
ENV_FILE: Final = "healthcard.env"
PUBLIC_FILE_MODE: Final = 0o644

SECRET_SIZES: Final = {
    LOOKUP_FILE: 32,
    EHC_INDEX_FILE: INDEX_KEY_SIZE,
    EHC_ROOT_FILE: ROOT_KEY_SIZE,
    NATIONAL_QR_FILE: 16,
}
"""Each secret file and its key size in bytes."""

PUBLIC_TEST_KEYS: Final = {
    EHC_INDEX_FILE: TEST_INDEX_KEY,
    EHC_ROOT_FILE: TEST_ROOT_KEY,
    NATIONAL_QR_FILE: TEST_PROTECTION_KEY,
}


@dataclass(frozen=True, slots=True)
class KeySet:
    """The secrets of one deployment, as loaded from its keys folder."""

    folder: Path
    lookup_key: bytes
    national_keys: NationalKeys
    qr_protection_key: bytes
    kek: FileKeyEncryptionKey
    keyring: Keyring

    def __repr__(self) -> str:  # never the keys themselves
        return f"KeySet(folder={str(self.folder)!r})"


def signing_file(key_id: int) -> str:
    return f"qr-signing-{key_id}.pem"


def generate(folder: Path) -> KeySet:
    """Write a new keys folder (refused if ``folder`` exists and is not empty)."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigurationError(f"{folder} exists and is not an empty folder", field="out")
    private_folder(folder)
    for name, size in SECRET_SIZES.items():
        write_secret(folder / name, secrets.token_bytes(size).hex().encode("ascii") + b"\n")
    keyring = Keyring()
    key_id = keyring.generate(IssuerMode.PRODUCTION)
    write_secret(folder / signing_file(key_id), keyring.private_pem(IssuerMode.PRODUCTION, key_id))
    _write_signing_state(folder, keyring, replace=False)
    _publish(folder, keyring)
    FileKeyEncryptionKey.create_in(folder)
    env = f"{ENV_KEYS_DIR}={folder.resolve()}\n"
    write_secret(folder / ENV_FILE, env.encode("utf-8"))
    return load(folder)


def load(folder: Path) -> KeySet:
    """Read and check a keys folder; typed errors name the file, never a key."""
    check_private(folder, folder=True)
    values = {name: read_hex_key(folder / name, size) for name, size in SECRET_SIZES.items()}
    for name, public in PUBLIC_TEST_KEYS.items():
        if values[name] == public:
            raise InsecureConfiguration(f"key in {name} (a public test key)")
    return KeySet(
        folder=folder,
        lookup_key=values[LOOKUP_FILE],
        national_keys=NationalKeys(
            root_key=values[EHC_ROOT_FILE], index_key=values[EHC_INDEX_FILE], mode="production"
        ),
        qr_protection_key=values[NATIONAL_QR_FILE],
        kek=FileKeyEncryptionKey(folder),
        keyring=_load_keyring(folder),
    )


def rotate(folder: Path) -> int:
    """Add a new production signing key that signs from now on; returns its key id.

    Older keys keep verifying (their tokens live a minute) until :func:`retire`.
    """
    keyring = load(folder).keyring
    try:
        key_id = keyring.generate(IssuerMode.PRODUCTION)
    except KeyringError as error:
        raise ConfigurationError(str(error), field="kid") from None
    write_secret(folder / signing_file(key_id), keyring.private_pem(IssuerMode.PRODUCTION, key_id))
    _write_signing_state(folder, keyring, replace=True)
    _publish(folder, keyring)
    return key_id


def retire(folder: Path, key_id: int) -> None:
    """Stop a signing key for good: tokens it signed are refused (``retired_key``), its
    private key file is deleted, and the public document lists it as retired."""
    keyring = load(folder).keyring
    try:
        keyring.retire(IssuerMode.PRODUCTION, key_id)
    except KeyringError as error:
        raise ConfigurationError(str(error), field="kid") from None
    _write_signing_state(folder, keyring, replace=True)
    _publish(folder, keyring)
    (folder / signing_file(key_id)).unlink(missing_ok=True)


def summary(folder: Path) -> dict[str, Any]:
    """What an operator may see of a keys folder: key ids and states, no key material."""
    loaded = load(folder)
    keyring = loaded.keyring
    mode = IssuerMode.PRODUCTION
    return {
        "folder": str(folder),
        "current_signing_key": keyring.current_key_id(mode),
        "signing_keys": [
            {"kid": kid, "status": _status(keyring, kid)} for kid in keyring.key_ids(mode)
        ],
        "secrets": sorted(SECRET_SIZES),
        "kek_generations": list(loaded.kek.generations()),
    }


def _status(keyring: Keyring, key_id: int) -> str:
    key = keyring.verification_key(IssuerMode.PRODUCTION, key_id)
    return "retired" if key is not None and key.retired else "active"


def _load_keyring(folder: Path) -> Keyring:
    path = folder / SIGNING_FILE
    try:
        state = json.loads(read_secret(path))
        current = state["current"]
        keys = state["keys"]
        if state.get("format") != SIGNING_FORMAT or not isinstance(keys, list):
            raise ValueError("format")
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(
            f"{path} is not a signing-key state file", field="key_file"
        ) from None
    keyring = Keyring()
    try:
        for entry in keys:
            key_id, status = entry["kid"], entry["status"]
            if status == "retired":
                keyring.add_retired(IssuerMode.PRODUCTION, key_id)
                continue
            pem = read_secret(folder / signing_file(key_id))
            keyring.load_pem(
                pem, key_id=key_id, mode=IssuerMode.PRODUCTION, current=key_id == current
            )
    except (KeyringError, KeyError, TypeError) as error:
        raise ConfigurationError(f"{path}: {error}", field="key_file") from None
    if keyring.current_key_id(IssuerMode.PRODUCTION) is None:
        raise ConfigurationError(f"{path} names no current signing key", field="key_file")
    return keyring


def _write_signing_state(folder: Path, keyring: Keyring, *, replace: bool) -> None:
    mode = IssuerMode.PRODUCTION
    state = {
        "format": SIGNING_FORMAT,
        "current": keyring.current_key_id(mode),
        "keys": [{"kid": kid, "status": _status(keyring, kid)} for kid in keyring.key_ids(mode)],
    }
    text = json.dumps(state, indent=2) + "\n"
    write_secret(folder / SIGNING_FILE, text.encode("utf-8"), replace=replace)


def _publish(folder: Path, keyring: Keyring) -> None:
    """``public.json``: the production verification keys, readable by anyone (0644)."""
    document = keyring.public_json(IssuerMode.PRODUCTION).encode("utf-8")
    replace_file(folder / PUBLIC_FILE, document, PUBLIC_FILE_MODE)


__all__ = [
    "ENV_FILE",
    "ENV_KEYS_DIR",
    "PUBLIC_FILE",
    "SECRET_SIZES",
    "KeySet",
    "generate",
    "load",
    "retire",
    "rotate",
    "summary",
]
