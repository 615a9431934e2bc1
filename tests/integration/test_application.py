"""The application service on every backend (memory, SQLite file, PostgreSQL).

Why parametrized over backends: the rules are the aggregates', but whether they hold
as *stored* facts (atomic multi-aggregate saves, idempotency by deterministic ids,
state after a restart, the stored JSON) depends on persistence. Refusals are checked
on the notification log itself: its last id must not move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CompleteIdentity,
    FreezeCard,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UnfreezeCard,
)
from healthcard.domain.account import Account
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind, CardKind, CardStatus
from healthcard.domain.clinic_values import AppointmentStatus, CheckInCredential, Period
from healthcard.domain.errors import (
    AppointmentNotFound,
    CardNotActive,
    CardNotFound,
    CheckInNotOpen,
    ConfigurationError,
    DocumentAlreadyRegistered,
    DuplicateAppointment,
    FamilyCapReached,
    IdempotencyKeyReused,
    IdentityIncomplete,
    IdentityMismatch,
    NotFound,
    SessionAlreadyPublished,
    SessionFull,
    SessionNotFound,
)
from healthcard.domain.events.catalog import registered_topics
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex
from healthcard.domain.relation import Relation
from healthcard.testing.assertions import log_position, refused
from healthcard.testing.world import resident_id

HOSPITAL = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
WECHAT = Audit(actor="wx-user", channel=Channel.WECHAT_OFFICIAL_ACCOUNT, institution="H510100001")
TRIAGE = Audit(actor="nurse-03", channel=Channel.TRIAGE_DESK, institution="H510100001")
MOTHER_PHONE = AccountRef(kind=AccountKind.PHONE, identifier="13812345678")
FATHER_WECHAT = AccountRef(kind=AccountKind.WECHAT, identifier="oWx_father01")


def notifications(app: HealthCardApp, *topics: str) -> list[Any]:
    return list(app.recorder.select_notifications(start=None, limit=100_000, topics=topics))


def register(app: HealthCardApp, name: str = "王芳", **extra: Any) -> UUID:
    return app.register(RegisterCard(audit=WECHAT, name=name, **extra))


def complete(app: HealthCardApp, card_id: UUID, doc: IdentityDocument, sex: Sex, born: date) -> str:
    return app.complete_identity(
        CompleteIdentity(
            audit=HOSPITAL, card_id=card_id, document=doc, name="王芳", sex=sex, birth_date=born
        )
    )


def formal(app: HealthCardApp, seq: int, born: date = date(1988, 3, 15)) -> UUID:
    """A formal card with a fresh resident ID (sex follows ``seq``)."""
    card_id = register(app)
    sex = Sex.MALE if seq % 2 else Sex.FEMALE
    complete(app, card_id, resident_id(born, seq), sex, born)
    return card_id


def bind(app: HealthCardApp, card_id: UUID, ref: AccountRef, relation: Relation) -> UUID:
    return app.bind(BindCard(audit=WECHAT, card_id=card_id, account=ref, relation=relation))


def publish(app: HealthCardApp, day: date, capacity: int, doctor: str = "dr-0042") -> UUID:
    return app.publish_session(
        PublishSession(
            audit=HOSPITAL,
            department="paediatrics",
            doctor=doctor,
            day=day,
            period=Period.MORNING,
            capacity=capacity,
        )
    )


def book(app: HealthCardApp, session_id: UUID, card_id: UUID, key: str | None = None) -> UUID:
    return app.make_appointment(
        MakeAppointment(audit=WECHAT, session_id=session_id, card_id=card_id, idempotency_key=key)
    )


@pytest.fixture
def capped_app(backend_env: dict[str, str], clock: FakeClock) -> Iterator[HealthCardApp]:
    application = HealthCardApp(backend_env, clock=clock, config=HealthCardConfig(family_cap=3))
    try:
        yield application
    finally:
        application.close()


# ------------------------------------------------------------------ the whole flow


def test_register_complete_bind_publish_book_check_in(app: HealthCardApp, clock: FakeClock) -> None:
    mother_doc = resident_id(date(1988, 3, 15), 2)
    child_doc = resident_id(date(2020, 6, 1), 4)
    mother = register(app, phone="138 1234 5678")
    mother_ehc = complete(app, mother, mother_doc, Sex.FEMALE, date(1988, 3, 15))
    child = register(app, name="王小美")
    child_ehc = complete(app, child, child_doc, Sex.FEMALE, date(2020, 6, 1))

    account_id = bind(app, mother, MOTHER_PHONE, Relation.SELF)
    assert bind(app, child, MOTHER_PHONE, Relation.DAUGHTER) == account_id
    father_account = bind(app, child, FATHER_WECHAT, Relation.DAUGHTER)
    assert father_account != account_id

    today = clock.now.date()
    session_id = publish(app, today + timedelta(days=1), capacity=2)
    appointment_id = book(app, session_id, child)
    clock.advance(days=1)
    checked_in = app.check_in_with_document(
        CheckInWithDocument(audit=TRIAGE, session_id=session_id, document=child_doc)
    )

    assert checked_in == appointment_id
    card = app.card(mother)
    assert card.kind is CardKind.FORMAL
    assert card.phone == "+8613812345678"
    assert card.ehc_id == mother_ehc
    assert len(mother_ehc) == 64
    assert mother_ehc != child_ehc
    assert app.card(child).accounts == {
        account_id: Relation.DAUGHTER,
        father_account: Relation.DAUGHTER,
    }
    account = app.account(MOTHER_PHONE)
    assert account.id == account_id
    assert account.cards == {mother: Relation.SELF, child: Relation.DAUGHTER}
    assert app.account(FATHER_WECHAT).cards == {child: Relation.DAUGHTER}
    session = app.session(session_id)
    appointment = session.appointments[appointment_id]
    assert (appointment.card_id, appointment.status) == (child, AppointmentStatus.CHECKED_IN)
    assert appointment.credential is CheckInCredential.ID_CARD
    assert session.booked == 1
    assert app.find_card_by_document(child_doc) == child
    assert app.find_card_by_document(mother_doc) == mother

    topics = [n.topic for n in notifications(app)]
    assert topics == [
        "healthcard.card.Registered",
        "healthcard.card.IdentityCompleted",
        "healthcard.document.Claimed",
        "healthcard.card.Registered",
        "healthcard.card.IdentityCompleted",
        "healthcard.document.Claimed",
        "healthcard.card.Bound",
        "healthcard.account.Opened",
        "healthcard.account.CardAdded",
        "healthcard.card.Bound",
        "healthcard.account.CardAdded",
        "healthcard.card.Bound",
        "healthcard.account.Opened",
        "healthcard.account.CardAdded",
        "healthcard.session.Published",
        "healthcard.session.AppointmentMade",
        "healthcard.session.CheckedIn",
    ]


def test_relation_codes_are_stored_as_gbt_4761_codes(app: HealthCardApp) -> None:
    child = register(app)
    bind(app, child, MOTHER_PHONE, Relation.DAUGHTER)
    [bound] = notifications(app, "healthcard.card.Bound")
    [added] = notifications(app, "healthcard.account.CardAdded")
    assert orjson.loads(bound.state)["relation"] == "30"
    assert orjson.loads(added.state)["relation"] == "30"


def test_unbind_frees_both_sides(app: HealthCardApp) -> None:
    card = register(app)
    bind(app, card, MOTHER_PHONE, Relation.SELF)
    app.unbind(UnbindCard(audit=WECHAT, card_id=card, account=MOTHER_PHONE))
    assert app.card(card).accounts == {}
    assert app.account(MOTHER_PHONE).cards == {}


def test_card_as_of_replays_history(app: HealthCardApp) -> None:
    card_id = formal(app, 1)
    app.freeze(FreezeCard(audit=HOSPITAL, card_id=card_id, reason="lost_phone"))
    assert app.card_as_of(card_id, 1).kind is CardKind.TEMPORARY
    assert app.card_as_of(card_id, 2).kind is CardKind.FORMAL
    assert app.card_as_of(card_id, 2).status is CardStatus.NORMAL
    assert app.card(card_id).status is CardStatus.FROZEN
    with pytest.raises(CardNotFound):
        app.card_as_of(uuid4(), 1)


# ------------------------------------------------------------------ idempotency


def test_registration_is_idempotent_by_key(app: HealthCardApp) -> None:
    first = register(app, idempotency_key="wx-req-0001")
    again = register(app, idempotency_key="wx-req-0001")
    other = register(app, idempotency_key="wx-req-0002")
    assert first == again
    assert other != first
    registered = notifications(app, "healthcard.card.Registered")
    assert [n.originator_id for n in registered].count(first) == 1
    assert len(registered) == 2


def test_appointments_are_idempotent_by_key(app: HealthCardApp, clock: FakeClock) -> None:
    card = formal(app, 1)
    session_id = publish(app, clock.now.date(), capacity=3)
    first = book(app, session_id, card, key="apt-0001")
    position = log_position(app)
    assert book(app, session_id, card, key="apt-0001") == first
    assert log_position(app) == position
    assert len(notifications(app, "healthcard.session.AppointmentMade")) == 1
    assert app.session(session_id).booked == 1
    other = formal(app, 3)
    refused(
        app,
        IdempotencyKeyReused,
        "idempotency_key_reused",
        lambda: book(app, session_id, other, key="apt-0001"),
    )
    refused(app, DuplicateAppointment, "duplicate_appointment", lambda: book(app, session_id, card))


def test_a_session_is_published_once(app: HealthCardApp, clock: FakeClock) -> None:
    day = clock.now.date() + timedelta(days=2)
    session_id = publish(app, day, capacity=5)
    error = refused(
        app, SessionAlreadyPublished, "session_already_published", lambda: publish(app, day, 5)
    )
    assert isinstance(error, SessionAlreadyPublished)
    assert error.session_id == session_id
    assert publish(app, day, 5, doctor="dr-0043") != session_id


# ------------------------------------------------------------ one card per document


def test_one_card_per_document(app: HealthCardApp) -> None:
    doc = resident_id(date(1988, 3, 15), 2)
    first = register(app)
    complete(app, first, doc, Sex.FEMALE, date(1988, 3, 15))
    second = register(app)
    same_doc_other_spelling = IdentityDocument(
        type=DocumentType.RESIDENT_ID, number=" " + doc.number.lower()
    )
    error = refused(
        app,
        DocumentAlreadyRegistered,
        "document_already_registered",
        lambda: complete(app, second, same_doc_other_spelling, Sex.FEMALE, date(1988, 3, 15)),
    )
    assert isinstance(error, DocumentAlreadyRegistered)
    assert error.existing_card_id == first
    assert doc.number not in str(error)
    assert app.card(second).kind is CardKind.TEMPORARY
    assert app.find_card_by_document(doc) == first


def test_a_mismatching_identity_writes_nothing(app: HealthCardApp) -> None:
    card = register(app)
    doc = resident_id(date(1988, 3, 15), 2)
    refused(
        app,
        IdentityMismatch,
        "identity_mismatch",
        lambda: complete(app, card, doc, Sex.MALE, date(1988, 3, 15)),
    )
    # Neither the card nor the document claim was written: the document is still free.
    assert app.find_card_by_document(doc) is None
    complete(app, card, doc, Sex.FEMALE, date(1988, 3, 15))
    assert app.find_card_by_document(doc) == card


# ------------------------------------------------------------------ family cap


def test_family_cap_from_configuration(capped_app: HealthCardApp) -> None:
    app = capped_app
    members = [register(app) for _ in range(4)]
    for relation, card in zip(
        [Relation.SELF, Relation.SON, Relation.MOTHER], members, strict=False
    ):
        bind(app, card, MOTHER_PHONE, relation)
    error = refused(
        app,
        FamilyCapReached,
        "family_cap_reached",
        lambda: bind(app, members[3], MOTHER_PHONE, Relation.FATHER),
    )
    assert isinstance(error, FamilyCapReached)
    assert error.cap == 3
    assert app.card(members[3]).accounts == {}
    assert len(app.account(MOTHER_PHONE).cards) == 3
    # The same card can still go to another account.
    bind(app, members[3], FATHER_WECHAT, Relation.FATHER)


def test_default_family_cap_is_five(app: HealthCardApp) -> None:
    for _ in range(5):
        bind(app, register(app), MOTHER_PHONE, Relation.OTHER_RELATIVE)
    sixth = register(app)
    refused(
        app,
        FamilyCapReached,
        "family_cap_reached",
        lambda: bind(app, sixth, MOTHER_PHONE, Relation.SON),
    )


def test_cancel_card_frees_family_slots_and_the_document(capped_app: HealthCardApp) -> None:
    app = capped_app
    doc = resident_id(date(1988, 3, 15), 2)
    leaving = register(app)
    complete(app, leaving, doc, Sex.FEMALE, date(1988, 3, 15))
    bind(app, leaving, MOTHER_PHONE, Relation.SELF)
    bind(app, leaving, FATHER_WECHAT, Relation.WIFE)
    bind(app, register(app), MOTHER_PHONE, Relation.SON)
    bind(app, register(app), MOTHER_PHONE, Relation.DAUGHTER)
    newcomer = register(app)
    refused(
        app,
        FamilyCapReached,
        "family_cap_reached",
        lambda: bind(app, newcomer, MOTHER_PHONE, Relation.MOTHER),
    )

    app.cancel_card(CancelCard(audit=HOSPITAL, card_id=leaving, reason="duplicate"))

    assert app.card(leaving).status is CardStatus.CANCELLED
    assert leaving not in app.account(MOTHER_PHONE).cards
    assert app.account(FATHER_WECHAT).cards == {}
    assert app.find_card_by_document(doc) is None
    bind(app, newcomer, MOTHER_PHONE, Relation.MOTHER)
    assert len(app.account(MOTHER_PHONE).cards) == 3
    replacement = register(app)
    complete(app, replacement, doc, Sex.FEMALE, date(1988, 3, 15))
    assert app.find_card_by_document(doc) == replacement
    refused(
        app,
        CardNotActive,
        "card_not_active",
        lambda: bind(
            app, leaving, AccountRef(kind="phone", identifier="13900001111"), Relation.SELF
        ),
    )


# -------------------------------------------------------------- booking rules


def test_booking_rules_through_the_service(app: HealthCardApp, clock: FakeClock) -> None:
    session_id = publish(app, clock.now.date() + timedelta(days=1), capacity=1)
    temporary = register(app)
    refused(
        app, IdentityIncomplete, "identity_incomplete", lambda: book(app, session_id, temporary)
    )
    first, second = formal(app, 1), formal(app, 3)
    appointment = book(app, session_id, first)
    refused(app, SessionFull, "session_full", lambda: book(app, session_id, second))
    app.cancel_appointment(
        CancelAppointment(audit=WECHAT, session_id=session_id, appointment_id=appointment)
    )
    book(app, session_id, second)
    assert set(app.session(session_id).active_by_card) == {second}
    app.freeze(FreezeCard(audit=HOSPITAL, card_id=second, reason="lost_phone"))
    clock.advance(days=1)
    second_doc = resident_id(date(1988, 3, 15), 3)
    check_in = CheckInWithDocument(audit=TRIAGE, session_id=session_id, document=second_doc)
    refused(app, CardNotActive, "card_not_active", lambda: app.check_in_with_document(check_in))
    app.unfreeze(UnfreezeCard(audit=HOSPITAL, card_id=second))
    app.check_in_with_document(check_in)


def test_check_in_refusals_write_nothing(app: HealthCardApp, clock: FakeClock) -> None:
    session_id = publish(app, clock.now.date() + timedelta(days=1), capacity=5)
    booked = formal(app, 1)
    book(app, session_id, booked)
    formal(app, 3)
    booked_doc = resident_id(date(1988, 3, 15), 1)
    unbooked_doc = resident_id(date(1988, 3, 15), 3)
    unknown_doc = resident_id(date(1988, 3, 15), 5)

    def check_in(doc: IdentityDocument) -> Callable[[], object]:
        command = CheckInWithDocument(audit=TRIAGE, session_id=session_id, document=doc)
        return lambda: app.check_in_with_document(command)

    refused(app, CheckInNotOpen, "check_in_not_open", check_in(booked_doc))
    clock.advance(days=1)
    refused(app, AppointmentNotFound, "appointment_not_found", check_in(unbooked_doc))
    refused(app, AppointmentNotFound, "appointment_not_found", check_in(unknown_doc))
    check_in(booked_doc)()
    assert len(notifications(app, "healthcard.session.CheckedIn")) == 1


def test_unknown_references_are_typed_not_found(app: HealthCardApp) -> None:
    missing = uuid4()
    error = refused(app, CardNotFound, "card_not_found", lambda: app.card(missing))
    assert isinstance(error, NotFound)
    refused(app, SessionNotFound, "session_not_found", lambda: app.session(missing))
    refused(app, NotFound, "not_found", lambda: app.account(MOTHER_PHONE))
    refused(
        app,
        CardNotFound,
        "card_not_found",
        lambda: bind(app, missing, MOTHER_PHONE, Relation.SELF),
    )
    refused(app, SessionNotFound, "session_not_found", lambda: book(app, missing, missing))
    with pytest.raises(NotFound):
        app.session(register(app))  # a card's id is no session's id


# ------------------------------------------------------------------- durability


@pytest.mark.parametrize("backend_env", ["sqlite", "postgres"], indirect=True)
def test_state_survives_closing_and_reopening(
    backend_env: dict[str, str], clock: FakeClock
) -> None:
    doc = resident_id(date(1988, 3, 15), 2)
    first_app = HealthCardApp(backend_env, clock=clock)
    try:
        card = first_app.register(RegisterCard(audit=WECHAT, name="王芳", idempotency_key="k-1"))
        ehc = complete(first_app, card, doc, Sex.FEMALE, date(1988, 3, 15))
        account = bind(first_app, card, MOTHER_PHONE, Relation.SELF)
        session_id = publish(first_app, clock.now.date(), capacity=1)
        appointment = book(first_app, session_id, card)
        position = log_position(first_app)
    finally:
        first_app.close()

    reopened = HealthCardApp(backend_env, clock=clock)
    try:
        assert log_position(reopened) == position
        loaded = reopened.card(card)
        assert (loaded.kind, loaded.ehc_id, loaded.document) == (CardKind.FORMAL, ehc, doc)
        assert loaded.accounts == {account: Relation.SELF}
        assert reopened.account(MOTHER_PHONE).cards == {card: Relation.SELF}
        assert reopened.session(session_id).active_by_card == {card: appointment}
        assert reopened.find_card_by_document(doc) == card
        again = reopened.register(RegisterCard(audit=WECHAT, name="王芳", idempotency_key="k-1"))
        assert again == card
        other = register(reopened)
        refused(
            reopened,
            DocumentAlreadyRegistered,
            "document_already_registered",
            lambda: complete(reopened, other, doc, Sex.FEMALE, date(1988, 3, 15)),
        )
        latecomer = formal(reopened, 5)
        refused(
            reopened, SessionFull, "session_full", lambda: book(reopened, session_id, latecomer)
        )
        assert isinstance(reopened.repository.get(account, projector_func=Account.project), Account)
    finally:
        reopened.close()


# ---------------------------------------------------------------- stored format


def test_stored_state_is_json_with_class_version_and_stable_topics(
    app: HealthCardApp, clock: FakeClock
) -> None:
    card = formal(app, 1)
    bind(app, card, MOTHER_PHONE, Relation.SELF)
    session_id = publish(app, clock.now.date(), capacity=2)
    book(app, session_id, card)
    app.freeze(FreezeCard(audit=HOSPITAL, card_id=card, reason="lost_phone"))

    stored = notifications(app)
    known = registered_topics()
    for notification in stored:
        assert notification.topic in known
        state = orjson.loads(notification.state)
        assert isinstance(state, dict)
        assert state["class_version"] == known[notification.topic].class_version
        assert "originator_id" not in state
        assert "originator_version" not in state
        assert state["audit"]["institution"] == "H510100001"
    assert {n.topic for n in stored} == {
        "healthcard.card.Registered",
        "healthcard.card.IdentityCompleted",
        "healthcard.document.Claimed",
        "healthcard.card.Bound",
        "healthcard.account.Opened",
        "healthcard.account.CardAdded",
        "healthcard.session.Published",
        "healthcard.session.AppointmentMade",
        "healthcard.card.Frozen",
    }
    [frozen] = notifications(app, "healthcard.card.Frozen")
    assert orjson.loads(frozen.state)["reason"] == "lost_phone"
    assert frozen.originator_id == card


@pytest.mark.parametrize("value", ["y", "true", "1", "maybe"])
def test_snapshots_are_refused_at_start_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        HealthCardApp({**memory_env(), "IS_SNAPSHOTTING_ENABLED": value})
    assert excinfo.value.field == "IS_SNAPSHOTTING_ENABLED"


def test_snapshots_switched_off_explicitly_start() -> None:
    HealthCardApp({**memory_env(), "IS_SNAPSHOTTING_ENABLED": "no"}).close()
