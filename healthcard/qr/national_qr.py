"""The national QR text of the electronic health card (issuer side).

Two forms (DESIGN.md, "National formats"), where ``<EHCID>`` stands for the card's
EHC ID (upper-case hex, see :func:`healthcard.adapters.national_ids.ehc_id`) — the QR has to
name the card, so the letters ``EHCID`` are the field, not literal text::

    static:   <EHCID>:1
    dynamic:  <EHCID>:0:<validity>

``validity`` is SM4-ECB(protection key, ASCII ``YYYYMMDDHHMMSS`` of the valid-until
time in China Standard Time, zero-padded to 16 bytes), as 32 upper-case hex
characters. Only the issuer holds the protection key, so only the issuer can read
or check the validity: this format is verified online, unlike the signed token.
Every character is in the QR alphanumeric set (hex digits and ``:``).

SM4-ECB has no integrity check: a tampered validity decrypts to bytes that are not
14 digits (with overwhelming probability) and is refused as malformed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from healthcard.adapters.national_ids import (
    SM4_BLOCK_SIZE,
    SM4_KEY_SIZE,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
)
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import TokenRejected, TokenRejectReason

STATIC: Final = "1"
DYNAMIC: Final = "0"
TIME_FORMAT: Final = "%Y%m%d%H%M%S"
ENV_PROTECTION_KEY: Final = "HEALTHCARD_EHC_QR_KEY"

TEST_PROTECTION_KEY: Final[bytes] = hashlib.sha256(
    b"healthcard test-mode QR protection key"
).digest()[:SM4_KEY_SIZE]
"""TEST ONLY, public: the SM4 key protecting the validity of dynamic national QR codes."""

_EHC_ID_RE: Final = re.compile(r"(?:[0-9A-F]{32}){1,5}")
_VALIDITY_RE: Final = re.compile(r"[0-9A-F]{32}")
_TIME_RE: Final = re.compile(rb"[0-9]{14}")


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
        raise ValueError(f"{ENV_PROTECTION_KEY} must be 32 hex characters")
    return bytes.fromhex(value)


def static_text(ehc_id: str) -> str:
    """The static code ``<EHCID>:1`` (shown with a password or SMS code in practice)."""
    _check_ehc_id(ehc_id)
    return f"{ehc_id}:{STATIC}"


def dynamic_text(ehc_id: str, valid_until: datetime, protection_key: bytes) -> str:
    """The dynamic code ``<EHCID>:0:<validity>``, valid until ``valid_until`` (inclusive,
    to the second)."""
    _check_ehc_id(ehc_id)
    if valid_until.tzinfo is None:
        raise ValueError("valid_until must be timezone-aware")
    clear = valid_until.astimezone(CHINA_TZ).strftime(TIME_FORMAT).encode("ascii")
    block = clear + b"\x00" * (SM4_BLOCK_SIZE - len(clear))
    validity = sm4_ecb_encrypt(protection_key, block).hex().upper()
    return f"{ehc_id}:{DYNAMIC}:{validity}"


def parse(text: str, protection_key: bytes) -> NationalQr:
    """Parse a national QR text, decrypting a dynamic code's validity.

    Raises:
        TokenRejected: reason ``malformed`` for anything but the two forms, or a
            validity that does not decrypt to a time under ``protection_key``.
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
        return NationalQr(parts[0], _decrypt_validity(parts[2], protection_key))
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


def _decrypt_validity(validity_hex: str, protection_key: bytes) -> datetime:
    clear = sm4_ecb_decrypt(protection_key, bytes.fromhex(validity_hex))
    digits, padding = clear[:14], clear[14:]
    if padding != b"\x00\x00" or _TIME_RE.fullmatch(digits) is None:
        raise TokenRejected(TokenRejectReason.MALFORMED)
    try:
        return datetime.strptime(digits.decode("ascii"), TIME_FORMAT).replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise TokenRejected(TokenRejectReason.MALFORMED) from None


def _check_ehc_id(ehc_id: str) -> None:
    if not isinstance(ehc_id, str) or _EHC_ID_RE.fullmatch(ehc_id) is None:
        raise ValueError("ehc_id must be upper-case hex, a whole number of SM4 blocks")
