"""Using the card at a point of care: national step codes, token uses, channels.

Why here and not in ``healthcard.qr``: the rules about *when a presented token may
be accepted* (which use allows which step, which channels are points of care, how
long an accepted nonce is remembered) are domain rules of the card aggregate. The
``qr`` package only turns text into verified claims; the app hands the card a
:class:`PresentedToken` built from them, so the domain never parses QR codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from healthcard.domain.audit import Channel
from healthcard.domain.card_values import IssuerMode


class UsageStep(StrEnum):
    """National step codes of card use (电子健康卡用卡环节), stored as the code itself."""

    REGISTRATION = "010101"
    DIAGNOSIS = "010102"
    DISPENSING = "010103"
    EXAMINATION = "010104"
    PAYMENT = "010105"
    PRESCRIPTION = "010106"
    SURGERY = "010107"


class TokenUse(StrEnum):
    """What the holder opened the QR code for (seed: treatment, prenatal examination,
    blood drawing, taking medicine; and reporting to triage)."""

    ANY = "any"
    TRIAGE = "triage"
    DIAGNOSIS = "diagnosis"
    PRENATAL = "prenatal"
    BLOOD_DRAW = "blood_draw"
    PHARMACY = "pharmacy"


POINT_OF_CARE_CHANNELS: Final = frozenset(
    {
        Channel.WINDOW,
        Channel.KIOSK,
        Channel.DOCTOR_WORKSTATION,
        Channel.WECHAT_OFFICIAL_ACCOUNT,  # the national "service account" channel
        Channel.MINI_PROGRAM,
    }
)
"""The national usage channels: window, kiosk, doctor workstation, service account,
mini program. Triage check-in has its own channel (``triage_desk``)."""

_S = UsageStep
USE_ALLOWS: Final[dict[TokenUse, frozenset[UsageStep]]] = {
    TokenUse.ANY: frozenset(UsageStep),
    TokenUse.TRIAGE: frozenset({_S.REGISTRATION}),
    TokenUse.DIAGNOSIS: frozenset({_S.DIAGNOSIS, _S.PRESCRIPTION, _S.SURGERY, _S.PAYMENT}),
    TokenUse.PRENATAL: frozenset({_S.EXAMINATION, _S.DIAGNOSIS, _S.PAYMENT}),
    TokenUse.BLOOD_DRAW: frozenset({_S.EXAMINATION, _S.PAYMENT}),
    TokenUse.PHARMACY: frozenset({_S.DISPENSING, _S.PAYMENT}),
}
"""Which national steps a token opened for a given use may drive.

Why restrict at all: a code opened "to take medicine" and photographed over the
holder's shoulder should not register surgery. Payment goes with every clinical use
because paying is part of each visit; ``any`` is the holder's explicit choice."""

CHECK_IN_USES: Final = frozenset({TokenUse.ANY, TokenUse.TRIAGE})
"""Uses that allow reporting to the triage desk."""

REPLAY_MEMORY: Final = timedelta(hours=1)
"""How long after its expiry a card remembers an accepted nonce.

Why finite: a token is refused once expired (allowing at most the verifier's clock
skew, capped far below this), so remembering its nonce longer protects nothing and
would grow the card with every visit for decades."""


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """The verified facts of a token that the card rules need (signature already checked).

    ``account_tag`` is the first bytes of the account id the token was issued to; the
    card resolves it against its current bindings (see docs/qr-format.md for why the
    token carries a tag and not the whole id).
    """

    nonce: str
    key_id: int
    mode: IssuerMode
    account_tag: bytes
    use: TokenUse
    expires_at: datetime
