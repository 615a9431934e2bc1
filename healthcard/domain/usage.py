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

MAX_CLOCK_DIFFERENCE: Final = timedelta(hours=1)
"""The most the clocks of two servers of one deployment may differ by, either way.

Within it, a token is accepted at most once across all servers: the card's memory of
accepted nonces is pruned by the timestamps of its own events, which any server's
clock may write, so the memory must outlast a token's expiry by this much plus the
verifier's allowance."""

MAX_VERIFIER_SKEW: Final = timedelta(minutes=5)
"""The largest clock-skew allowance a verifier may grant (``healthcard.qr.verify``)."""

REPLAY_MEMORY: Final = 2 * MAX_CLOCK_DIFFERENCE
"""How long after its expiry a card remembers an accepted nonce.

Why this long: an event written by a server whose clock runs ``d`` ahead prunes
nonces of tokens that expired ``REPLAY_MEMORY - d`` ago by its clock, while a server
whose clock is correct still accepts a token up to the verifier's allowance ``a``
after its expiry; a replay is impossible as long as ``REPLAY_MEMORY >= d + a``, and
``2 h`` covers ``d`` up to ``MAX_CLOCK_DIFFERENCE`` with ``a`` up to
``MAX_VERIFIER_SKEW`` and room to spare. Why finite: an expired token is refused
anyway, so a longer memory protects nothing and would grow the card for decades."""


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """The verified facts of a token that the card rules need (signature already checked).

    ``account_tag`` is the first bytes of the account id the token was issued to; the
    card resolves it against its current bindings (see docs/qr-format.md for why the
    token carries a tag and not the whole id). ``issued_at`` decides whether a freeze
    or an unbinding since has revoked it.
    """

    nonce: str
    key_id: int
    mode: IssuerMode
    account_tag: bytes
    use: TokenUse
    issued_at: datetime
    expires_at: datetime
