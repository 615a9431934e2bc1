"""Unit tests of the DocumentClaim aggregate: one identity document, one card.

Why the claim has tests of its own: "one card per person" holds only because every
card that completes its identity must claim the document's aggregate, and the claim
refuses a second holder while it is held. The refusal names the card that holds the
document (the caller shows it), and a release by any card but the holder is ignored,
so cancelling a card that never held the document cannot free it for someone else.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.errors import DocumentAlreadyRegistered
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.document import DocumentClaimed, DocumentReleased
from healthcard.testing.compare import aggregate_state
from healthcard.testing.gwt import EventStream, expect, given, stream

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
EARLIER = NOW - timedelta(days=1)
"""When the given events happened; commands run at ``NOW``."""
AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")


def claim_stream() -> EventStream:
    return stream(uuid4(), audit=AUDIT, at=EARLIER)


def test_a_document_claim_names_its_holder() -> None:
    claim_id, card_id = uuid4(), uuid4()
    (
        given(aggregate=DocumentClaim)
        .when_new(lambda: DocumentClaim.start(claim_id, card_id, audit=AUDIT, at=NOW))
        .then(expect(DocumentClaimed, originator_id=claim_id, card_id=card_id))
        .then_state(lambda c: (c.id, c.holder) == (claim_id, card_id))
    )


def test_a_held_document_is_refused_naming_the_existing_card() -> None:
    claim = claim_stream()
    holder = uuid4()
    outcome = (
        given(claim(DocumentClaimed, card_id=holder), aggregate=DocumentClaim)
        .when(lambda c: c.claim(uuid4(), audit=AUDIT, at=NOW))
        .then(DocumentAlreadyRegistered, code="document_already_registered")
        .then_state(lambda c: c.holder == holder)
    )
    error = outcome.error
    assert isinstance(error, DocumentAlreadyRegistered)
    assert error.existing_card_id == holder
    assert str(holder) in str(error)
    assert error.field == "document"


def test_the_holder_cannot_claim_its_own_document_twice() -> None:
    claim = claim_stream()
    holder = uuid4()
    (
        given(claim(DocumentClaimed, card_id=holder), aggregate=DocumentClaim)
        .when(lambda c: c.claim(holder, audit=AUDIT, at=NOW))
        .then(DocumentAlreadyRegistered, code="document_already_registered")
    )


def test_a_released_document_can_be_claimed_again() -> None:
    claim = claim_stream()
    first, second = uuid4(), uuid4()
    history: list[DomainEvent] = [claim(DocumentClaimed, card_id=first)]
    (
        given(*history, aggregate=DocumentClaim)
        .when(lambda c: c.release(first, audit=AUDIT, at=NOW))
        .then(expect(DocumentReleased, card_id=first))
        .then_state(lambda c: c.holder is None)
    )
    history.append(claim(DocumentReleased, card_id=first))
    (
        given(*history, aggregate=DocumentClaim)
        .when(lambda c: c.claim(second, audit=AUDIT, at=NOW))
        .then(expect(DocumentClaimed, card_id=second))
        .then_state(lambda c: (c.holder, c.version) == (second, 3))
    )


def test_release_by_a_card_that_is_not_the_holder_changes_nothing() -> None:
    claim = claim_stream()
    holder = uuid4()
    (
        given(claim(DocumentClaimed, card_id=holder), aggregate=DocumentClaim)
        .when(lambda c: c.release(uuid4(), audit=AUDIT, at=NOW))
        .then_nothing()
        .then_state(lambda c: c.holder == holder)
    )


def test_project_rebuilds_an_equal_claim() -> None:
    first = uuid4()
    claim = DocumentClaim.start(uuid4(), first, audit=AUDIT, at=NOW)
    claim.release(first, audit=AUDIT, at=NOW)
    claim.claim(uuid4(), audit=AUDIT, at=NOW)
    rebuilt = given(*claim.collect_events(), aggregate=DocumentClaim).build()
    assert rebuilt is not None
    assert aggregate_state(rebuilt) == aggregate_state(claim)
