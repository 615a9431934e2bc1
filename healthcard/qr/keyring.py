"""Ed25519 signing keys for QR tokens: key ids, rotation, retirement, PEM, publication.

A key is identified by its issuer mode and key id (0..23). Each mode has one
*current* key that signs; older keys keep verifying until they are *retired*
(rotation), after which tokens signed with them are refused as ``retired_key``.

Test keys (Measures Art. 12: test cards are made and audited before formal issue)
are derived from a public seed, so anyone can sign a test token: that is why a
production verifier refuses test-mode tokens, why test keys are never accepted as
production keys, and why the public key document is published per mode. Every
keyring holds test key 0, so tokens for test cards can always be issued; a keyring
without production keys is a *test-mode* keyring (the library default, like the
public test keys of :mod:`healthcard.application.config`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from healthcard.domain.card_values import IssuerMode
from healthcard.qr.token import MAX_KEY_ID

TEST_SEED: Final = b"healthcard test-mode QR signing key "
"""TEST ONLY, public: test key ``k``'s 32-byte private key is SHA-256(TEST_SEED || ASCII(k))."""

DOCUMENT_FORMAT: Final = "healthcard.qr.keys/1"

_SMALL_ORDER_ENCODINGS: Final = tuple(
    bytes.fromhex(encoding)
    for encoding in (
        # libsodium's blacklist of small-order Ed25519 points: ge25519_has_small_order()
        # in src/libsodium/crypto_core/ed25519/ref10/ed25519_ref10.c, which libsodium's
        # Ed25519 verification (src/libsodium/crypto_sign/ed25519/ref10/open.c)
        # applies to every public key before using it.
        "0000000000000000000000000000000000000000000000000000000000000000",  # 0, order 4
        "0100000000000000000000000000000000000000000000000000000000000000",  # 1, order 1
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p-1, order 2
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p (= 0), order 4
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p+1 (= 1), order 1
    )
)
"""Encodings (y coordinate, sign bit cleared) of the points of order 1, 2, 4 and 8.

A public key of small order verifies signatures that anyone can make without a
private key (with the identity, ``[S]B = R`` is all a verifier checks), and OpenSSL
loads such keys without complaint. As in libsodium, the last byte is compared with
its sign bit cleared, so each entry stands for two encodings: 14 in all, including
the non-canonical ones (p, p+1, and x = 0 with the sign bit set).
"""


class KeyringError(ValueError):
    """A key operation is not allowed or a key (document) is malformed; never echoes keys."""


def derive_test_key(key_id: int) -> Ed25519PrivateKey:
    """TEST ONLY: the public, deterministic test signing key with id ``key_id``."""
    _check_key_id(key_id)
    seed = hashlib.sha256(TEST_SEED + str(key_id).encode("ascii")).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


@functools.cache
def _test_public_keys() -> frozenset[bytes]:
    return frozenset(_raw(derive_test_key(k).public_key()) for k in range(MAX_KEY_ID + 1))


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _has_small_order(raw: bytes) -> bool:
    """Whether a raw 32-byte Ed25519 public key encodes a point of small order.

    Compares the first 31 bytes and the last byte without its sign bit against
    :data:`_SMALL_ORDER_ENCODINGS`, as libsodium's ``ge25519_has_small_order`` does.
    Keys are loaded rarely and are public, so a plain comparison is enough.
    """
    return raw[:31] + bytes([raw[31] & 0x7F]) in _SMALL_ORDER_ENCODINGS


def _check_key_id(key_id: int) -> None:
    if type(key_id) is not int or not 0 <= key_id <= MAX_KEY_ID:
        raise KeyringError(f"key ids are integers 0..{MAX_KEY_ID}")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """What a verifier knows of a key. A retired key needs no public key: its tokens
    are refused whatever their signature."""

    key_id: int
    mode: IssuerMode
    public_key: Ed25519PublicKey | None
    retired: bool = False


class KeySource(Protocol):
    """Where a verifier looks up keys: a :class:`Keyring` or :class:`PublishedKeys`."""

    def verification_key(self, mode: IssuerMode, key_id: int) -> VerificationKey | None: ...


