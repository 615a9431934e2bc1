"""The signed QR token: claims, CBOR payload, signature input and text form.

Format (byte-exact description in ``docs/qr-format.md``)::

    text            = "EH1:" || base45(payload || signature)
    payload         = CBOR map, integer keys 1..9 in ascending order, shortest form
    signature       = Ed25519(private key, signature input), 64 bytes
    signature input = ASCII "healthcard/qr-token/v1" || 0x00 || payload

Why this shape and these sizes: the text must fit a QR code of version 7 at error
correction M, whose alphanumeric capacity is 178 characters. Minus the 4-character
prefix that leaves 174 base45 characters = 116 bytes, of which the Ed25519
signature takes 64 and the 16-byte card id 18 with its CBOR key and header. The
remaining 34 bytes hold the map header, seven more keys and their values — which
is why the account is carried as a 4-byte *tag* (the first bytes of the account
id) and the expiry as a lifetime in seconds after issue (1 byte plus header)
rather than a second timestamp. A full 16-byte account id cannot fit at all: the
fixed parts alone would need 119 bytes. Every token with a key id of 0..23 and a
lifetime of 1..255 s is at most 116 bytes, hence at most QR version 7-M.

Why the prefix is ``EH1:`` and not ``HC1:``: ``HC1:`` is the EU Digital COVID
Certificate's prefix, and scanners dispatch on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

import cbor2

from healthcard.domain.card_values import IssuerMode
from healthcard.domain.usage import PresentedToken, TokenUse
from healthcard.qr.b45 import b45decode, b45encode

PREFIX: Final = "EH1:"
FORMAT_VERSION: Final = 1
SIGNING_CONTEXT: Final = b"healthcard/qr-token/v1\x00"
"""Domain separation: prepended to the payload before signing, so a signature made
for a token can never be a valid signature of any other message signed with the
same key (the context is fixed and no other use of the key starts with it)."""

SIGNATURE_SIZE: Final = 64
CARD_ID_SIZE: Final = 16
ACCOUNT_TAG_SIZE: Final = 4
NONCE_SIZE: Final = 8
MAX_KEY_ID: Final = 23
"""Key ids are 0..23 so that each is one CBOR byte (see the size budget above)."""
DEFAULT_LIFETIME: Final = 60
MAX_LIFETIME: Final = 255
MAX_ISSUED_AT: Final = 2**32 - 1
MAX_TEXT_LENGTH: Final = 512
"""Longer texts are refused before decoding: no valid token comes near this."""

# CBOR map keys, in the order they must appear.
K_VERSION, K_KEY_ID, K_MODE, K_CARD, K_ACCOUNT, K_ISSUED_AT, K_LIFETIME, K_NONCE, K_USE = range(
    1, 10
)
_KEYS: Final = tuple(range(1, 10))
_KEY_TYPES: Final = (int,) * len(_KEYS)

MODE_CODES: Final[dict[IssuerMode, int]] = {IssuerMode.TEST: 0, IssuerMode.PRODUCTION: 1}
USE_CODES: Final[dict[TokenUse, int]] = {
    TokenUse.ANY: 0,
    TokenUse.TRIAGE: 1,
    TokenUse.DIAGNOSIS: 2,
    TokenUse.PRENATAL: 3,
    TokenUse.BLOOD_DRAW: 4,
    TokenUse.PHARMACY: 5,
}
_MODES: Final = tuple(sorted(MODE_CODES, key=MODE_CODES.__getitem__))
_USES: Final = tuple(sorted(USE_CODES, key=USE_CODES.__getitem__))


class MalformedToken(ValueError):
    """The text or payload is not a well-formed token (the message never echoes it)."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token says. Times are Unix seconds (UTC), as stored in the payload.

    Only :func:`encode_payload` (issuer side) and :func:`decode_payload` create
    claims that reach the wire, and both check every field.
    """

    key_id: int
    mode: IssuerMode
    card_id: UUID
    account_tag: bytes
    issued_at: int
    lifetime: int
    nonce: bytes
    use: TokenUse
    version: int = FORMAT_VERSION

    @property
    def expires_at(self) -> int:
        """First second at which the token is expired (before clock-skew allowance)."""
        return self.issued_at + self.lifetime

    @property
    def issued_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.issued_at, UTC)

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)

    @property
    def nonce_hex(self) -> str:
        return self.nonce.hex()

    def presented(self) -> PresentedToken:
        """What the card's rules need from these (verified) claims."""
        return PresentedToken(
            nonce=self.nonce_hex,
            key_id=self.key_id,
            mode=self.mode,
            account_tag=self.account_tag,
            use=self.use,
            issued_at=self.issued_at_datetime,
            expires_at=self.expires_at_datetime,
        )

    def to_json_dict(self) -> dict[str, str | int]:
        """A JSON-friendly view (CLI output, logs): ids and times, no personal data."""
        return {
            "version": self.version,
            "key_id": self.key_id,
            "mode": self.mode.value,
            "card_id": str(self.card_id),
            "account_tag": self.account_tag.hex(),
            "issued_at": self.issued_at_datetime.isoformat(),
            "expires_at": self.expires_at_datetime.isoformat(),
            "nonce": self.nonce_hex,
            "use": self.use.value,
        }


