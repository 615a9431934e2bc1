"""Unit tests of the HealthCard aggregate: registration, identity, bindings, status,
erasure and replay (pure domain: no application, no store).

Why given/when/then: the card's rules are rules about its log, "given these events,
when this is asked, then this is recorded (or refused, and nothing recorded)". Each
scenario builds the card from past events with the card's own projector, runs one
command and checks what it recorded with the ``healthcard.testing.gwt`` kit. A
refusal is checked for its error class and stable ``code`` (the contract an embedding
app maps to its messages); ``then`` also checks that nothing was recorded and the
version did not move.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from healthcard.domain.aggregate import EventHistoryError
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import CardKind, CardStatus, IssuerMode
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import (
    AlreadyBound,
    CardNotActive,
    IdentityAlreadyCompleted,
    IdentityIncomplete,
    IdentityMismatch,
    InvalidInput,
    InvalidStatusChange,
    NotBound,
)
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import (
    Bound,
    Cancelled,
    Frozen,
    IdentityCompleted,
    PersonalDataErased,
    Registered,
    Unbound,
    Unfrozen,
)
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex
from healthcard.domain.personal import ERASED_DATE, ERASED_TEXT
from healthcard.domain.relation import Relation
from healthcard.testing.compare import aggregate_state
from healthcard.testing.gwt import EventStream, expect, given, stream
from healthcard.testing.strategies import with_check_digit

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
EARLIER = NOW - timedelta(days=1)
"""When the given events happened; commands run at ``NOW``."""
AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
KIOSK = Audit(actor="kiosk-07", channel=Channel.KIOSK, institution="H510100001")
NAME = "王芳"
BIRTH = date(1949, 12, 31)
RESIDENT_ID = IdentityDocument(
    type=DocumentType.RESIDENT_ID,
    number=with_check_digit(f"110105{BIRTH:%Y%m%d}002"),  # order 002 is even: female
)
PASSPORT = IdentityDocument(type=DocumentType.PASSPORT, number="E12345678")
INDEX_ID = "A" * 64
EHC_ID = "B" * 64

CardCommand = Callable[[HealthCard], object]


# -- past events -------------------------------------------------------------------------


def card_stream() -> EventStream:
    return stream(uuid4(), audit=AUDIT, at=EARLIER)


def temporary(card: EventStream, **fields: Any) -> list[DomainEvent]:
    """A registered (temporary, production) card."""
    values: dict[str, Any] = {"issuer_mode": IssuerMode.PRODUCTION, "name": NAME, **fields}
    return [card(Registered, **values)]


def formal(card: EventStream, **fields: Any) -> list[DomainEvent]:
    """A card registered and then made formal with ``RESIDENT_ID``."""
    return [
        *temporary(card, **fields),
        card(
            IdentityCompleted,
            document=RESIDENT_ID,
            name=NAME,
            sex=Sex.FEMALE,
            birth_date=BIRTH,
            verified_by=AUDIT.institution,
            main_index_id=INDEX_ID,
            ehc_id=EHC_ID,
        ),
    ]


# -- commands ----------------------------------------------------------------------------


def registering(card_id: UUID, audit: Audit = AUDIT, **overrides: Any) -> Callable[[], HealthCard]:
    fields: dict[str, Any] = {
        "issuer_mode": IssuerMode.PRODUCTION,
        "name": NAME,
        "phone": None,
        "photo": None,
        "volunteer": None,
        **overrides,
    }
    return lambda: HealthCard.register(card_id, audit=audit, at=NOW, **fields)


def completing(
    document: IdentityDocument = RESIDENT_ID,
    *,
    sex: Sex = Sex.FEMALE,
    birth_date: date = BIRTH,
    at: datetime = NOW,
) -> CardCommand:
    return lambda card: card.complete_identity(
        document=document,
        name=NAME,
        sex=sex,
        birth_date=birth_date,
        verified_by=AUDIT.institution,
        main_index_id=INDEX_ID,
        ehc_id=EHC_ID,
        audit=AUDIT,
        at=at,
    )


def freezing(card: HealthCard) -> None:
    card.freeze("lost_phone", audit=AUDIT, at=NOW)


def unfreezing(card: HealthCard) -> None:
    card.unfreeze(audit=AUDIT, at=NOW)


def cancelling(card: HealthCard) -> None:
    card.cancel("duplicate", audit=AUDIT, at=NOW)


def erasing(card: HealthCard) -> None:
    card.erase_personal_data("holder_request", audit=AUDIT, at=NOW)


def binding_someone(card: HealthCard) -> None:
    card.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW)


# ----------------------------------------------------------------- registration


def test_register_records_one_registered_event_and_a_temporary_card() -> None:
    card_id = uuid4()

    def temporary_at_the_window(card: HealthCard) -> None:
        assert card.version == 1
        assert card.kind is CardKind.TEMPORARY
        assert card.status is CardStatus.NORMAL
        assert card.channel is Channel.WINDOW
        assert card.phone == "+8613812345678"
        assert card.registered_at == NOW

    (
        given(aggregate=HealthCard)
        .when_new(registering(card_id, phone="+8613812345678"))
        .then(
            expect(
                Registered,
                originator_id=card_id,
                audit=AUDIT,
                name=NAME,
                phone="+8613812345678",
                issuer_mode=IssuerMode.PRODUCTION,
            )
        )
        .then_state(temporary_at_the_window)
    )


def test_a_volunteer_may_assist_at_a_kiosk() -> None:
    (
        given(aggregate=HealthCard)
        .when_new(registering(uuid4(), KIOSK, volunteer="vol-42"))
        .then(expect(Registered, volunteer="vol-42", audit=KIOSK))
        .then_state(lambda c: (c.volunteer, c.channel) == ("vol-42", Channel.KIOSK))
    )


@pytest.mark.parametrize("channel", [c for c in Channel if c is not Channel.KIOSK])
def test_a_volunteer_is_refused_away_from_kiosks(channel: Channel) -> None:
    audit = Audit(actor="staff-001", channel=channel, institution="H510100001")
    outcome = (
        given(aggregate=HealthCard)
        .when_new(registering(uuid4(), audit, volunteer="vol-42"))
        .then(InvalidInput, code="invalid_input")
    )
    assert isinstance(outcome.error, InvalidInput)
    assert outcome.error.field == "volunteer"


def test_test_cards_keep_their_issuer_mode() -> None:
    (
        given(aggregate=HealthCard)
        .when_new(registering(uuid4(), issuer_mode=IssuerMode.TEST))
        .then(expect(Registered, issuer_mode=IssuerMode.TEST))
        .then_state(lambda c: c.issuer_mode is IssuerMode.TEST)
    )


# --------------------------------------------------------------------- identity


def test_complete_identity_makes_a_temporary_card_formal() -> None:
    card = card_stream()

    def formal_and_verified(c: HealthCard) -> None:
        assert c.kind is CardKind.FORMAL
        assert c.is_formal
        assert c.status is CardStatus.NORMAL
        assert c.document == RESIDENT_ID
        assert (c.sex, c.birth_date) == (Sex.FEMALE, BIRTH)
        assert c.verified_by == AUDIT.institution
        assert (c.main_index_id, c.ehc_id) == (INDEX_ID, EHC_ID)
        assert c.version == 2

    (
        given(*temporary(card), aggregate=HealthCard)
        .when(completing())
        .then(
            expect(
                IdentityCompleted,
                document=RESIDENT_ID,
                sex=Sex.FEMALE,
                birth_date=BIRTH,
                verified_by=AUDIT.institution,
                main_index_id=INDEX_ID,
                ehc_id=EHC_ID,
            )
        )
        .then_state(formal_and_verified)
    )


def test_identity_cannot_be_completed_twice() -> None:
    (
        given(*formal(card_stream()), aggregate=HealthCard)
        .when(completing())
        .then(IdentityAlreadyCompleted, code="identity_already_completed")
    )


def test_birth_date_must_match_the_resident_id() -> None:
    outcome = (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(completing(birth_date=BIRTH + timedelta(days=1)))
        .then(IdentityMismatch, code="identity_mismatch")
        .then_state(lambda c: c.kind is CardKind.TEMPORARY)
    )
    assert isinstance(outcome.error, IdentityMismatch)
    assert outcome.error.field == "birth_date"


def test_sex_must_match_the_resident_id() -> None:
    outcome = (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(completing(sex=Sex.MALE))
        .then(IdentityMismatch, code="identity_mismatch")
    )
    assert isinstance(outcome.error, IdentityMismatch)
    assert outcome.error.field == "sex"


@pytest.mark.parametrize("sex", [Sex.UNKNOWN, Sex.UNSPECIFIED])
def test_unknown_or_unspecified_sex_is_not_compared(sex: Sex) -> None:
    (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(completing(sex=sex))
        .then(expect(IdentityCompleted, sex=sex))
        .then_state(lambda c: c.sex is sex)
    )


def test_documents_without_encoded_data_are_not_compared() -> None:
    (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(completing(PASSPORT, sex=Sex.MALE, birth_date=date(1990, 5, 1)))
        .then(expect(IdentityCompleted, document=PASSPORT, sex=Sex.MALE))
        .then_state(lambda c: c.document == PASSPORT)
    )


def test_birth_date_in_the_future_is_refused() -> None:
    outcome = (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(completing(PASSPORT, birth_date=NOW.date() + timedelta(days=1)))
        .then(InvalidInput, code="invalid_input")
    )
    assert isinstance(outcome.error, InvalidInput)
    assert outcome.error.field == "birth_date"


def test_birth_date_today_in_china_is_accepted_even_when_utc_is_still_yesterday() -> None:
    # 2026-11-25 00:30 in China is 2026-11-24 16:30 UTC: a newborn of the 25th is valid.
    at = datetime(2026, 11, 25, 0, 30, tzinfo=CHINA_TZ).astimezone(UTC)
    newborn = date(2026, 11, 25)
    (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(completing(PASSPORT, birth_date=newborn, at=at))
        .then(expect(IdentityCompleted, birth_date=newborn))
        .then_state(lambda c: c.birth_date == newborn)
    )


# ---------------------------------------------------------------------- binding


def test_bind_and_unbind_an_account() -> None:
    card = card_stream()
    account = uuid4()
    history = temporary(card)
    (
        given(*history, aggregate=HealthCard)
        .when(lambda c: c.bind(account, Relation.DAUGHTER, audit=AUDIT, at=NOW))
        .then(expect(Bound, account_id=account, relation=Relation.DAUGHTER))
        .then_state(lambda c: c.accounts == {account: Relation.DAUGHTER})
    )
    bound = [*history, card(Bound, account_id=account, relation=Relation.DAUGHTER)]
    (
        given(*bound, aggregate=HealthCard)
        .when(lambda c: c.unbind(account, audit=AUDIT, at=NOW))
        .then(expect(Unbound, account_id=account))
        .then_state(lambda c: c.accounts == {})
    )


def test_a_card_may_be_bound_to_two_accounts() -> None:
    card = card_stream()
    mother, father = uuid4(), uuid4()
    (
        given(
            *temporary(card),
            card(Bound, account_id=mother, relation=Relation.SON),
            aggregate=HealthCard,
        )
        .when(lambda c: c.bind(father, Relation.SON, audit=AUDIT, at=NOW))
        .then(expect(Bound, account_id=father, relation=Relation.SON))
        .then_state(lambda c: set(c.accounts) == {mother, father})
    )


def test_binding_twice_to_one_account_is_refused() -> None:
    card = card_stream()
    account = uuid4()
    (
        given(
            *temporary(card),
            card(Bound, account_id=account, relation=Relation.SELF),
            aggregate=HealthCard,
        )
        .when(lambda c: c.bind(account, Relation.SPOUSE, audit=AUDIT, at=NOW))
        .then(AlreadyBound, code="already_bound")
        .then_state(lambda c: c.accounts == {account: Relation.SELF})
    )


def test_unbinding_an_account_that_is_not_bound_is_refused() -> None:
    card = card_stream()
    (
        given(
            *temporary(card),
            card(Bound, account_id=uuid4(), relation=Relation.SELF),
            aggregate=HealthCard,
        )
        .when(lambda c: c.unbind(uuid4(), audit=AUDIT, at=NOW))
        .then(NotBound, code="not_bound")
    )


# ----------------------------------------------------------------------- status


def test_freeze_unfreeze_cancel() -> None:
    card = card_stream()
    history = formal(card)
    before = given(*history, aggregate=HealthCard).build()
    assert before is not None
    assert before.status is CardStatus.NORMAL
    (
        given(*history, aggregate=HealthCard)
        .when(freezing)
        .then(expect(Frozen, reason="lost_phone"))
        .then_state(lambda c: c.status is CardStatus.FROZEN)
    )
    history.append(card(Frozen, reason="lost_phone"))
    (
        given(*history, aggregate=HealthCard)
        .when(unfreezing)
        .then(expect(Unfrozen))
        .then_state(lambda c: c.status is CardStatus.NORMAL)
    )
    history.append(card(Unfrozen))
    (
        given(*history, aggregate=HealthCard)
        .when(lambda c: c.cancel("deceased", audit=AUDIT, at=NOW))
        .then(expect(Cancelled, reason="deceased"))
        .then_state(lambda c: c.status is CardStatus.CANCELLED)
    )


def test_a_frozen_card_can_be_cancelled() -> None:
    card = card_stream()
    (
        given(*temporary(card), card(Frozen, reason="lost_phone"), aggregate=HealthCard)
        .when(cancelling)
        .then(expect(Cancelled, reason="duplicate"))
        .then_state(lambda c: c.status is CardStatus.CANCELLED)
    )


def test_unfreezing_a_normal_card_is_refused() -> None:
    (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(unfreezing)
        .then(InvalidStatusChange, code="invalid_status_change")
    )


def test_a_frozen_card_refuses_another_freeze() -> None:
    card = card_stream()
    (
        given(*formal(card), card(Frozen, reason="lost_phone"), aggregate=HealthCard)
        .when(lambda c: c.freeze("again", audit=AUDIT, at=NOW))
        .then(InvalidStatusChange, code="invalid_status_change")
    )


NOT_WHILE_INACTIVE: list[tuple[str, bool, CardCommand]] = [
    ("bind", True, binding_someone),
    ("book", True, lambda c: c.ensure_can_book()),
    ("use", True, lambda c: c.ensure_active()),
    ("complete identity", False, completing()),
]
"""What only a normal card may do: (name, formal card?, command). Identity is
completed on a temporary card, where only the status can be what refuses it."""


@pytest.mark.parametrize(
    ("is_formal", "command"),
    [(is_formal, command) for _, is_formal, command in NOT_WHILE_INACTIVE],
    ids=[name for name, _, _ in NOT_WHILE_INACTIVE],
)
def test_a_frozen_card_refuses_bind_identity_and_booking(
    is_formal: bool, command: CardCommand
) -> None:
    card = card_stream()
    history = formal(card) if is_formal else temporary(card)
    outcome = (
        given(*history, card(Frozen, reason="lost_phone"), aggregate=HealthCard)
        .when(command)
        .then(CardNotActive, code="card_not_active")
    )
    assert isinstance(outcome.error, CardNotActive)
    assert outcome.error.status == "frozen"


@pytest.mark.parametrize(
    "command", [freezing, unfreezing, cancelling], ids=["freeze", "unfreeze", "cancel"]
)
def test_a_cancelled_card_refuses_every_status_change(command: CardCommand) -> None:
    card = card_stream()
    (
        given(*formal(card), card(Cancelled, reason="duplicate"), aggregate=HealthCard)
        .when(command)
        .then(InvalidStatusChange, code="invalid_status_change")
    )


@pytest.mark.parametrize(
    ("is_formal", "command"),
    [(is_formal, command) for _, is_formal, command in NOT_WHILE_INACTIVE],
    ids=[name for name, _, _ in NOT_WHILE_INACTIVE],
)
def test_a_cancelled_card_refuses_bind_identity_and_booking(
    is_formal: bool, command: CardCommand
) -> None:
    card = card_stream()
    history = formal(card) if is_formal else temporary(card)
    outcome = (
        given(*history, card(Cancelled, reason="duplicate"), aggregate=HealthCard)
        .when(command)
        .then(CardNotActive, code="card_not_active")
    )
    assert isinstance(outcome.error, CardNotActive)
    assert outcome.error.status == "cancelled"


def test_a_temporary_card_cannot_book() -> None:
    (
        given(*temporary(card_stream()), aggregate=HealthCard)
        .when(lambda c: c.ensure_can_book())
        .then(IdentityIncomplete, code="identity_incomplete")
    )


# ---------------------------------------------------------------------- erasure


@pytest.mark.parametrize("status", [CardStatus.NORMAL, CardStatus.FROZEN])
def test_erasing_a_card_that_is_not_cancelled_is_refused(status: CardStatus) -> None:
    # Cancelling first is the erasure policy's job: it needs the document and the
    # accounts, which the erasure makes unreadable.
    card = card_stream()
    history = formal(card)
    if status is CardStatus.FROZEN:
        history.append(card(Frozen, reason="lost_phone"))
    (
        given(*history, aggregate=HealthCard)
        .when(erasing)
        .then(InvalidStatusChange, code="invalid_status_change")
        .then_state(lambda c: not c.erased and c.name == NAME)
    )


def test_erasing_a_cancelled_card_records_the_erasure_and_wipes_the_person() -> None:
    card = card_stream()

    def wiped(c: HealthCard) -> None:
        assert c.erased
        assert c.status is CardStatus.CANCELLED
        assert (c.name, c.phone, c.photo) == (ERASED_TEXT, None, None)
        assert c.document is not None
        assert (c.document.type, c.document.number) == (DocumentType.OTHER, ERASED_TEXT)
        assert c.birth_date == ERASED_DATE
        assert (c.main_index_id, c.ehc_id) == (ERASED_TEXT, ERASED_TEXT)

    (
        given(
            *formal(card, phone="+8613812345678"),
            card(Cancelled, reason="holder_request"),
            aggregate=HealthCard,
        )
        .when(erasing)
        .then(expect(PersonalDataErased, reason="holder_request", audit=AUDIT))
        .then_state(wiped)
    )


def test_erasing_an_erased_card_records_nothing() -> None:
    card = card_stream()
    (
        given(
            *formal(card),
            card(Cancelled, reason="holder_request"),
            card(PersonalDataErased, reason="holder_request"),
            aggregate=HealthCard,
        )
        .when(erasing)
        .then_nothing()
        .then_state(lambda c: c.erased)
    )


# ----------------------------------------------------------------------- replay


def test_project_rebuilds_an_equal_card_from_its_events() -> None:
    card = HealthCard.register(
        uuid4(),
        issuer_mode=IssuerMode.PRODUCTION,
        name=NAME,
        phone="+8613812345678",
        photo=None,
        volunteer=None,
        audit=AUDIT,
        at=NOW,
    )
    completing()(card)
    card.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW)
    card.freeze("lost_phone", audit=AUDIT, at=NOW + timedelta(hours=1))
    card.unfreeze(audit=AUDIT, at=NOW + timedelta(hours=2))
    events = card.collect_events()
    assert len(events) == 5
    assert card.pending_events == []
    rebuilt = given(*events, aggregate=HealthCard).build()
    assert isinstance(rebuilt, HealthCard)
    assert aggregate_state(rebuilt) == aggregate_state(card)
    assert rebuilt.modified_on == NOW + timedelta(hours=2)


def test_project_continues_from_a_partial_state() -> None:
    card = card_stream()
    first, *rest = [*formal(card), card(Cancelled, reason="duplicate")]
    whole = given(first, *rest, aggregate=HealthCard).build()
    partial = given(first, aggregate=HealthCard).build()
    assert partial is not None
    assert partial.kind is CardKind.TEMPORARY
    rebuilt = HealthCard.project(partial, rest)
    assert rebuilt is not None
    assert whole is not None
    assert aggregate_state(rebuilt) == aggregate_state(whole)
    assert rebuilt.status is CardStatus.CANCELLED


def test_project_refuses_a_gap_or_a_foreign_event() -> None:
    card = card_stream()
    registered, _completed, bound = [
        *formal(card),
        card(Bound, account_id=uuid4(), relation=Relation.SELF),
    ]
    with pytest.raises(EventHistoryError):
        given(registered, bound, aggregate=HealthCard).build()
    other = temporary(card_stream())
    with pytest.raises(EventHistoryError):
        given(registered, *other, aggregate=HealthCard).build()