class Keyring:
    """The issuer's keys. Not thread-safe for changes (rotate at startup or under a lock);
    lookups and signing are plain reads."""

    def __init__(self) -> None:
        self._private: dict[tuple[IssuerMode, int], Ed25519PrivateKey] = {}
        self._keys: dict[tuple[IssuerMode, int], VerificationKey] = {}
        self._current: dict[IssuerMode, int] = {}
        self._add(IssuerMode.TEST, 0, derive_test_key(0), current=True)

    @classmethod
    def for_tests(cls) -> Keyring:
        """The public test-mode keyring: test key 0 only (reproducible demos and tests)."""
        return cls()

    # -- reading ------------------------------------------------------------------

    @property
    def mode(self) -> IssuerMode:
        """Production as soon as the keyring holds a production key, else test."""
        has_production = any(mode is IssuerMode.PRODUCTION for mode, _ in self._keys)
        return IssuerMode.PRODUCTION if has_production else IssuerMode.TEST

    def current_key_id(self, mode: IssuerMode) -> int | None:
        return self._current.get(mode)

    def key_ids(self, mode: IssuerMode) -> list[int]:
        return sorted(kid for m, kid in self._keys if m is mode)

    def verification_key(self, mode: IssuerMode, key_id: int) -> VerificationKey | None:
        return self._keys.get((mode, key_id))

    def signer(self, mode: IssuerMode) -> tuple[int, Ed25519PrivateKey]:
        """``(key id, private key)`` of the current key of ``mode``."""
        key_id = self._current.get(mode)
        if key_id is None:
            raise KeyringError(f"the keyring has no current {mode.value} key")
        return key_id, self._private[(mode, key_id)]

    # -- changing -----------------------------------------------------------------

    def generate(self, mode: IssuerMode) -> int:
        """Rotate: add a new key with the next free id and make it current; returns its id.

        Older keys keep verifying until :meth:`retire`. Production keys are random;
        test keys are the next deterministic test key, so test runs stay reproducible.
        """
        used = self.key_ids(mode)
        key_id = used[-1] + 1 if used else 0
        if key_id > MAX_KEY_ID:
            raise KeyringError(f"all {MAX_KEY_ID + 1} {mode.value} key ids are used")
        private = (
            derive_test_key(key_id) if mode is IssuerMode.TEST else Ed25519PrivateKey.generate()
        )
        self._add(mode, key_id, private, current=True)
        return key_id

    rotate = generate

    def load_pem(
        self,
        pem: bytes,
        *,
        key_id: int,
        mode: IssuerMode,
        password: bytes | None = None,
        current: bool = True,
    ) -> None:
        """Add a private key from PKCS#8 PEM (as written by :meth:`private_pem`)."""
        try:
            private = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError):
            raise KeyringError("not a readable PEM private key (or wrong password)") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyringError("QR signing keys must be Ed25519 keys")
        self._add(mode, key_id, private, current=current)

    def retire(self, mode: IssuerMode, key_id: int) -> None:
        """Stop accepting tokens signed with this key; its private key is dropped."""
        if (mode, key_id) not in self._keys:
            raise KeyringError(f"no {mode.value} key with this id")
        if self._current.get(mode) == key_id:
            raise KeyringError("the current key cannot be retired: rotate first")
        self._private.pop((mode, key_id), None)
        self._keys[(mode, key_id)] = VerificationKey(key_id, mode, None, retired=True)

    def add_retired(self, mode: IssuerMode, key_id: int) -> None:
        """Record a key retired earlier (its private key destroyed then): verifiers of
        this keyring refuse its tokens as ``retired_key``."""
        _check_key_id(key_id)
        if (mode, key_id) in self._keys:
            raise KeyringError(f"the keyring already has a {mode.value} key with this id")
        self._keys[(mode, key_id)] = VerificationKey(key_id, mode, None, retired=True)

    def private_pem(self, mode: IssuerMode, key_id: int, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM of a private key (encrypted when ``password`` is given)."""
        private = self._private.get((mode, key_id))
        if private is None:
            raise KeyringError(f"no {mode.value} private key with this id")
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def _add(
        self, mode: IssuerMode, key_id: int, private: Ed25519PrivateKey, *, current: bool
    ) -> None:
        _check_key_id(key_id)
        if (mode, key_id) in self._keys:
            raise KeyringError(f"the keyring already has a {mode.value} key with this id")
        # No small-order check here: the public key of a private key is [a]B with a
        # clamped scalar a, a multiple of 8 below 2^255 that is never a multiple of
        # the group order, so it always lies in the prime-order subgroup and is never
        # the identity. Small-order keys can only arrive as public keys (documents).
        public = private.public_key()
        if mode is IssuerMode.PRODUCTION and _raw(public) in _test_public_keys():
            # Test private keys are public: a production key equal to one would let
            # anyone sign production tokens.
            raise KeyringError("a production key must not be one of the public test keys")
        self._private[(mode, key_id)] = private
        self._keys[(mode, key_id)] = VerificationKey(key_id, mode, public)
        if current:
            self._current[mode] = key_id

    # -- publishing ---------------------------------------------------------------

    def public_document(self, mode: IssuerMode | None = None) -> dict[str, Any]:
        """The key document scanners need: per key its id, mode, status and (while
        active) its raw public key in hex. ``mode`` limits it to one mode, which is
        what a production deployment publishes."""
        keys = [self._keys[k] for k in sorted(self._keys, key=lambda k: (k[0].value, k[1]))]
        return {
            "format": DOCUMENT_FORMAT,
            "keys": [_key_entry(key) for key in keys if mode is None or key.mode is mode],
        }

    def public_json(self, mode: IssuerMode | None = None) -> str:
        return json.dumps(self.public_document(mode), indent=2) + "\n"


def _key_entry(key: VerificationKey) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kid": key.key_id,
        "mode": key.mode.value,
        "status": "retired" if key.retired else "active",
    }
    if not key.retired and key.public_key is not None:
        entry["public_key"] = _raw(key.public_key).hex()
    return entry


class PublishedKeys:
    """A verifier's keys, read from a public key document (no private keys)."""

    def __init__(self, keys: Iterable[VerificationKey]) -> None:
        self._keys: dict[tuple[IssuerMode, int], VerificationKey] = {}
        for key in keys:
            if (key.mode, key.key_id) in self._keys:
                raise KeyringError("the key document lists a key id twice for one mode")
            self._keys[(key.mode, key.key_id)] = key

    def verification_key(self, mode: IssuerMode, key_id: int) -> VerificationKey | None:
        return self._keys.get((mode, key_id))

    @classmethod
    def from_json(cls, text: str | bytes) -> PublishedKeys:
        try:
            document = json.loads(text)
        except ValueError:
            raise KeyringError("the key document is not JSON") from None
        except RecursionError:
            # json's decoder recurses once per nesting level; no key document nests
            # more than three levels, so a deeper one is hostile, not a bug of ours.
            raise KeyringError("the key document is nested too deeply") from None
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: Any) -> PublishedKeys:
        """Parse strictly: unknown members, wrong types or bad keys are errors."""
        if not isinstance(document, Mapping) or set(document) != {"format", "keys"}:
            raise KeyringError('the key document must have exactly "format" and "keys"')
        if document["format"] != DOCUMENT_FORMAT:
            raise KeyringError(f'the key document format must be "{DOCUMENT_FORMAT}"')
        entries = document["keys"]
        if not isinstance(entries, list):
            raise KeyringError('"keys" must be a list')
        return cls(_parse_entry(entry) for entry in entries)


