"""National electronic health card identifiers: the main index ID and the EHC ID.

The resident electronic health card carries two national identifiers:

* the *main index ID* (主索引), a 32-byte pseudonym of the person that the issuer
  keeps as the stable key of its master patient index, and
* the *EHC ID* (电子健康卡 ID), the identifier printed into QR codes and exchanged
  between institutions.  It is the person's ID document encrypted under a per-person
  *user key*, itself derived from the main index ID and the issuer's *root key*.

Both are derived with the Chinese national algorithms (SM3 and SM4) because the
national specification requires domestic cryptography for health-card identifiers.
Every function here is pure: no I/O, no clock, no randomness, so the same inputs
always give the same identifier, which is what an identifier must do.

Error messages name the offending parameter but never echo its value: the values
are ID numbers and keys, and error messages end up in logs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from healthcard.domain.errors import ConfigurationError

__all__ = [
    "DOCUMENT_NUMBER_MAX_LENGTH",
    "ENV_INDEX_KEY",
    "ENV_ROOT_KEY",
    "INDEX_KEY_SIZE",
    "MAIN_INDEX_ID_SIZE",
    "ROOT_KEY_SIZE",
    "SM4_BLOCK_SIZE",
    "SM4_KEY_SIZE",
    "TEST_INDEX_KEY",
    "TEST_ROOT_KEY",
    "NationalKeys",
    "decode_ehc_id",
    "ehc_id",
    "main_index_id",
    "sm4_ecb_decrypt",
    "sm4_ecb_encrypt",
]

SM4_BLOCK_SIZE: Final = 16
"""SM4 is a 128-bit block cipher (GB/T 32907-2016)."""

SM4_KEY_SIZE: Final = 16
"""SM4 only has 128-bit keys."""

ROOT_KEY_SIZE: Final = SM4_KEY_SIZE
"""The root key is used directly as an SM4 key to derive user keys."""

INDEX_KEY_SIZE: Final = 32
"""The index key is an HMAC-SM3 key; 32 bytes matches SM3's output size."""

MAIN_INDEX_ID_SIZE: Final = 32
"""The main index ID is one SM3 output: 32 bytes, 64 hex characters."""

DOCUMENT_NUMBER_MAX_LENGTH: Final = 64
"""Upper bound on document numbers, so an EHC ID stays small enough for a QR code."""

ENV_ROOT_KEY: Final = "HEALTHCARD_EHC_ROOT_KEY"
ENV_INDEX_KEY: Final = "HEALTHCARD_EHC_INDEX_KEY"

_FACTOR_SIZE: Final = 8
_DOCUMENT_TYPE_RE: Final = re.compile(r"[0-9]{2}")
_DOCUMENT_NUMBER_RE: Final = re.compile(rf"[\x20-\x7e]{{1,{DOCUMENT_NUMBER_MAX_LENGTH}}}")
_HEX_RE: Final = re.compile(r"[0-9A-Fa-f]*")

TEST_ROOT_KEY: Final[bytes] = hashlib.sha256(b"healthcard test-mode root key").digest()[
    :ROOT_KEY_SIZE
]
"""TEST ONLY, never for production: a public, deterministic root key.

It is derived from a fixed public string so that tests, examples and local
development produce reproducible EHC IDs without any secret.  Anyone can
recompute it, so EHC IDs made with it protect nothing.
"""

TEST_INDEX_KEY: Final[bytes] = hashlib.sha256(b"healthcard test-mode index key").digest()
"""TEST ONLY, never for production: a public, deterministic index key.

Like :data:`TEST_ROOT_KEY`, it is public; main index IDs computed with it can be
enumerated from ID numbers by anyone.
"""


# --------------------------------------------------------------------------- SM4


def _sm4_ecb_cipher(key: bytes, data: bytes) -> Cipher[modes.ECB]:
    if not isinstance(key, bytes) or len(key) != SM4_KEY_SIZE:
        raise ValueError(f"key must be exactly {SM4_KEY_SIZE} bytes")
    if not isinstance(data, bytes) or len(data) % SM4_BLOCK_SIZE != 0:
        raise ValueError(f"data length must be a multiple of {SM4_BLOCK_SIZE} bytes")
    # ECB is what the national EHC ID algorithm specifies.  It is acceptable here
    # because each plaintext is a distinct, already-unique document under a
    # per-person user key, and determinism is the point: an ID must be stable.
    return Cipher(algorithms.SM4(key), modes.ECB())  # noqa: S305


def sm4_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    """Encrypt ``data`` with SM4 in ECB mode, without padding.

    The EHC ID algorithm is defined on raw SM4 blocks (the caller does its own
    zero padding), so this refuses data that is not a whole number of blocks
    instead of silently padding it in some other way.

    Raises:
        ValueError: ``key`` is not 16 bytes, or ``data`` is not a multiple of 16 bytes.
    """
    encryptor = _sm4_ecb_cipher(key, data).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def sm4_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    """Decrypt ``data`` with SM4 in ECB mode, without removing any padding.

    The inverse of :func:`sm4_ecb_encrypt`; padding is the caller's business.

    Raises:
        ValueError: ``key`` is not 16 bytes, or ``data`` is not a multiple of 16 bytes.
    """
    decryptor = _sm4_ecb_cipher(key, data).decryptor()
    return decryptor.update(data) + decryptor.finalize()


