"""Unit tests of the HealthCard and DocumentClaim aggregates (pure domain, no application).

Why test the aggregates alone: the application only loads, calls and saves; every
lifecycle rule lives here. Each refusal is checked three ways: the exact error class,
its stable ``code`` (the documented contract an embedding app maps to its own
messages), and that the aggregate recorded nothing (no pending event, same version).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from healthcard.domain.aggregate import Aggregate, EventHistoryError
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import CardKind, CardStatus, IssuerMode
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.errors import (
    AlreadyBound,
    CardNotActive,
    DocumentAlreadyRegistered,
    HealthCardError,
    IdentityAlreadyCompleted,
    IdentityIncomplete,
    IdentityMismatch,
    InvalidInput,
    InvalidStatusChange,
    NotBound,
)
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex
from healthcard.domain.relation import Relation
from healthcard.domain.events.card import Bound, Cancelled, IdentityCompleted, Registered
from healthcard.domain.events.document import DocumentClaimed, DocumentReleased

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
RESIDENT_ID = "11010519491231002X"  # female, born 1949-12-31
BIRTH = date(1949, 12, 31)
AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
KIOSK = Audit(actor="kiosk-07", channel=Channel.KIOSK, institution="H510100001")
INDEX_ID = "A" * 64
EHC_ID = "B" * 64


@contextmanager
def refused(aggregate: Aggregate, error: type[HealthCardError], code: str) -> Iterator[Any]:
    """Expect exactly ``error`` with ``code``, and no change recorded on ``aggregate``."""
    events_before = aggregate.pending_events
    version_before = aggregate.version
    with pytest.raises(error) as excinfo:
        yield excinfo
    assert type(excinfo.value) is error
    assert excinfo.value.code == code
    assert aggregate.pending_events == events_before
    assert aggregate.version == version_before


def state_of(aggregate: Aggregate) -> dict[str, Any]:
    """Everything an aggregate holds except its not-yet-saved events."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def new_card(audit: Audit = AUDIT, **overrides: Any) -> HealthCard:
    fields: dict[str, Any] = {
        "issuer_mode": IssuerMode.PRODUCTION,
        "name": "王芳",
        "phone": None,
        "photo": None,
        "volunteer": None,
    }
    fields.update(overrides)
    return HealthCard.register(uuid4(), audit=audit, at=NOW, **fields)


def resident_id() -> IdentityDocument:
    return IdentityDocument(type=DocumentType.RESIDENT_ID, number=RESIDENT_ID)


def complete(
    card: HealthCard,
    document: IdentityDocument | None = None,
    *,
    sex: Sex = Sex.FEMALE,
    birth_date: date = BIRTH,
    at: datetime = NOW,
) -> None:
    card.complete_identity(
        document=document if document is not None else resident_id(),
        name="王芳",
        sex=sex,
        birth_date=birth_date,
        verified_by=AUDIT.institution,
        main_index_id=INDEX_ID,
        ehc_id=EHC_ID,
        audit=AUDIT,
        at=at,
    )


def formal_card() -> HealthCard:
    card = new_card()
    complete(card)
    return card


# ----------------------------------------------------------------- registration


def test_register_records_one_registered_event_and_a_temporary_card() -> None:
    card = new_card(phone="+8613812345678")
    [event] = card.pending_events
    assert isinstance(event, Registered)
    assert (event.originator_id, event.originator_version) == (card.id, 1)
    assert event.audit == AUDIT
    assert card.version == 1
    assert card.kind is CardKind.TEMPORARY
    assert card.status is CardStatus.NORMAL
    assert card.channel is Channel.WINDOW
    assert card.phone == "+8613812345678"
    assert card.registered_at == NOW


def test_a_volunteer_may_assist_at_a_kiosk() -> None:
    card = new_card(KIOSK, volunteer="vol-42")
    assert card.volunteer == "vol-42"
    assert card.channel is Channel.KIOSK


