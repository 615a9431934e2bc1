"""The national QR text of the electronic health card (issuer side).

Two forms (DESIGN.md, "National formats"), where ``<EHCID>`` stands for the card's
EHC ID (upper-case hex, see :func:`healthcard.adapters.national_ids.ehc_id`) — the QR has to
name the card, so the letters ``EHCID`` are the field, not literal text::

    static:   <EHCID>:1
    dynamic:  <EHCID>:0:<validity>

The validity of a dynamic code (byte-exact in ``docs/qr-format.md``, section 2)::

    N        = 8 random bytes, fresh for every code
    delta    = first 16 bytes of SM3(ASCII "healthcard/national-qr/v2" || 0x00
                                     || ASCII(EHCID) || N)
    P        = ASCII YYYYMMDDHHMMSS of the valid-until time in China Standard Time
               || 0x00 0x00                                      (one SM4 block)
    C        = SM4-ECB(protection key, P XOR delta)
    validity = upper-case hex(N || C)                            (48 characters)

Why this shape:

* **Bound to the card.** ``delta`` depends on the EHC ID written in the text, so a
  validity copied after another EHC ID is decrypted under the wrong ``delta`` and
  yields a random-looking block instead of a time: refused as malformed. (The first
  version encrypted the time alone, so any fresh validity could be pasted after any
  EHC ID.)
* **Unique per issue.** ``N`` is random and part of ``delta``, so two codes for the
  same card and the same second differ, and SM4-ECB never sees the same input
  twice (ECB would show it as equal ciphertexts: same time, same card).
* **Only the key holder makes or reads one.** ``delta`` is public (anyone can
  compute it from the text), the secrecy is the SM4 key's: without it ``C`` hides
  ``P``, and making a code that decrypts to a time means finding a block that SM4
  decrypts, under an unknown key, to one of the few valid plaintexts.
* **Integrity from redundancy, not from a MAC.** A block is accepted only if it
  decrypts to 14 digits that are a real time followed by two zero bytes: about
  2^38 of the 2^128 possible blocks. Whoever knows a code's time learns one SM4
  input/output pair, which is exactly what a block cipher withstands; to make an
  accepted text from it for another card (or another time) they must find a nonce
  whose SM3 ``delta`` lands in that set, about 2^90 SM3 evaluations per success,
  and every guess sent to the issuer succeeds with probability about 2^-90. A
  keyed MAC (HMAC-SM3, truncated to 8 bytes) would add 16 hex characters and need a
  second key, or a key derivation, for little gain over that margin on codes that
  live about a minute; so the code stays one SM4 block plus a nonce, under the one
  protection key the issuer already has.

Only the issuer holds the protection key, so only the issuer can read or check the
validity: this format is verified online, unlike the signed token. With the public
:data:`TEST_PROTECTION_KEY` anyone can make and read codes (test mode). Every
character is in the QR alphanumeric set (hex digits and ``:``). Validities of the
first version (32 hex characters) are refused as malformed: dynamic codes live about
a minute, so none is still valid.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography.hazmat.primitives import hashes

from healthcard.adapters.national_ids import (
    SM4_BLOCK_SIZE,
    SM4_KEY_SIZE,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
)
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import ConfigurationError, TokenRejected, TokenRejectReason

STATIC: Final = "1"
DYNAMIC: Final = "0"
TIME_FORMAT: Final = "%Y%m%d%H%M%S"
ENV_PROTECTION_KEY: Final = "HEALTHCARD_EHC_QR_KEY"
NONCE_SIZE: Final = 8
"""Random bytes per dynamic code: unique codes, and the tweak's fresh part."""
TWEAK_CONTEXT: Final = b"healthcard/national-qr/v2\x00"
"""Domain separation of the SM3 input: no other hash in this library starts with it."""
VALIDITY_LENGTH: Final = 2 * (NONCE_SIZE + SM4_BLOCK_SIZE)

TEST_PROTECTION_KEY: Final[bytes] = hashlib.sha256(
    b"healthcard test-mode QR protection key"
).digest()[:SM4_KEY_SIZE]
"""TEST ONLY, public: the SM4 key protecting the validity of dynamic national QR codes.

Anyone can recompute it, so anyone can make and read dynamic codes under it."""

_EHC_ID_RE: Final = re.compile(r"(?:[0-9A-F]{32}){1,5}")
_VALIDITY_RE: Final = re.compile(rf"[0-9A-F]{{{VALIDITY_LENGTH}}}")
_TIME_RE: Final = re.compile(rb"[0-9]{14}")
_TIME_SIZE: Final = 14
_PADDING: Final = b"\x00" * (SM4_BLOCK_SIZE - _TIME_SIZE)


@dataclass(frozen=True, slots=True)
class NationalQr:
    """A parsed national QR: the EHC ID and, for a dynamic code, its valid-until time."""

    ehc_id: str
    valid_until: datetime | None = None

    @property
    def dynamic(self) -> bool:
        return self.valid_until is not None