# --------------------------------------------------------------------- validation


def _check_document_type(document_type: str) -> None:
    # Document types are the two-digit codes of the national code table
    # ("01" = resident ID card, ...); anything else is a caller bug.
    if not isinstance(document_type, str) or _DOCUMENT_TYPE_RE.fullmatch(document_type) is None:
        raise ValueError("document_type must be exactly two ASCII digits")


def _check_document_number(document_number: str) -> None:
    # Printable ASCII only (0x20-0x7E): the number is encrypted as ASCII, and since
    # it can never contain 0x00, stripping the zero padding on decode is unambiguous.
    if (
        not isinstance(document_number, str)
        or _DOCUMENT_NUMBER_RE.fullmatch(document_number) is None
    ):
        raise ValueError(
            f"document_number must be 1 to {DOCUMENT_NUMBER_MAX_LENGTH} printable ASCII characters"
        )


def _check_key(name: str, key: bytes, size: int) -> None:
    if not isinstance(key, bytes) or len(key) != size:
        raise ValueError(f"{name} must be exactly {size} bytes")


def _parse_hex(name: str, value: str, size: int | None = None) -> bytes:
    """Parse strict hex (no whitespace, no ``0x``); ``size`` is in bytes, if fixed."""
    # bytes.fromhex alone would accept embedded whitespace, so check the alphabet first.
    if (
        not isinstance(value, str)
        or _HEX_RE.fullmatch(value) is None
        or len(value) % 2 != 0
        or (size is not None and len(value) != 2 * size)
    ):
        expected = f"{2 * size} hex characters" if size is not None else "hex characters"
        raise ValueError(f"{name} must be {expected}")
    return bytes.fromhex(value)


# ------------------------------------------------------------------ identifiers


def main_index_id(document_type: str, document_number: str, index_key: bytes) -> str:
    """Return the 64-character upper-case hex main index ID of a person.

    The national specification leaves the derivation of the main index to the
    issuer.  We use a keyed hash, HMAC-SM3 keyed by ``index_key`` over the UTF-8
    bytes of ``document_type + "|" + document_number.upper()``, so the index
    cannot be enumerated from ID numbers (a small, structured space) by anyone
    without the key, while the issuer still gets the same index for the same
    person every time.  The number is upper-cased because resident ID check
    characters are written both as ``x`` and ``X`` and must not yield two
    identities; the ``|`` separator keeps type and number from running together.

    Raises:
        ValueError: a parameter is malformed (the message names it, not its value).
    """
    _check_document_type(document_type)
    _check_document_number(document_number)
    _check_key("index_key", index_key, INDEX_KEY_SIZE)
    mac = hmac.HMAC(index_key, hashes.SM3())
    mac.update(f"{document_type}|{document_number.upper()}".encode())
    return mac.finalize().hex().upper()


def _user_key(main_index: bytes, root_key: bytes) -> bytes:
    """Derive the per-person SM4 user key from the main index and the root key.

    The four 8-byte blocks of the main index are XORed into an 8-byte factor F,
    and the user key is SM4-ECB(root_key, F || NOT F).  Diversifying the key per
    person means one leaked user key exposes one person, not the root key.
    """
    factor = bytearray(_FACTOR_SIZE)
    for start in range(0, MAIN_INDEX_ID_SIZE, _FACTOR_SIZE):
        for i, byte in enumerate(main_index[start : start + _FACTOR_SIZE]):
            factor[i] ^= byte
    complement = bytes(b ^ 0xFF for b in factor)
    return sm4_ecb_encrypt(root_key, bytes(factor) + complement)


def ehc_id(main_index_id: str, root_key: bytes, document_type: str, document_number: str) -> str:
    """Return the EHC ID: the person's ID document encrypted under their user key.

    Algorithm (pinned by the golden vector in the tests, because stored EHC IDs
    must keep decoding):

    1. Split the 32-byte main index into four 8-byte blocks and XOR them into F.
    2. user key = SM4-ECB(root_key, F || NOT F), NOT being the bytewise complement.
    3. EHC ID = SM4-ECB(user key, ASCII(document_type || document_number)
       zero-padded to a multiple of 16 bytes, with no padding block added when it
       already is one), as upper-case hex.

    The document number is encrypted exactly as given (unlike :func:`main_index_id`,
    it is not upper-cased) so that :func:`decode_ehc_id` returns it unchanged;
    callers should normalise it first.  A resident ID ("01" + 18 characters) gives
    20 bytes, padded to 32, hence 64 hex characters.

    Raises:
        ValueError: a parameter is malformed (the message names it, not its value).
    """
    main_index = _parse_hex("main_index_id", main_index_id, MAIN_INDEX_ID_SIZE)
    _check_key("root_key", root_key, ROOT_KEY_SIZE)
    _check_document_type(document_type)
    _check_document_number(document_number)
    plaintext = (document_type + document_number).encode("ascii")
    padding = -len(plaintext) % SM4_BLOCK_SIZE
    plaintext += b"\x00" * padding
    return sm4_ecb_encrypt(_user_key(main_index, root_key), plaintext).hex().upper()