@pytest.mark.parametrize("channel", [c for c in Channel if c is not Channel.KIOSK])
def test_a_volunteer_is_refused_away_from_kiosks(channel: Channel) -> None:
    audit = Audit(actor="staff-001", channel=channel, institution="H510100001")
    with pytest.raises(InvalidInput) as excinfo:
        new_card(audit, volunteer="vol-42")
    assert excinfo.value.code == "invalid_input"
    assert excinfo.value.field == "volunteer"


def test_test_cards_keep_their_issuer_mode() -> None:
    assert new_card(issuer_mode=IssuerMode.TEST).issuer_mode is IssuerMode.TEST


# --------------------------------------------------------------------- identity


def test_complete_identity_makes_a_temporary_card_formal() -> None:
    card = new_card()
    complete(card)
    event = card.pending_events[-1]
    assert isinstance(event, IdentityCompleted)
    assert card.kind is CardKind.FORMAL
    assert card.is_formal
    assert card.document == resident_id()
    assert (card.sex, card.birth_date) == (Sex.FEMALE, BIRTH)
    assert card.verified_by == AUDIT.institution
    assert (card.main_index_id, card.ehc_id) == (INDEX_ID, EHC_ID)
    assert card.version == 2


def test_identity_cannot_be_completed_twice() -> None:
    card = formal_card()
    with refused(card, IdentityAlreadyCompleted, "identity_already_completed"):
        complete(card)


def test_birth_date_must_match_the_resident_id() -> None:
    card = new_card()
    with refused(card, IdentityMismatch, "identity_mismatch") as excinfo:
        complete(card, birth_date=BIRTH + timedelta(days=1))
    assert excinfo.value.field == "birth_date"
    assert card.kind is CardKind.TEMPORARY


def test_sex_must_match_the_resident_id() -> None:
    card = new_card()
    with refused(card, IdentityMismatch, "identity_mismatch") as excinfo:
        complete(card, sex=Sex.MALE)
    assert excinfo.value.field == "sex"


@pytest.mark.parametrize("sex", [Sex.UNKNOWN, Sex.UNSPECIFIED])
def test_unknown_or_unspecified_sex_is_not_compared(sex: Sex) -> None:
    card = new_card()
    complete(card, sex=sex)
    assert card.sex is sex


def test_documents_without_encoded_data_are_not_compared() -> None:
    card = new_card()
    passport = IdentityDocument(type=DocumentType.PASSPORT, number="E12345678")
    complete(card, passport, sex=Sex.MALE, birth_date=date(1990, 5, 1))
    assert card.document == passport


def test_birth_date_in_the_future_is_refused() -> None:
    card = new_card()
    passport = IdentityDocument(type=DocumentType.PASSPORT, number="E12345678")
    with refused(card, InvalidInput, "invalid_input") as excinfo:
        complete(card, passport, birth_date=NOW.date() + timedelta(days=1))
    assert excinfo.value.field == "birth_date"


def test_birth_date_today_in_china_is_accepted_even_when_utc_is_still_yesterday() -> None:
    # 2026-11-25 00:30 in China is 2026-11-24 16:30 UTC: a newborn of the 25th is valid.
    at = datetime(2026, 11, 25, 0, 30, tzinfo=CHINA_TZ).astimezone(UTC)
    card = new_card()
    passport = IdentityDocument(type=DocumentType.PASSPORT, number="E12345678")
    complete(card, passport, birth_date=date(2026, 11, 25), at=at)
    assert card.birth_date == date(2026, 11, 25)


# ---------------------------------------------------------------------- binding


def test_bind_and_unbind_an_account() -> None:
    card = new_card()
    account = uuid4()
    card.bind(account, Relation.DAUGHTER, audit=AUDIT, at=NOW)
    assert isinstance(card.pending_events[-1], Bound)
    assert card.accounts == {account: Relation.DAUGHTER}
    card.unbind(account, audit=AUDIT, at=NOW)
    assert card.accounts == {}


def test_a_card_may_be_bound_to_two_accounts() -> None:
    card = new_card()
    mother, father = uuid4(), uuid4()
    card.bind(mother, Relation.SON, audit=AUDIT, at=NOW)
    card.bind(father, Relation.SON, audit=AUDIT, at=NOW)
    assert set(card.accounts) == {mother, father}


