"""No revived tokens, and no replay between servers whose clocks disagree.

A token issued before the card was frozen, or before its account was unbound, is
refused for good: unfreezing the card or binding the account again revives none of
them (reason ``revoked``), while tokens issued afterwards work. Cancelling and erasing
are final anyway (``card_not_active``).

A token is accepted at most once across servers whose clocks differ by up to
``MAX_CLOCK_DIFFERENCE`` (1 h): two applications share one SQLite file, one of them
with a clock an hour fast, whose events would have made the card forget the nonce of
a token that the other (correct) server still accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelCard,
    CheckInWithQr,
    ErasePersonalData,
    FreezeCard,
    IssueToken,
    MakeAppointment,
    PublishSession,
    UnbindCard,
    UnfreezeCard,
    UseCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clinic_values import Period
from healthcard.domain.errors import TokenRejected, TokenRejectReason
from healthcard.domain.usage import MAX_CLOCK_DIFFERENCE, MAX_VERIFIER_SKEW, REPLAY_MEMORY
from healthcard.qr.verify import DEFAULT_SKEW_SECONDS, MAX_SKEW_SECONDS
from healthcard.testing.world import Driver

R = TokenRejectReason
STAFF = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
HOLDER = Audit(actor="holder", channel=Channel.APP, institution="H510100001")
DOCTOR = Audit(actor="doctor-7", channel=Channel.DOCTOR_WORKSTATION, institution="H510100001")
TRIAGE = Audit(actor="nurse-3", channel=Channel.TRIAGE_DESK, institution="H510100001")
MOTHER = AccountRef(kind="phone", identifier="13812345678")
FATHER = AccountRef(kind="phone", identifier="13912345678")


@dataclass
class Card:
    app: HealthCardApp
    clock: FakeClock
    card_id: UUID

    def token(self, account: AccountRef = MOTHER) -> str:
        return self.app.issue_token(IssueToken(audit=HOLDER, card_id=self.card_id, account=account))

    def use(self, token: str) -> None:
        self.app.use_card(UseCard(audit=DOCTOR, token=token, step="010102"))

    def refused(self, token: str, reason: TokenRejectReason) -> None:
        with pytest.raises(TokenRejected) as excinfo:
            self.use(token)
        assert excinfo.value.reason is reason


@pytest.fixture
def card(app: HealthCardApp, clock: FakeClock) -> Card:
    driver = Driver(app)
    card_id = driver.register()
    driver.complete_identity(card_id)
    driver.bind(card_id, MOTHER)
    driver.bind(card_id, FATHER)
    return Card(app, clock, card_id)


def test_a_freeze_revokes_earlier_tokens_for_good(card: Card) -> None:
    before = card.token()
    card.clock.advance(seconds=5)
    card.app.freeze(FreezeCard(audit=STAFF, card_id=card.card_id, reason="lost_phone"))
    card.refused(before, R.CARD_NOT_ACTIVE)
    card.clock.advance(seconds=5)
    card.app.unfreeze(UnfreezeCard(audit=STAFF, card_id=card.card_id))
    card.clock.advance(seconds=5)  # still within the token's 60 s lifetime
    card.refused(before, R.REVOKED)
    with pytest.raises(TokenRejected, match="revoked"):
        card.app.verify_token(before)
    card.clock.advance(seconds=1)
    card.use(card.token())  # a token issued after unfreezing works


def test_an_unbinding_revokes_that_accounts_earlier_tokens_for_good(card: Card) -> None:
    mothers, fathers = card.token(MOTHER), card.token(FATHER)
    card.clock.advance(seconds=5)
    card.app.unbind(UnbindCard(audit=STAFF, card_id=card.card_id, account=MOTHER))
    card.refused(mothers, R.NOT_BOUND)
    card.clock.advance(seconds=5)
    card.app.bind(BindCard(audit=STAFF, card_id=card.card_id, account=MOTHER))
    card.clock.advance(seconds=5)
    card.refused(mothers, R.REVOKED)
    card.use(fathers)  # the other account's earlier token is untouched
    card.clock.advance(seconds=1)
    card.use(card.token(MOTHER))


def test_a_revoked_token_cannot_check_in_either(card: Card) -> None:
    driver = Driver(card.app)
    session = driver.publish()
    card.app.make_appointment(
        MakeAppointment(audit=STAFF, session_id=session, card_id=card.card_id)
    )
    before = card.token()
    card.clock.advance(seconds=2)
    card.app.freeze(FreezeCard(audit=STAFF, card_id=card.card_id, reason="x"))
    card.app.unfreeze(UnfreezeCard(audit=STAFF, card_id=card.card_id))
    card.clock.advance(seconds=2)
    with pytest.raises(TokenRejected) as excinfo:
        card.app.check_in_with_qr(CheckInWithQr(audit=TRIAGE, session_id=session, token=before))
    assert excinfo.value.reason is R.REVOKED


def test_a_token_issued_in_the_same_second_as_an_unfreeze_works(card: Card) -> None:
    """Issue times have whole seconds: a token issued right after a freeze and an
    unfreeze, in the same second, must not be stamped earlier than the freeze."""
    card.clock.advance(seconds=0.3)
    before = card.token()  # same second as the freeze, but before it
    card.app.freeze(FreezeCard(audit=STAFF, card_id=card.card_id, reason="lost_phone"))
    card.app.unfreeze(UnfreezeCard(audit=STAFF, card_id=card.card_id))
    after = card.token()
    card.refused(before, R.REVOKED)
    card.use(after)


def test_a_token_issued_in_the_same_second_as_a_new_binding_works(card: Card) -> None:
    card.app.unbind(UnbindCard(audit=STAFF, card_id=card.card_id, account=MOTHER))
    card.app.bind(BindCard(audit=STAFF, card_id=card.card_id, account=MOTHER))
    card.use(card.token(MOTHER))


@pytest.mark.parametrize("final", ["cancel", "erase"])
def test_cancelling_or_erasing_is_final(card: Card, final: str) -> None:
    before = card.token()
    card.clock.advance(seconds=2)
    if final == "cancel":
        card.app.cancel_card(CancelCard(audit=STAFF, card_id=card.card_id, reason="request"))
    else:
        card.app.erase_personal_data(ErasePersonalData(audit=STAFF, card_id=card.card_id))
    card.refused(before, R.CARD_NOT_ACTIVE)


# -- clock skew between servers --------------------------------------------------------------


def test_the_replay_memory_covers_the_documented_clock_difference() -> None:
    assert timedelta(hours=1) <= MAX_CLOCK_DIFFERENCE
    assert timedelta(seconds=MAX_SKEW_SECONDS) <= MAX_VERIFIER_SKEW
    assert timedelta(seconds=DEFAULT_SKEW_SECONDS) <= MAX_VERIFIER_SKEW
    assert REPLAY_MEMORY >= MAX_CLOCK_DIFFERENCE + MAX_VERIFIER_SKEW


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Card, Card]]:
    """Two apps on one SQLite file; the second one's clock runs an hour fast."""
    correct = FakeClock()
    fast = FakeClock(correct.now + MAX_CLOCK_DIFFERENCE)
    env = sqlite_env(tmp_path / "shared.sqlite3")
    with HealthCardApp(env, clock=correct) as a, HealthCardApp(env, clock=fast) as b:
        driver = Driver(a)
        card_id = driver.register()
        driver.complete_identity(card_id)
        driver.bind(card_id, MOTHER)
        a.publish_session(
            PublishSession(
                audit=STAFF,
                department="cardio",
                doctor="d1",
                day=correct.now.date(),
                period=Period.MORNING,
                capacity=3,
            )
        )
        yield Card(a, correct, card_id), Card(b, fast, card_id)


def test_a_token_is_accepted_once_across_servers_an_hour_apart(
    two_servers: tuple[Card, Card],
) -> None:
    correct, fast = two_servers
    token = correct.token()  # issued at T by the correct server, expires at T + 60 s
    correct.use(token)
    # 70 s later (true time), the fast server records another use of the card: by its
    # clock that is T + 1 h + 70 s, more than an hour after the first token expired.
    correct.clock.advance(seconds=70)
    fast.clock.advance(seconds=70)
    fast.use(fast.token())
    # At T + 75 s the correct server still accepts the token's time window (60 s
    # lifetime + 30 s allowance): the card must still remember its nonce.
    correct.clock.advance(seconds=5)
    correct.refused(token, R.REPLAYED)