def protection_key_from_env(environ: Mapping[str, str]) -> bytes:
    """``HEALTHCARD_EHC_QR_KEY`` (32 hex characters), or the public test key if unset."""
    value = environ.get(ENV_PROTECTION_KEY, "")
    if not value:
        return TEST_PROTECTION_KEY
    if re.fullmatch(r"[0-9A-Fa-f]{32}", value) is None:
        raise ConfigurationError(f"{ENV_PROTECTION_KEY} must be 32 hex characters")
    return bytes.fromhex(value)


def static_text(ehc_id: str) -> str:
    """The static code ``<EHCID>:1`` (shown with a password or SMS code in practice)."""
    _check_ehc_id(ehc_id)
    return f"{ehc_id}:{STATIC}"


def dynamic_text(
    ehc_id: str,
    valid_until: datetime,
    protection_key: bytes,
    *,
    nonce: bytes | None = None,
) -> str:
    """The dynamic code ``<EHCID>:0:<validity>``, valid until ``valid_until`` (inclusive,
    to the second).

    ``nonce`` is random by default; pass one only to reproduce a fixed code (the
    documented worked example): a repeated nonce for the same card and time repeats
    the code.

    Raises:
        ValueError: a malformed EHC ID, a naive ``valid_until``, a year outside
            1..9999 in China time, a nonce that is not 8 bytes, or a key that is not
            16 bytes (messages never echo the values).
    """
    _check_ehc_id(ehc_id)
    if valid_until.tzinfo is None or valid_until.utcoffset() is None:
        raise ValueError("valid_until must be timezone-aware")
    if nonce is None:
        nonce = secrets.token_bytes(NONCE_SIZE)
    elif type(nonce) is not bytes or len(nonce) != NONCE_SIZE:
        raise ValueError(f"nonce must be exactly {NONCE_SIZE} bytes")
    try:
        china = valid_until.astimezone(CHINA_TZ)
    except OverflowError:
        raise ValueError("valid_until is out of range in China time") from None
    # Formatted by hand rather than with strftime, whose %Y is not zero-padded to four
    # digits on every platform: the block must always be exactly 14 digits.
    digits = (
        f"{china.year:04d}{china.month:02d}{china.day:02d}"
        f"{china.hour:02d}{china.minute:02d}{china.second:02d}"
    )
    block = digits.encode("ascii") + _PADDING
    sealed = sm4_ecb_encrypt(protection_key, _xor(block, _tweak(ehc_id, nonce)))
    return f"{ehc_id}:{DYNAMIC}:{(nonce + sealed).hex().upper()}"


def parse(text: str, protection_key: bytes) -> NationalQr:
    """Parse a national QR text, decrypting a dynamic code's validity.

    Raises:
        TokenRejected: reason ``malformed`` for anything but the two forms, or a
            validity that does not decrypt to a time for this EHC ID under
            ``protection_key`` (a tampered, spliced, foreign or first-version code).
    """
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) == 2 and parts[1] == STATIC and _EHC_ID_RE.fullmatch(parts[0]):
        return NationalQr(parts[0])
    if (
        len(parts) == 3
        and parts[1] == DYNAMIC
        and _EHC_ID_RE.fullmatch(parts[0])
        and _VALIDITY_RE.fullmatch(parts[2])
    ):
        return NationalQr(parts[0], _open_validity(parts[0], parts[2], protection_key))
    raise TokenRejected(TokenRejectReason.MALFORMED)


def verify(text: str, protection_key: bytes, now: datetime) -> NationalQr:
    """Parse and check expiry: a dynamic code is valid while ``now <= valid_until``.

    Raises:
        TokenRejected: ``malformed`` or ``expired``.
    """
    code = parse(text, protection_key)
    if code.valid_until is not None and now > code.valid_until:
        raise TokenRejected(TokenRejectReason.EXPIRED)
    return code


def _tweak(ehc_id: str, nonce: bytes) -> bytes:
    """``delta``: binds the block to the EHC ID and the nonce (public, keyless).

    The EHC ID's length needs no prefix: the context is fixed and the nonce has a
    fixed size, so the SM3 input splits into its parts in only one way.
    """
    digest = hashes.Hash(hashes.SM3())
    digest.update(TWEAK_CONTEXT + ehc_id.encode("ascii") + nonce)
    return digest.finalize()[:SM4_BLOCK_SIZE]


def _xor(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(
        SM4_BLOCK_SIZE, "big"
    )


def _open_validity(ehc_id: str, validity_hex: str, protection_key: bytes) -> datetime:
    raw = bytes.fromhex(validity_hex)
    nonce, sealed = raw[:NONCE_SIZE], raw[NONCE_SIZE:]
    block = _xor(sm4_ecb_decrypt(protection_key, sealed), _tweak(ehc_id, nonce))
    digits, padding = block[:_TIME_SIZE], block[_TIME_SIZE:]
    if padding != _PADDING or _TIME_RE.fullmatch(digits) is None:
        raise TokenRejected(TokenRejectReason.MALFORMED)
    try:
        return datetime.strptime(digits.decode("ascii"), TIME_FORMAT).replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise TokenRejected(TokenRejectReason.MALFORMED) from None


def _check_ehc_id(ehc_id: str) -> None:
    if not isinstance(ehc_id, str) or _EHC_ID_RE.fullmatch(ehc_id) is None:
        raise ValueError("ehc_id must be upper-case hex, a whole number of SM4 blocks")
