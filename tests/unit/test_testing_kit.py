"""The embedders' test kit: strategies generate what they promise, and given/when/then
states domain rules (and fails when a scenario is wrong).

Why both directions for strategies: a "valid" generator that produced refused values
would make every embedder's property test vacuous, and an "invalid" one that produced
accepted values would make their refusal tests lie. Each is checked against the
library's own boundary (the command models and value objects).
"""

from __future__ import annotations

import inspect
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from healthcard.application import commands
from healthcard.application.commands import AccountRef, RegisterCard
from healthcard.domain.account import Account
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import AccountKind, IssuerMode
from healthcard.domain.clinic_session import ClinicSession
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.errors import (
    AlreadyBound,
    CardNotActive,
    DocumentAlreadyRegistered,
    FamilyCapReached,
    IdentityIncomplete,
    IdentityMismatch,
    InvalidInput,
    InvalidStatusChange,
    SessionFull,
)
from healthcard.domain.events.account import AccountOpened, CardAdded
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import (
    Bound,
    Cancelled,
    Frozen,
    IdentityCompleted,
    Registered,
    Unfrozen,
)
from healthcard.domain.events.document import DocumentClaimed
from healthcard.domain.events.session import AppointmentMade, SessionPublished
from healthcard.domain.identity import (
    DocumentType,
    IdentityDocument,
    Sex,
    resident_id_birth_date,
    resident_id_sex,
)
from healthcard.domain.phone import normalise_cn_mobile
from healthcard.domain.relation import Relation
from healthcard.testing import (
    ScenarioFailed,
    aggregate_state,
    expect,
    stream,
)
from healthcard.testing import given as given_events
from healthcard.testing import strategies as hs
from healthcard.testing.gwt import aggregate_class_for
from healthcard.testing.strategies import STEP_CODES

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- value strategies: valid ones pass the boundary -------------------------------------


@FAST
@given(hs.resident_id_numbers())
def test_generated_resident_ids_are_accepted_unchanged(number: str) -> None:
    document = IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)
    assert document.number == number
    assert ric.calc_check_digit(number) == number[17]


@FAST
@given(st.data(), hs.sexes(), hs.birth_dates())
def test_resident_ids_follow_the_requested_sex_and_birth_date(
    data: st.DataObject, sex: Sex, born: date
) -> None:
    number = data.draw(hs.resident_id_numbers(sex=sex, birth_date=born))
    assert resident_id_birth_date(number) == born
    if sex in (Sex.MALE, Sex.FEMALE):
        assert resident_id_sex(number) is sex


@FAST
@given(hs.foreign_permanent_ids())
def test_foreign_permanent_residence_ids_start_with_9_and_are_accepted(number: str) -> None:
    assert number.startswith("9")
    assert IdentityDocument(type=DocumentType.RESIDENT_ID, number=number).number == number


@FAST
@given(hs.other_documents())
def test_other_documents_revalidate(document: IdentityDocument) -> None:
    assert document.type is not DocumentType.RESIDENT_ID
    again = IdentityDocument.model_validate(document.model_dump())
    assert again == document


@FAST
@given(hs.cn_mobile_numbers())
def test_generated_mobiles_are_valid_mainland_mobiles(number: str) -> None:
    normalised = normalise_cn_mobile(number)
    assert normalised.startswith("+861")
    assert len(normalised) == 14
    assert AccountRef(kind=AccountKind.PHONE, identifier=number).identifier == normalised


@FAST
@given(hs.person_names())
def test_generated_names_are_accepted(name: str) -> None:
    assert RegisterCard(audit=AUDIT, name=name).name == name


@FAST
@given(hs.wechat_open_ids())
def test_generated_open_ids_are_accepted(open_id: str) -> None:
    assert AccountRef(kind=AccountKind.WECHAT, identifier=open_id).identifier == open_id


def test_step_codes_are_the_national_ones() -> None:
    assert tuple(f"01010{n}" for n in range(1, 8)) == STEP_CODES


# -- invalid strategies: refused, and the input is never echoed --------------------------


@FAST
@given(hs.invalid_resident_id_numbers())
def test_invalid_resident_ids_are_refused_without_echo(number: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)
    assert excinfo.value.field == "number"
    if len(number) >= 6:
        assert number not in str(excinfo.value)


