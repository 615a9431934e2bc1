"""Offline verification of signed tokens: the claims, or a typed reason.

A scanner holding the published keys calls :meth:`Verifier.verify`; it needs no
network and no log. What it cannot see without the log — the card frozen or
cancelled, the account unbound, the token already used — is checked by the
application (``HealthCardApp.verify_token`` / ``check_in_with_qr`` / ``use_card``).

Order of checks, and why: the text is parsed once (malformed); a production
verifier refuses a test-mode token before anything else (Measures Art. 12, and the
most useful reason to show); then the key (unknown, retired), the signature, and
last the time window, so that a reason about time is only ever given for a token
the issuer really signed.

Why lean: verification runs at every scan. Keys are loaded objects looked up in a
dict, the payload is CBOR-decoded once, and the base45 decoder does its arithmetic
in C, so a verification costs little more than the Ed25519 check itself
(``benchmarks/qr.py`` measures the ratio).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidSignature

from healthcard.domain.card_values import IssuerMode
from healthcard.domain.errors import InvalidInput, TokenRejected, TokenRejectReason
from healthcard.domain.usage import MAX_VERIFIER_SKEW
from healthcard.qr.keyring import KeySource
from healthcard.qr.token import (
    SIGNING_CONTEXT,
    MalformedToken,
    TokenClaims,
    decode_payload,
    split_token,
)

DEFAULT_SKEW_SECONDS: Final = 30
"""Clocks of scanners and issuer may disagree by this much (either way)."""
MAX_SKEW_SECONDS: Final = int(MAX_VERIFIER_SKEW.total_seconds())
"""Upper bound of the allowance (5 minutes): the card's memory of accepted nonces is
sized for it (``healthcard.domain.usage.REPLAY_MEMORY``)."""

_R = TokenRejectReason


class Verifier:
    """Verifies token texts against a key source, for one issuer mode.

    A ``production`` verifier accepts production tokens only. A ``test`` verifier
    (a staging scanner) accepts any token whose key it holds; since the public test
    keys are all a test deployment has, in practice that means test tokens.
    """

    __slots__ = ("_keys", "_production", "mode", "skew_seconds")

    def __init__(
        self,
        keys: KeySource,
        *,
        mode: IssuerMode = IssuerMode.PRODUCTION,
        skew_seconds: int = DEFAULT_SKEW_SECONDS,
    ) -> None:
        if not 0 <= skew_seconds <= MAX_SKEW_SECONDS:
            raise ValueError(f"skew_seconds must be between 0 and {MAX_SKEW_SECONDS}")
        self._keys = keys
        self.mode = IssuerMode(mode)
        self._production = self.mode is IssuerMode.PRODUCTION
        self.skew_seconds = skew_seconds

    def verify(
        self, text: str, now: float | datetime | None = None
    ) -> TokenClaims | TokenRejectReason:
        """The verified claims, or the reason the token is refused.

        ``now`` is Unix seconds or an aware datetime; the system clock by default.
        Valid means ``issued_at - skew <= now < issued_at + lifetime + skew``.

        A refused token is a return value, never an exception. A bad ``now`` is the
        caller's mistake, not the token's, so it raises, and before the token is read:
        a NaN would make every comparison with it false, so an expired token would be
        accepted, and a naive datetime would be read in the machine's local zone.

        Raises:
            InvalidInput: field ``now``: a float that is NaN or infinite, a naive
                datetime, or not a time at all.
        """
        moment = time.time() if now is None else _moment(now)
        try:
            payload, signature = split_token(text)
            claims = decode_payload(payload)
        except MalformedToken:
            return _R.MALFORMED
        if self._production and claims.mode is IssuerMode.TEST:
            return _R.TEST_TOKEN_IN_PRODUCTION
        key = self._keys.verification_key(claims.mode, claims.key_id)
        if key is None:
            return _R.UNKNOWN_KEY
        if key.retired or key.public_key is None:
            return _R.RETIRED_KEY
        try:
            key.public_key.verify(signature, SIGNING_CONTEXT + payload)
        except InvalidSignature:
            return _R.BAD_SIGNATURE
        if moment < claims.issued_at - self.skew_seconds:
            return _R.NOT_YET_VALID
        if moment >= claims.expires_at + self.skew_seconds:
            return _R.EXPIRED
        return claims

    def genuine_claims(self, text: str) -> TokenClaims | None:
        """The claims of a genuine token (well formed, mode allowed, key known, signature
        good) whatever the time now; None otherwise.

        Why: a command retried after its first attempt was saved may carry a token
        that has expired since; the service reads it only to find that attempt, never
        to admit the token.
        """
        try:
            issued_at = decode_payload(split_token(text)[0]).issued_at
        except MalformedToken:
            return None
        result = self.verify(text, float(issued_at))
        return result if isinstance(result, TokenClaims) else None

    def claims(self, text: str, now: float | datetime | None = None) -> TokenClaims:
        """Like :meth:`verify`, but raises :class:`TokenRejected` for a refused token."""
        result = self.verify(text, now)
        if isinstance(result, TokenRejectReason):
            raise TokenRejected(result)
        return result


def _moment(now: float | datetime) -> float:
    """``now`` as Unix seconds, or :class:`InvalidInput` naming the field ``now``."""
    if isinstance(now, datetime):
        if now.utcoffset() is None:
            raise InvalidInput("now", "must be a timezone-aware time")
        return now.timestamp()
    if isinstance(now, float):
        if math.isfinite(now):
            return now
    elif isinstance(now, int) and not isinstance(now, bool):
        # Integers are always finite; math.isfinite would overflow on huge ones.
        return now
    raise InvalidInput("now", "must be a finite time")