def test_binding_twice_to_one_account_is_refused() -> None:
    card = new_card()
    account = uuid4()
    card.bind(account, Relation.SELF, audit=AUDIT, at=NOW)
    with refused(card, AlreadyBound, "already_bound"):
        card.bind(account, Relation.SPOUSE, audit=AUDIT, at=NOW)
    assert card.accounts == {account: Relation.SELF}


def test_unbinding_an_account_that_is_not_bound_is_refused() -> None:
    card = new_card()
    card.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW)
    with refused(card, NotBound, "not_bound"):
        card.unbind(uuid4(), audit=AUDIT, at=NOW)


# ----------------------------------------------------------------------- status


def test_freeze_unfreeze_cancel() -> None:
    card = formal_card()
    statuses = [card.status]
    card.freeze("lost_phone", audit=AUDIT, at=NOW)
    statuses.append(card.status)
    card.unfreeze(audit=AUDIT, at=NOW)
    statuses.append(card.status)
    card.cancel("deceased", audit=AUDIT, at=NOW)
    statuses.append(card.status)
    assert statuses == [
        CardStatus.NORMAL,
        CardStatus.FROZEN,
        CardStatus.NORMAL,
        CardStatus.CANCELLED,
    ]
    assert isinstance(card.pending_events[-1], Cancelled)


def test_a_frozen_card_can_be_cancelled() -> None:
    card = new_card()
    card.freeze("lost_phone", audit=AUDIT, at=NOW)
    card.cancel("duplicate", audit=AUDIT, at=NOW)
    assert card.status is CardStatus.CANCELLED


def test_unfreezing_a_normal_card_is_refused() -> None:
    card = new_card()
    with refused(card, InvalidStatusChange, "invalid_status_change"):
        card.unfreeze(audit=AUDIT, at=NOW)


def frozen_card() -> HealthCard:
    card = formal_card()
    card.freeze("lost_phone", audit=AUDIT, at=NOW)
    return card


def cancelled_card() -> HealthCard:
    card = formal_card()
    card.cancel("duplicate", audit=AUDIT, at=NOW)
    return card


def test_a_frozen_card_refuses_freeze_bind_identity_and_booking() -> None:
    card = frozen_card()
    with refused(card, InvalidStatusChange, "invalid_status_change"):
        card.freeze("again", audit=AUDIT, at=NOW)
    with refused(card, CardNotActive, "card_not_active") as excinfo:
        card.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW)
    assert excinfo.value.status == "frozen"
    with refused(card, CardNotActive, "card_not_active"):
        card.ensure_can_book()
    with refused(card, CardNotActive, "card_not_active"):
        card.ensure_active()
    temporary = new_card()
    temporary.freeze("lost_phone", audit=AUDIT, at=NOW)
    with refused(temporary, CardNotActive, "card_not_active"):
        complete(temporary)


@pytest.mark.parametrize("change", ["freeze", "unfreeze", "cancel"])
def test_a_cancelled_card_refuses_every_status_change(change: str) -> None:
    card = cancelled_card()
    with refused(card, InvalidStatusChange, "invalid_status_change"):
        if change == "freeze":
            card.freeze("x", audit=AUDIT, at=NOW)
        elif change == "unfreeze":
            card.unfreeze(audit=AUDIT, at=NOW)
        else:
            card.cancel("x", audit=AUDIT, at=NOW)


def test_a_cancelled_card_refuses_bind_identity_and_booking() -> None:
    card = cancelled_card()
    with refused(card, CardNotActive, "card_not_active") as excinfo:
        card.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW)
    assert excinfo.value.status == "cancelled"
    with refused(card, CardNotActive, "card_not_active"):
        card.ensure_can_book()
    temporary = new_card()
    temporary.cancel("duplicate", audit=AUDIT, at=NOW)
    with refused(temporary, CardNotActive, "card_not_active"):
        complete(temporary)


def test_a_temporary_card_cannot_book() -> None:
    card = new_card()
    with refused(card, IdentityIncomplete, "identity_incomplete"):
        card.ensure_can_book()


# ----------------------------------------------------------------- replay