@FAST
@given(hs.broken_checksum_resident_ids())
def test_broken_checksums_are_refused_for_the_checksum(number: str) -> None:
    assert ric.calc_check_digit(number) != number[17]
    with pytest.raises(InvalidInput, match="checksum"):
        IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)


@FAST
@given(hs.invalid_document_inputs())
def test_invalid_documents_are_refused(raw: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        IdentityDocument.model_validate(raw)


@FAST
@given(hs.invalid_cn_mobile_numbers())
def test_invalid_mobiles_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        AccountRef(kind=AccountKind.PHONE, identifier=number)
    assert number not in str(excinfo.value)


@FAST
@given(hs.invalid_person_names())
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        RegisterCard(audit=AUDIT, name=name)
    assert excinfo.value.field == "name"


# -- command strategies ----------------------------------------------------------------


def command_classes() -> set[type[commands.Command]]:
    return {
        cls
        for _, cls in inspect.getmembers(commands, inspect.isclass)
        if issubclass(cls, commands.Command) and cls is not commands.Command
    }


def test_every_command_has_a_strategy() -> None:
    assert set(hs.command_strategies()) == command_classes()


@pytest.mark.parametrize("command_class", sorted(command_classes(), key=lambda c: c.__name__))
def test_each_command_strategy_makes_valid_commands(
    command_class: type[commands.Command],
) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(hs.command_strategies()[command_class])
    def check(command: commands.Command) -> None:
        assert type(command) is command_class
        assert command_class.model_validate(command.model_dump()) == command

    check()


# -- given / when / then: domain rules stated as events ---------------------------------


def registered(card_id: UUID | None = None) -> tuple[UUID, list[Registered]]:
    card = stream(card_id or uuid4(), audit=AUDIT, at=NOW)
    return card.aggregate_id, [card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳")]


def test_freezing_a_normal_card_records_frozen() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    (
        given_events(card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"))
        .when(lambda c: c.freeze("lost_phone", audit=AUDIT, at=NOW))
        .then(expect(Frozen, reason="lost_phone"))
    )


def test_freezing_twice_is_refused_and_records_nothing() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    (
        given_events(
            card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"),
            card(Frozen, reason="lost_phone"),
        )
        .when(lambda c: c.freeze("again", audit=AUDIT, at=NOW))
        .then(InvalidStatusChange, code="invalid_status_change")
    )


def test_unfreezing_records_exactly_the_expected_event() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    history = [
        card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"),
        card(Frozen, reason="lost_phone"),
    ]
    later = NOW + timedelta(hours=1)
    expected = card(Unfrozen, at=later)
    given_events(*history, aggregate=HealthCard).when(
        lambda c: c.unfreeze(audit=AUDIT, at=later)
    ).then(expected).then_state(lambda c: c.status.value == "normal")


def test_a_cancelled_card_cannot_be_bound() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    (
        given_events(
            card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"),
            card(Cancelled, reason="request"),
        )
        .when(lambda c: c.bind(uuid4(), Relation.SELF, audit=AUDIT, at=NOW))
        .then(CardNotActive)
    )


def test_binding_the_same_account_twice_is_refused() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    account_id = uuid4()
    (
        given_events(
            card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"),
            card(Bound, account_id=account_id, relation=Relation.SELF),
        )
        .when(lambda c: c.bind(account_id, Relation.SPOUSE, audit=AUDIT, at=NOW))
        .then(AlreadyBound, code="already_bound")
    )


def identity_facts() -> dict[str, object]:
    return {
        "document": IdentityDocument(type=DocumentType.RESIDENT_ID, number="11010519491231002X"),
        "name": "王芳",
        "sex": Sex.FEMALE,
        "verified_by": "H510100001",
        "main_index_id": "A" * 64,
        "ehc_id": "B" * 64,
    }


def test_a_birth_date_contradicting_the_resident_id_is_refused() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    (
        given_events(card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"))
        .when(
            lambda c: c.complete_identity(
                **identity_facts(),  # type: ignore[arg-type]
                birth_date=date(1949, 12, 30),
                audit=AUDIT,
                at=NOW,
            )
        )
        .then(IdentityMismatch)
    )


def test_completing_identity_records_the_document() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    facts = identity_facts()
    (
        given_events(card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"))
        .when(
            lambda c: c.complete_identity(
                **facts,  # type: ignore[arg-type]
                birth_date=date(1949, 12, 31),
                audit=AUDIT,
                at=NOW,
            )
        )
        .then(expect(IdentityCompleted, document=facts["document"], sex=Sex.FEMALE))
        .then_state(lambda c: c.is_formal)
    )


def test_the_family_cap_refuses_one_card_too_many() -> None:
    account = stream(uuid4(), audit=AUDIT, at=NOW)
    history: list[DomainEvent] = [
        account(AccountOpened, kind=AccountKind.PHONE, identifier="+8613800138000")
    ]
    history += [account(CardAdded, card_id=uuid4(), relation=Relation.SON) for _ in range(3)]
    (
        given_events(*history, aggregate=Account)
        .when(lambda a: a.add_card(uuid4(), Relation.DAUGHTER, cap=3, audit=AUDIT, at=NOW))
        .then(FamilyCapReached, code="family_cap_reached")
    )


def test_a_document_claimed_by_one_card_is_refused_to_another() -> None:
    claim = stream(uuid4(), audit=AUDIT, at=NOW)
    holder = uuid4()
    outcome = (
        given_events(claim(DocumentClaimed, card_id=holder), aggregate=DocumentClaim)
        .when(lambda c: c.claim(uuid4(), audit=AUDIT, at=NOW))
        .then(DocumentAlreadyRegistered)
    )
    assert isinstance(outcome.error, DocumentAlreadyRegistered)
    assert outcome.error.existing_card_id == holder


def formal_card() -> HealthCard:
    card_id = uuid4()
    card = stream(card_id, audit=AUDIT, at=NOW - timedelta(days=1))
    built = given_events(
        card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"),
        card(
            IdentityCompleted,
            **identity_facts(),  # type: ignore[arg-type]
            birth_date=date(1949, 12, 31),
        ),
        aggregate=HealthCard,
    ).build()
    assert built is not None
    return built


def published(capacity: int) -> list[object]:
    session = stream(uuid4(), audit=AUDIT, at=NOW)
    return [
        session(
            SessionPublished,
            department="internal_medicine",
            doctor="dr-1",
            day=NOW.date(),
            period=Period.MORNING,
            capacity=capacity,
        )
    ]


def test_booking_the_last_place_then_one_more_is_refused() -> None:
    session = stream(uuid4(), audit=AUDIT, at=NOW)
    history = [
        session(
            SessionPublished,
            department="internal_medicine",
            doctor="dr-1",
            day=NOW.date(),
            period=Period.MORNING,
            capacity=1,
        )
    ]
    first, second = formal_card(), formal_card()
    appointment = uuid4()
    given_events(*history, aggregate=ClinicSession).when(
        lambda s: s.book(appointment, first, audit=AUDIT, at=NOW)
    ).then(expect(AppointmentMade, appointment_id=appointment, card_id=first.id))
    taken = [*history, session(AppointmentMade, appointment_id=appointment, card_id=first.id)]
    (
        given_events(*taken, aggregate=ClinicSession)
        .when(lambda s: s.book(uuid4(), second, audit=AUDIT, at=NOW))
        .then(SessionFull, code="session_full")
    )


def test_a_temporary_card_cannot_book() -> None:
    _, card_events = registered()
    temporary = HealthCard.project(None, card_events)
    assert temporary is not None
    session = stream(uuid4(), audit=AUDIT, at=NOW)
    (
        given_events(
            session(
                SessionPublished,
                department="internal_medicine",
                doctor="dr-1",
                day=NOW.date(),
                period=Period.MORNING,
                capacity=5,
            )
        )
        .when(lambda s: s.book(uuid4(), temporary, audit=AUDIT, at=NOW))  # type: ignore[attr-defined]
        .then(IdentityIncomplete)
    )


def test_when_new_creates_an_aggregate_or_refuses() -> None:
    card_id = uuid4()
    kiosk = Audit(actor="kiosk-1", channel=Channel.KIOSK, institution="H510100001")
    outcome = (
        given_events(aggregate=HealthCard)
        .when_new(
            lambda: HealthCard.register(
                card_id,
                issuer_mode=IssuerMode.TEST,
                name="李雷",
                phone=None,
                photo=None,
                volunteer="V001",
                audit=kiosk,
                at=NOW,
            )
        )
        .then(expect(Registered, name="李雷", volunteer="V001", issuer_mode=IssuerMode.TEST))
    )
    assert outcome.aggregate is not None
    assert outcome.aggregate.id == card_id
    (
        given_events(aggregate=HealthCard)
        .when_new(
            lambda: HealthCard.register(
                card_id,
                issuer_mode=IssuerMode.TEST,
                name="李雷",
                phone=None,
                photo=None,
                volunteer="V001",
                audit=AUDIT,  # a volunteer away from a kiosk
                at=NOW,
            )
        )
        .then(InvalidInput)
    )


# -- the helper fails when the scenario is wrong ----------------------------------------


def test_then_fails_on_a_different_field_value() -> None:
    _, history = registered()
    outcome = given_events(*history).when(lambda c: c.freeze("lost", audit=AUDIT, at=NOW))
    with pytest.raises(ScenarioFailed, match="reason"):
        outcome.then(expect(Frozen, reason="stolen"))


def test_then_fails_on_a_different_event_class_or_count() -> None:
    _, history = registered()
    outcome = given_events(*history).when(lambda c: c.freeze("lost", audit=AUDIT, at=NOW))
    with pytest.raises(ScenarioFailed, match="expected Cancelled, got Frozen"):
        outcome.then(expect(Cancelled))
    with pytest.raises(ScenarioFailed, match="expected 2 event"):
        outcome.then(expect(Frozen), expect(Frozen))
    with pytest.raises(ScenarioFailed, match="recorded"):
        outcome.then(CardNotActive)


def test_then_fails_when_an_error_was_expected_to_be_another() -> None:
    _, history = registered()
    frozen = given_events(*history).when(lambda c: c.unfreeze(audit=AUDIT, at=NOW))
    with pytest.raises(ScenarioFailed, match="expected CardNotActive, got InvalidStatusChange"):
        frozen.then(CardNotActive)
    with pytest.raises(ScenarioFailed, match="raised InvalidStatusChange"):
        frozen.then(expect(Unfrozen))
    with pytest.raises(ScenarioFailed, match="expected code"):
        frozen.then(InvalidStatusChange, code="something_else")


def test_then_error_fails_when_the_aggregate_recorded_before_raising() -> None:
    _, history = registered()

    def freeze_then_fail(card: HealthCard) -> None:
        card.freeze("lost", audit=AUDIT, at=NOW)
        raise CardNotActive(card.id, "frozen")

    outcome = given_events(*history, aggregate=HealthCard).when(freeze_then_fail)
    with pytest.raises(ScenarioFailed, match="recorded changes"):
        outcome.then(CardNotActive)


def test_exact_events_compare_every_field() -> None:
    card_id, history = registered()
    card = stream(card_id, audit=AUDIT, at=NOW)
    card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳")  # version 1 taken
    expected = card(Frozen, reason="lost", at=NOW)
    outcome = given_events(*history).when(lambda c: c.freeze("lost", audit=AUDIT, at=NOW))
    outcome.then(expected)
    other_time = card(Frozen, reason="lost", at=NOW + timedelta(seconds=1))
    with pytest.raises(ScenarioFailed, match="timestamp"):
        outcome.then(other_time)


def test_aggregates_are_found_from_their_events() -> None:
    _, history = registered()
    assert aggregate_class_for(history[0]) is HealthCard
    assert aggregate_class_for(published(1)[0]) is ClinicSession  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass events"):
        given_events()


def test_aggregate_state_tells_replays_apart() -> None:
    _, history = registered()
    one = HealthCard.project(None, history)
    two = HealthCard.project(None, history)
    assert one is not None
    assert two is not None
    assert aggregate_state(one) == aggregate_state(two)
    two.freeze("lost", audit=AUDIT, at=NOW)
    assert aggregate_state(one) != aggregate_state(two)
