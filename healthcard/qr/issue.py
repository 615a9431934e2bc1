"""Issuing a signed token (issuer side): claims from a card, an account and a time.

The rules *whether* a token may be issued (card normal, account currently bound)
belong to the card aggregate and are checked by the application before it calls
:func:`issue_token`; this module only builds, signs and encodes.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime
from uuid import UUID

from healthcard.domain.card_values import IssuerMode
from healthcard.domain.usage import TokenUse
from healthcard.qr.keyring import Keyring
from healthcard.qr.token import (
    DEFAULT_LIFETIME,
    NONCE_SIZE,
    TokenClaims,
    account_tag,
    encode_payload,
    signature_input,
    token_text,
)


def token_mode(card_mode: IssuerMode, keyring: Keyring) -> IssuerMode:
    """The mode a card's tokens are signed in.

    A test card's tokens are always test tokens (Art. 12). A production card's are
    production tokens when the keyring holds a production key; a keyring without one
    is a test-mode deployment (demo, tests), whose tokens are test tokens so that no
    production verifier ever accepts them.
    """
    if card_mode is IssuerMode.TEST or keyring.current_key_id(IssuerMode.PRODUCTION) is None:
        return IssuerMode.TEST
    return IssuerMode.PRODUCTION


def issue_token(
    keyring: Keyring,
    *,
    card_id: UUID,
    account_id: UUID,
    mode: IssuerMode,
    use: TokenUse,
    at: datetime,
    lifetime: int = DEFAULT_LIFETIME,
    nonce: bytes | None = None,
) -> tuple[str, TokenClaims]:
    """Sign a token with the current key of ``mode``; returns ``(text, claims)``.

    ``issued_at`` is ``at`` rounded *down* to the second, so a verifier whose clock
    agrees with the issuer's never sees the token as not yet valid. ``nonce`` is
    random unless given (tests and the documented worked example fix it).
    """
    if at.tzinfo is None:
        raise ValueError("issue times must be timezone-aware")
    key_id, private_key = keyring.signer(mode)
    claims = TokenClaims(
        key_id=key_id,
        mode=mode,
        card_id=card_id,
        account_tag=account_tag(account_id),
        issued_at=math.floor(at.timestamp()),
        lifetime=lifetime,
        nonce=secrets.token_bytes(NONCE_SIZE) if nonce is None else nonce,
        use=use,
    )
    payload = encode_payload(claims)
    return token_text(payload, private_key.sign(signature_input(payload))), claims