def decode_ehc_id(ehc_id: str, main_index_id: str, root_key: bytes) -> tuple[str, str]:
    """Recover ``(document_type, document_number)`` from an EHC ID (issuer side).

    Only the issuer, holding the root key and the person's main index, can do this;
    it is how the issuer resolves a scanned EHC ID back to an ID document.  SM4-ECB
    carries no integrity check, so a wrong key or main index is detected only when
    the decrypted bytes are not a well-formed document, which is likely but not
    guaranteed; look the result up before trusting it.

    Raises:
        ValueError: a parameter is malformed, or ``ehc_id`` does not decrypt to a
            well-formed document under this key (messages never echo values).
    """
    max_blocks = -(-(2 + DOCUMENT_NUMBER_MAX_LENGTH) // SM4_BLOCK_SIZE)
    ciphertext = _parse_hex("ehc_id", ehc_id)
    size = len(ciphertext)
    if size == 0 or size % SM4_BLOCK_SIZE or size > max_blocks * SM4_BLOCK_SIZE:
        raise ValueError(
            f"ehc_id must be 1 to {max_blocks} SM4 blocks "
            f"({2 * SM4_BLOCK_SIZE} hex characters each)"
        )
    main_index = _parse_hex("main_index_id", main_index_id, MAIN_INDEX_ID_SIZE)
    _check_key("root_key", root_key, ROOT_KEY_SIZE)
    plaintext = sm4_ecb_decrypt(_user_key(main_index, root_key), ciphertext).rstrip(b"\x00")
    try:
        text = plaintext.decode("ascii")
        document_type, document_number = text[:2], text[2:]
        _check_document_type(document_type)
        _check_document_number(document_number)
    except ValueError:
        # UnicodeDecodeError is a ValueError too.  Do not chain: the underlying
        # error could carry decrypted bytes.
        raise ValueError(
            "ehc_id does not decrypt to a valid document under this main_index_id and root_key"
        ) from None
    return document_type, document_number


# ------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class NationalKeys:
    """The issuer's two secrets: the SM4 root key and the HMAC-SM3 index key.

    ``mode`` records whether these are the public test keys or real ones, so that
    callers can refuse to issue production cards with test keys.  The keys are
    excluded from ``repr`` so that logging a ``NationalKeys`` does not leak them.
    """

    root_key: bytes = field(repr=False)
    index_key: bytes = field(repr=False)
    mode: Literal["test", "production"]

    def __post_init__(self) -> None:
        _check_key("root_key", self.root_key, ROOT_KEY_SIZE)
        _check_key("index_key", self.index_key, INDEX_KEY_SIZE)
        if self.mode not in ("test", "production"):
            raise ValueError('mode must be "test" or "production"')
        if self.mode == "production" and (
            self.root_key == TEST_ROOT_KEY or self.index_key == TEST_INDEX_KEY
        ):
            # The test keys are public; using them in production would make every
            # EHC ID decryptable and every main index enumerable.
            raise ValueError("production keys must not be the public test-mode keys")

    @classmethod
    def test(cls) -> NationalKeys:
        """Return the public TEST ONLY keys (:data:`TEST_ROOT_KEY`, :data:`TEST_INDEX_KEY`)."""
        return cls(root_key=TEST_ROOT_KEY, index_key=TEST_INDEX_KEY, mode="test")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NationalKeys:
        """Read production keys from ``HEALTHCARD_EHC_ROOT_KEY`` and ``HEALTHCARD_EHC_INDEX_KEY``.

        The root key is 32 hex characters and the index key 64.  If neither is set
        (an empty value counts as unset) the test keys are returned, so that
        development works out of the box while ``mode`` still says "test".  If only
        one is set, that is almost certainly a deployment mistake, and silently
        falling back to test keys would issue cards anyone can decrypt, so it is an
        error.  Taking ``environ`` as a parameter keeps this function pure.

        Raises:
            ConfigurationError: (a ``ValueError``) only one variable is set, or a value
                is malformed (the message names the variable, never its value).
        """
        root_hex = environ.get(ENV_ROOT_KEY, "")
        index_hex = environ.get(ENV_INDEX_KEY, "")
        if not root_hex and not index_hex:
            return cls.test()
        if not root_hex:
            raise ConfigurationError(f"{ENV_ROOT_KEY} must be set when {ENV_INDEX_KEY} is set")
        if not index_hex:
            raise ConfigurationError(f"{ENV_INDEX_KEY} must be set when {ENV_ROOT_KEY} is set")
        try:
            root_key = _parse_hex(ENV_ROOT_KEY, root_hex, ROOT_KEY_SIZE)
            index_key = _parse_hex(ENV_INDEX_KEY, index_hex, INDEX_KEY_SIZE)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        return cls(root_key=root_key, index_key=index_key, mode="production")