def _parse_entry(entry: Any) -> VerificationKey:
    if not isinstance(entry, Mapping):
        raise KeyringError("each key must be an object")
    status = entry.get("status")
    expected = {"kid", "mode", "status"} | ({"public_key"} if status == "active" else set())
    if set(entry) != expected or status not in ("active", "retired"):
        raise KeyringError(
            'a key has "kid", "mode", "status" ("active" or "retired"), and '
            '"public_key" exactly when active'
        )
    key_id = entry["kid"]
    _check_key_id(key_id)
    try:
        mode = IssuerMode(entry["mode"])
    except ValueError:
        raise KeyringError('a key\'s "mode" is "test" or "production"') from None
    if status == "retired":
        return VerificationKey(key_id, mode, None, retired=True)
    raw_hex = entry["public_key"]
    if (
        not isinstance(raw_hex, str)
        or len(raw_hex) != 64
        or any(c not in "0123456789abcdef" for c in raw_hex)
    ):
        raise KeyringError('"public_key" is 64 lower-case hex characters (32 bytes)')
    raw = bytes.fromhex(raw_hex)
    if _has_small_order(raw):
        raise KeyringError('"public_key" is a point of small order, which anyone can sign for')
    if mode is IssuerMode.PRODUCTION and raw in _test_public_keys():
        raise KeyringError("a production key in the document is one of the public test keys")
    try:
        public = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise KeyringError('"public_key" is not an Ed25519 public key') from None
    return VerificationKey(key_id, mode, public)