def account_tag(account_id: UUID) -> bytes:
    """The account reference a token carries: the first 4 bytes of the account id.

    Account ids are keyed hashes (HMAC), so their first bytes are uniformly random
    and an attacker cannot choose an account whose tag collides with another's.
    """
    return account_id.bytes[:ACCOUNT_TAG_SIZE]


def encode_payload(claims: TokenClaims) -> bytes:
    """The CBOR payload of ``claims``; refuses claims outside the format's ranges."""
    _check(claims.version == FORMAT_VERSION, "version")
    _check(0 <= claims.key_id <= MAX_KEY_ID, "key_id")
    _check(len(claims.account_tag) == ACCOUNT_TAG_SIZE, "account_tag")
    _check(0 <= claims.issued_at <= MAX_ISSUED_AT, "issued_at")
    _check(1 <= claims.lifetime <= MAX_LIFETIME, "lifetime")
    _check(len(claims.nonce) == NONCE_SIZE, "nonce")
    return bytes(
        cbor2.dumps(
            {
                K_VERSION: claims.version,
                K_KEY_ID: claims.key_id,
                K_MODE: MODE_CODES[claims.mode],
                K_CARD: claims.card_id.bytes,
                K_ACCOUNT: bytes(claims.account_tag),
                K_ISSUED_AT: claims.issued_at,
                K_LIFETIME: claims.lifetime,
                K_NONCE: bytes(claims.nonce),
                K_USE: USE_CODES[claims.use],
            }
        )
    )


def _check(ok: bool, field: str) -> None:
    if not ok:
        raise ValueError(f"token claim '{field}' is out of range")


def decode_payload(payload: bytes) -> TokenClaims:
    """Parse a payload (once) into claims; anything but the exact format is malformed.

    The decoded map must re-encode to the same bytes, which rejects trailing bytes,
    non-shortest integers and lengths, indefinite lengths, tags and floats.

    Every key must be exactly an ``int``: ``true`` and ``1.0`` compare and hash equal
    to 1, so they pass the comparison with the expected keys, and re-encoding writes
    them back as the payload's own bytes, so the canonical check lets them through
    too. Comparing the tuple of key types is one C-level comparison, so verification
    stays as fast as before.
    """
    try:
        fields = cbor2.loads(payload)
    except Exception:  # cbor2 raises several types on bad input
        raise MalformedToken("payload is not CBOR") from None
    if type(fields) is not dict or tuple(fields) != _KEYS or tuple(map(type, fields)) != _KEY_TYPES:
        raise MalformedToken("payload is not the token map")
    version, key_id, mode, card, account, issued_at, lifetime, nonce, use = fields.values()
    if not (
        type(version) is int
        and version == FORMAT_VERSION
        and type(key_id) is int
        and 0 <= key_id <= MAX_KEY_ID
        and type(mode) is int
        and 0 <= mode < len(_MODES)
        and type(card) is bytes
        and len(card) == CARD_ID_SIZE
        and type(account) is bytes
        and len(account) == ACCOUNT_TAG_SIZE
        and type(issued_at) is int
        and 0 <= issued_at <= MAX_ISSUED_AT
        and type(lifetime) is int
        and 1 <= lifetime <= MAX_LIFETIME
        and type(nonce) is bytes
        and len(nonce) == NONCE_SIZE
        and type(use) is int
        and 0 <= use < len(_USES)
    ):
        raise MalformedToken("a token claim has the wrong type or range")
    if cbor2.dumps(fields) != payload:
        raise MalformedToken("payload is not in canonical form")
    return TokenClaims(
        key_id=key_id,
        mode=_MODES[mode],
        card_id=UUID(bytes=card),
        account_tag=account,
        issued_at=issued_at,
        lifetime=lifetime,
        nonce=nonce,
        use=_USES[use],
        version=version,
    )


def signature_input(payload: bytes) -> bytes:
    """The exact bytes that are signed: the context string, a zero byte, the payload."""
    return SIGNING_CONTEXT + payload


def token_text(payload: bytes, signature: bytes) -> str:
    """The QR text: prefix, then base45 of payload followed by the signature."""
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError(f"an Ed25519 signature has {SIGNATURE_SIZE} bytes")
    return PREFIX + b45encode(payload + signature)


def split_token(text: str) -> tuple[bytes, bytes]:
    """``(payload, signature)`` of a token text; raises :class:`MalformedToken`."""
    if type(text) is not str or len(text) > MAX_TEXT_LENGTH or not text.startswith(PREFIX):
        raise MalformedToken("not a healthcard token text")
    try:
        raw = b45decode(text[len(PREFIX) :])
    except ValueError:
        raise MalformedToken("token text is not base45") from None
    if len(raw) <= SIGNATURE_SIZE:
        raise MalformedToken("token is too short")
    return raw[:-SIGNATURE_SIZE], raw[-SIGNATURE_SIZE:]
