"""A command sent again (the same ``command_id``) answers with its first result.

The caller that heard nothing (``store_unavailable`` after a commit it cannot see)
sends the same command object again. Every command then finds its first attempt by
the command id recorded in its events and returns that result: never a refusal of
its own success, never a second card, appointment, use or check-in. A command id that
comes back on another command is refused. The faults that make a caller resend are in
``test_lost_acknowledgement.py``; here the resend itself, on every backend.
"""

from __future__ import annotations

import pytest

from healthcard import HealthCardApp
from healthcard.application.commands import (
    CheckInWithDocument,
    FreezeCard,
    UnfreezeCard,
    UseCard,
)
from healthcard.domain.audit import Channel
from healthcard.domain.card_values import CardStatus
from healthcard.domain.errors import CommandIdReused, TokenRejected, TokenRejectReason
from healthcard.domain.usage import UsageStep
from healthcard.qr.token import split_token, token_text
from healthcard.testing import FakeClock
from healthcard.testing.assertions import log_position, refused, topic_counts
from healthcard.testing.retries import RETRIED
from healthcard.testing.world import Driver, person, phone_account


@pytest.mark.parametrize("name", RETRIED)
def test_a_command_sent_again_answers_its_first_result_and_writes_nothing(
    app: HealthCardApp, name: str
) -> None:
    retried = RETRIED[name](Driver(app))
    before = topic_counts(app)[retried.topic]
    first = retried.run(retried.command)
    head = log_position(app)
    assert retried.run(retried.command) == first
    assert log_position(app) == head
    assert topic_counts(app)[retried.topic] == before + 1


def test_a_retry_after_later_changes_reports_the_first_success_and_undoes_nothing(
    memory_app: HealthCardApp,
) -> None:
    driver = Driver(memory_app)
    card = driver.register()
    driver.complete_identity(card)
    freeze = FreezeCard(audit=driver.audit(), card_id=card, reason="lost_phone")
    memory_app.freeze(freeze)
    memory_app.unfreeze(UnfreezeCard(audit=driver.audit(), card_id=card))
    head = log_position(memory_app)
    memory_app.freeze(freeze)  # late: the card was frozen, then unfrozen by someone
    assert log_position(memory_app) == head
    assert memory_app.card(card).status is CardStatus.NORMAL


def test_a_command_id_reused_for_another_command_is_refused(memory_app: HealthCardApp) -> None:
    driver = Driver(memory_app)
    card = driver.register()
    driver.complete_identity(card)
    freeze = FreezeCard(audit=driver.audit(), card_id=card, reason="lost_phone")
    memory_app.freeze(freeze)
    unfreeze = UnfreezeCard(audit=driver.audit(), card_id=card, command_id=freeze.command_id)
    error = refused(
        memory_app, CommandIdReused, "command_id_reused", lambda: memory_app.unfreeze(unfreeze)
    )
    assert error.field == "command_id"
    assert memory_app.card(card).status is CardStatus.FROZEN


def test_a_check_in_id_reused_for_another_patient_is_refused(memory_app: HealthCardApp) -> None:
    driver = Driver(memory_app)
    session = driver.publish()
    first, second = person(1), person(2)
    for who in (first, second):
        card = driver.register()
        driver.complete_identity(card, who)
        driver.book(session, card)
    desk = driver.audit(Channel.TRIAGE_DESK)
    check_in = CheckInWithDocument(audit=desk, session_id=session, document=first.document)
    memory_app.check_in_with_document(check_in)
    other = CheckInWithDocument(
        audit=desk, session_id=session, document=second.document, command_id=check_in.command_id
    )
    refused(
        memory_app,
        CommandIdReused,
        "command_id_reused",
        lambda: memory_app.check_in_with_document(other),
    )


def used_card(app: HealthCardApp) -> tuple[UseCard, str]:
    """A use recorded with a fresh token, and that token."""
    driver = Driver(app)
    card = driver.register()
    driver.complete_identity(card)
    token = driver.token(card, driver.bind(card, phone_account(1)))
    use = UseCard(
        audit=driver.audit(Channel.DOCTOR_WORKSTATION), token=token, step=UsageStep.DIAGNOSIS
    )
    app.use_card(use)
    return use, token


def test_a_use_retried_after_its_token_expired_is_still_its_success(
    memory_app: HealthCardApp, clock: FakeClock
) -> None:
    """Tokens live 60 s; an outage is often longer. The retry must not hear ``expired``
    for the use it recorded, while a new command with that token still does."""
    use, token = used_card(memory_app)
    clock.advance(minutes=10)
    head = log_position(memory_app)
    memory_app.use_card(use)
    assert log_position(memory_app) == head
    again = UseCard(audit=use.audit, token=token, step=use.step)
    error = refused(memory_app, TokenRejected, "token_rejected", lambda: memory_app.use_card(again))
    assert isinstance(error, TokenRejected)
    assert error.reason is TokenRejectReason.EXPIRED


def test_an_expired_token_with_a_bad_signature_is_not_read_as_a_retry(
    memory_app: HealthCardApp, clock: FakeClock
) -> None:
    """Only a genuine token is read past its expiry, to find the first attempt: the
    command id of a recorded use does not carry a token whose signature fails."""
    use, token = used_card(memory_app)
    clock.advance(minutes=10)
    payload, signature = split_token(token)
    forged_text = token_text(payload, bytes([signature[0] ^ 1]) + signature[1:])
    forged = UseCard(audit=use.audit, token=forged_text, step=use.step, command_id=use.command_id)
    error = refused(
        memory_app, TokenRejected, "token_rejected", lambda: memory_app.use_card(forged)
    )
    assert isinstance(error, TokenRejected)
    assert error.reason is TokenRejectReason.BAD_SIGNATURE