def test_project_rebuilds_an_equal_card_from_its_events() -> None:
    card = new_card(phone="+8613812345678")
    complete(card)
    card.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW)
    card.freeze("lost_phone", audit=AUDIT, at=NOW + timedelta(hours=1))
    card.unfreeze(audit=AUDIT, at=NOW + timedelta(hours=2))
    events = card.collect_events()
    assert len(events) == 5
    assert card.pending_events == []
    rebuilt = HealthCard.project(None, events)
    assert isinstance(rebuilt, HealthCard)
    assert state_of(rebuilt) == state_of(card)
    assert rebuilt.modified_on == NOW + timedelta(hours=2)


def test_project_continues_from_a_partial_state() -> None:
    card = formal_card()
    card.cancel("duplicate", audit=AUDIT, at=NOW)
    first, *rest = card.collect_events()
    partial = HealthCard.project(None, [first])
    assert partial is not None
    assert partial.kind is CardKind.TEMPORARY
    rebuilt = HealthCard.project(partial, rest)
    assert rebuilt is not None
    assert state_of(rebuilt) == state_of(card)


def test_project_refuses_a_gap_or_a_foreign_event() -> None:
    card = formal_card()
    card.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW)
    registered, _completed, bound = card.collect_events()
    with pytest.raises(EventHistoryError):
        HealthCard.project(None, [registered, bound])
    other = new_card().collect_events()
    with pytest.raises(EventHistoryError):
        HealthCard.project(None, [registered, *other])


# ------------------------------------------------------- one card per document


def test_a_document_claim_names_its_holder() -> None:
    claim_id, card_id = uuid4(), uuid4()
    claim = DocumentClaim.start(claim_id, card_id, audit=AUDIT, at=NOW)
    [event] = claim.pending_events
    assert isinstance(event, DocumentClaimed)
    assert (claim.id, claim.holder, event.card_id) == (claim_id, card_id, card_id)


def test_a_held_document_is_refused_naming_the_existing_card() -> None:
    holder = uuid4()
    claim = DocumentClaim.start(uuid4(), holder, audit=AUDIT, at=NOW)
    with refused(claim, DocumentAlreadyRegistered, "document_already_registered") as excinfo:
        claim.claim(uuid4(), audit=AUDIT, at=NOW)
    assert excinfo.value.existing_card_id == holder
    assert str(holder) in str(excinfo.value)
    assert excinfo.value.field == "document"
    assert claim.holder == holder


def test_the_holder_cannot_claim_its_own_document_twice() -> None:
    holder = uuid4()
    claim = DocumentClaim.start(uuid4(), holder, audit=AUDIT, at=NOW)
    with refused(claim, DocumentAlreadyRegistered, "document_already_registered"):
        claim.claim(holder, audit=AUDIT, at=NOW)


def test_a_released_document_can_be_claimed_again() -> None:
    first, second = uuid4(), uuid4()
    claim = DocumentClaim.start(uuid4(), first, audit=AUDIT, at=NOW)
    claim.release(first, audit=AUDIT, at=NOW)
    assert isinstance(claim.pending_events[-1], DocumentReleased)
    assert claim.holder is None
    claim.claim(second, audit=AUDIT, at=NOW)
    assert claim.holder == second
    assert claim.version == 3


def test_release_by_a_card_that_is_not_the_holder_changes_nothing() -> None:
    holder = uuid4()
    claim = DocumentClaim.start(uuid4(), holder, audit=AUDIT, at=NOW)
    before = claim.pending_events
    claim.release(uuid4(), audit=AUDIT, at=NOW)
    assert claim.pending_events == before
    assert claim.holder == holder


def test_project_rebuilds_an_equal_claim() -> None:
    first: UUID = uuid4()
    claim = DocumentClaim.start(uuid4(), first, audit=AUDIT, at=NOW)
    claim.release(first, audit=AUDIT, at=NOW)
    claim.claim(uuid4(), audit=AUDIT, at=NOW)
    rebuilt = DocumentClaim.project(None, claim.collect_events())
    assert rebuilt is not None
    assert state_of(rebuilt) == state_of(claim)
