"""QR tokens through the application: issuance rules, triage check-in by QR, card use
with national step codes, replay, and the log checks (unbind, freeze, cancel).

Tests taking ``app`` run on memory, SQLite and PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelCard,
    CheckInWithQr,
    CompleteIdentity,
    FreezeCard,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UseCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import PRUNE_NONCES_FROM
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.clinic_values import AppointmentStatus, CheckInCredential, Period
from healthcard.domain.errors import (
    AppointmentNotFound,
    CardNotActive,
    InvalidInput,
    NotBound,
    NotFound,
    TokenRejected,
    TokenRejectReason,
)
from healthcard.domain.events.card import CardUsed, TokenAccepted
from healthcard.domain.events.session import CheckedIn
from healthcard.domain.usage import (
    POINT_OF_CARE_CHANNELS,
    REPLAY_MEMORY,
    PresentedToken,
    TokenUse,
    UsageStep,
)
from healthcard.qr.issue import issue_token
from healthcard.qr.keyring import Keyring
from healthcard.qr.token import account_tag
from healthcard.qr.verify import Verifier

R = TokenRejectReason
WINDOW = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
PHONE_APP = Audit(actor="holder", channel=Channel.WECHAT_OFFICIAL_ACCOUNT, institution="H510100001")
TRIAGE = Audit(actor="nurse-003", channel=Channel.TRIAGE_DESK, institution="H510100001")
DOCTOR = Audit(actor="doctor-7", channel=Channel.DOCTOR_WORKSTATION, institution="H510100001")
MOTHER = AccountRef(kind="phone", identifier="13812345678")
FATHER = AccountRef(kind="wechat", identifier="o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
RESIDENT_ID = "11010519491231002X"


@dataclass
class World:
    app: HealthCardApp
    card_id: UUID
    session_id: UUID
    appointment_id: UUID

    def token(self, use: TokenUse = TokenUse.ANY, account: AccountRef = MOTHER) -> str:
        return self.app.issue_token(
            IssueToken(audit=PHONE_APP, card_id=self.card_id, account=account, use=use)
        )

    def check_in(self, token: str) -> UUID:
        return self.app.check_in_with_qr(
            CheckInWithQr(audit=TRIAGE, session_id=self.session_id, token=token)
        )

    def use(self, token: str, step: UsageStep = UsageStep.DIAGNOSIS, audit: Audit = DOCTOR) -> None:
        self.app.use_card(UseCard(audit=audit, token=token, step=step))

    def events(self) -> list[Any]:
        notifications = self.app.recorder.select_notifications(start=1, limit=10_000)
        return [self.app.mapper.to_domain_event(n) for n in notifications]


def make_world(app: HealthCardApp, issuer_mode: IssuerMode = IssuerMode.PRODUCTION) -> World:
    card_id = app.register(RegisterCard(audit=WINDOW, name="王芳", issuer_mode=issuer_mode))
    app.complete_identity(
        CompleteIdentity(
            audit=WINDOW,
            card_id=card_id,
            document={"type": "01", "number": RESIDENT_ID},
            name="王芳",
            sex="2",
            birth_date=date(1949, 12, 31),
        )
    )
    app.bind(BindCard(audit=WINDOW, card_id=card_id, account=MOTHER))
    session_id = app.publish_session(
        PublishSession(
            audit=WINDOW,
            department="obstetrics",
            doctor="D0012",
            day=date(2026, 11, 25),
            period=Period.MORNING,
            capacity=5,
        )
    )
    appointment_id = app.make_appointment(
        MakeAppointment(audit=WINDOW, session_id=session_id, card_id=card_id)
    )
    return World(app, card_id, session_id, appointment_id)


@pytest.fixture
def world(app: HealthCardApp) -> World:
    return make_world(app)


@pytest.fixture
def memory_world(memory_app: HealthCardApp) -> World:
    return make_world(memory_app)


def rejected(reason: TokenRejectReason) -> Any:
    return pytest.raises(TokenRejected, match=reason.value)


# -- issuance ------------------------------------------------------------------------------


def test_token_is_issued_for_a_normal_card_to_a_bound_account(world: World) -> None:
    token = world.token(TokenUse.TRIAGE)
    claims = world.app.verify_token(token)
    assert claims.card_id == world.card_id
    assert claims.account_tag == account_tag(world.app.account(MOTHER).id)
    assert claims.use is TokenUse.TRIAGE
    assert claims.mode is IssuerMode.TEST  # the default keyring is the public test keyring
    assert claims.lifetime == 60


def test_no_token_for_an_unbound_account_or_a_card_that_is_not_normal(
    memory_world: World,
) -> None:
    app = memory_world.app
    with pytest.raises(NotFound):
        memory_world.token(account=FATHER)  # no such account yet
    other = app.register(RegisterCard(audit=WINDOW, name="李四"))
    app.bind(BindCard(audit=WINDOW, card_id=other, account=FATHER))
    with pytest.raises(NotBound):
        memory_world.token(account=FATHER)  # an account, but not bound to this card
    app.freeze(FreezeCard(audit=WINDOW, card_id=memory_world.card_id, reason="lost_phone"))
    with pytest.raises(CardNotActive):
        memory_world.token()
    app.cancel_card(CancelCard(audit=WINDOW, card_id=other, reason="duplicate"))
    with pytest.raises(CardNotActive):
        app.issue_token(IssueToken(audit=PHONE_APP, card_id=other, account=FATHER))


def test_issue_command_validates_its_input() -> None:
    with pytest.raises(InvalidInput) as error:
        IssueToken(audit=PHONE_APP, card_id=UUID(int=1), account=MOTHER, lifetime_seconds=256)
    assert error.value.field == "lifetime_seconds"


# -- check-in by QR ------------------------------------------------------------------------


def test_qr_check_in_saves_token_acceptance_with_the_check_in(world: World) -> None:
    token = world.token(TokenUse.TRIAGE)
    claims = world.app.verify_token(token)
    before = len(world.events())
    assert world.check_in(token) == world.appointment_id
    new = world.events()[before:]
    assert [type(e) for e in new] == [TokenAccepted, CheckedIn]
    accepted, checked_in = new
    assert accepted.nonce == claims.nonce.hex()
    assert accepted.key_id == claims.key_id
    assert accepted.account_id == world.app.account(MOTHER).id
    assert accepted.use is TokenUse.TRIAGE
    assert accepted.token_expires_at == claims.expires_at_datetime
    assert checked_in.credential is CheckInCredential.QR
    assert checked_in.card_id == world.card_id
    assert accepted.audit == checked_in.audit  # one command, one audit, one command id
    assert accepted.audit.model_copy(update={"command_id": None}) == TRIAGE
    assert accepted.audit.command_id is not None
    appointment = world.app.session(world.session_id).appointments[world.appointment_id]
    assert appointment.status is AppointmentStatus.CHECKED_IN
    assert appointment.credential is CheckInCredential.QR


def test_refused_check_in_writes_nothing_and_does_not_burn_the_token(memory_world: World) -> None:
    app = memory_world.app
    lonely = app.register(RegisterCard(audit=WINDOW, name="赵六"))
    app.bind(BindCard(audit=WINDOW, card_id=lonely, account=MOTHER))
    token = app.issue_token(IssueToken(audit=PHONE_APP, card_id=lonely, account=MOTHER))
    before = len(memory_world.events())
    with pytest.raises(AppointmentNotFound):
        memory_world.check_in(token)  # the card has no appointment in this session
    assert len(memory_world.events()) == before
    memory_world.use(token, UsageStep.REGISTRATION)  # still unused, so accepted here


def test_a_token_is_accepted_once(world: World) -> None:
    token = world.token()
    world.check_in(token)
    before = len(world.events())
    with rejected(R.REPLAYED):
        world.check_in(token)
    with rejected(R.REPLAYED):
        world.use(token)
    with rejected(R.REPLAYED):
        world.app.verify_token(token)
    assert len(world.events()) == before
    fresh = world.token()
    world.use(fresh)
    with rejected(R.REPLAYED):
        world.use(fresh)


# -- card use at a point of care ---------------------------------------------------------


def test_card_used_records_step_code_channel_account_and_nonce(world: World) -> None:
    channels = sorted(POINT_OF_CARE_CHANNELS)
    expected_channels = []
    for index, step in enumerate(UsageStep):
        audit = DOCTOR.model_copy(update={"channel": channels[index % len(channels)]})
        world.use(world.token(), step, audit)
        expected_channels.append(audit.channel)
    used = [e for e in world.events() if isinstance(e, CardUsed)]
    assert [e.step.value for e in used] == [
        "010101",
        "010102",
        "010103",
        "010104",
        "010105",
        "010106",
        "010107",
    ]
    assert [e.audit.channel for e in used] == expected_channels
    mother = world.app.account(MOTHER).id
    assert all(e.account_id == mother and e.originator_id == world.card_id for e in used)
    assert len({e.token_nonce for e in used}) == len(used)


def test_use_card_needs_a_point_of_care_channel() -> None:
    with pytest.raises(InvalidInput) as error:
        UseCard(audit=TRIAGE, token="EH1:X", step=UsageStep.DIAGNOSIS)
    assert error.value.field == "audit"


@pytest.mark.parametrize(
    ("use", "step", "allowed"),
    [
        (TokenUse.PHARMACY, UsageStep.DISPENSING, True),
        (TokenUse.PHARMACY, UsageStep.SURGERY, False),
        (TokenUse.BLOOD_DRAW, UsageStep.EXAMINATION, True),
        (TokenUse.BLOOD_DRAW, UsageStep.PRESCRIPTION, False),
        (TokenUse.PRENATAL, UsageStep.EXAMINATION, True),
        (TokenUse.TRIAGE, UsageStep.REGISTRATION, True),
        (TokenUse.TRIAGE, UsageStep.DIAGNOSIS, False),
        (TokenUse.DIAGNOSIS, UsageStep.PRESCRIPTION, True),
    ],
)
def test_token_use_limits_the_steps(
    memory_world: World, use: TokenUse, step: UsageStep, allowed: bool
) -> None:
    token = memory_world.token(use)
    if allowed:
        memory_world.use(token, step)
    else:
        with rejected(R.WRONG_USE):
            memory_world.use(token, step)


def test_check_in_needs_a_triage_or_any_token(memory_world: World) -> None:
    with rejected(R.WRONG_USE):
        memory_world.check_in(memory_world.token(TokenUse.PHARMACY))
    assert memory_world.check_in(memory_world.token(TokenUse.ANY)) == memory_world.appointment_id


# -- what only the log shows -----------------------------------------------------------------


UNBIND: Callable[[World], None] = lambda w: w.app.unbind(  # noqa: E731
    UnbindCard(audit=WINDOW, card_id=w.card_id, account=MOTHER)
)
FREEZE: Callable[[World], None] = lambda w: w.app.freeze(  # noqa: E731
    FreezeCard(audit=WINDOW, card_id=w.card_id, reason="reported_lost")
)
CANCEL: Callable[[World], None] = lambda w: w.app.cancel_card(  # noqa: E731
    CancelCard(audit=WINDOW, card_id=w.card_id, reason="holder_request")
)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(UNBIND, R.NOT_BOUND, id="unbind"),
        pytest.param(FREEZE, R.CARD_NOT_ACTIVE, id="freeze"),
        pytest.param(CANCEL, R.CARD_NOT_ACTIVE, id="cancel"),
    ],
)
def test_earlier_tokens_fail_after_unbind_freeze_or_cancel(
    world: World, change: Callable[[World], None], reason: TokenRejectReason
) -> None:
    token = world.token()
    assert world.app.verify_token(token).card_id == world.card_id
    # Offline, the token still verifies: only the log knows.
    assert world.app.token_verifier.claims(token, world.app.clock()).card_id == world.card_id
    change(world)
    with rejected(reason):
        world.app.verify_token(token)
    with rejected(reason):
        world.check_in(token)
    with rejected(reason):
        world.use(token)


def test_second_bound_account_resolves_from_its_tag(memory_world: World) -> None:
    app = memory_world.app
    app.bind(BindCard(audit=WINDOW, card_id=memory_world.card_id, account=FATHER, relation="52"))
    memory_world.use(memory_world.token(account=FATHER))
    used = [e for e in memory_world.events() if isinstance(e, CardUsed)]
    assert [e.account_id for e in used] == [app.account(FATHER).id]


def test_expired_and_early_tokens_through_the_app(memory_world: World, clock: FakeClock) -> None:
    token = memory_world.token()
    clock.advance(seconds=60 + 30)  # lifetime + default skew allowance
    with rejected(R.EXPIRED):
        memory_world.use(token)
    clock.advance(seconds=-(60 + 30 + 31))
    with rejected(R.NOT_YET_VALID):
        memory_world.use(token)


def test_forged_test_token_for_an_unknown_card(memory_world: World) -> None:
    text, _ = issue_token(
        Keyring.for_tests(),
        card_id=UUID(int=7),
        account_id=memory_world.app.account(MOTHER).id,
        mode=IssuerMode.TEST,
        use=TokenUse.ANY,
        at=memory_world.app.clock(),
    )
    with rejected(R.NOT_BOUND):
        memory_world.use(text)


# -- production keyring: test cards and test tokens (Measures Art. 12) ---------------------


@pytest.fixture
def production_app(clock: FakeClock) -> Iterator[HealthCardApp]:
    keyring = Keyring()
    keyring.rotate(IssuerMode.PRODUCTION)
    application = HealthCardApp(memory_env(), clock=clock, keyring=keyring)
    try:
        yield application
    finally:
        application.close()


def test_production_app_issues_and_accepts_production_tokens(production_app: HealthCardApp) -> None:
    world = make_world(production_app)
    token = world.token()
    assert production_app.verify_token(token).mode is IssuerMode.PRODUCTION
    assert world.check_in(token) == world.appointment_id


def test_production_app_refuses_test_cards_and_test_tokens(
    production_app: HealthCardApp, clock: FakeClock
) -> None:
    test_card = make_world(production_app, issuer_mode=IssuerMode.TEST)
    token = test_card.token()
    assert production_app.token_verifier.mode is IssuerMode.PRODUCTION
    with rejected(R.TEST_TOKEN_IN_PRODUCTION):
        production_app.verify_token(token)
    with rejected(R.TEST_TOKEN_IN_PRODUCTION):
        test_card.use(token)
    # A test-mode (staging) verifier accepts the same token offline.
    staging = Verifier(Keyring.for_tests(), mode=IssuerMode.TEST)
    assert staging.claims(token, clock()).card_id == test_card.card_id


# -- concurrency -----------------------------------------------------------------------------


def test_two_concurrent_uses_of_one_token_cannot_both_be_saved(world: World) -> None:
    token = world.token()
    claims = world.app.verify_token(token)
    first, second = world.app.card(world.card_id), world.app.card(world.card_id)
    at = world.app.clock()
    for copy in (first, second):  # both pass the rules on the state they loaded
        copy.use(
            claims.presented(),
            UsageStep.DIAGNOSIS,
            verifier_mode=IssuerMode.TEST,
            audit=DOCTOR,
            at=at,
        )
    world.app.save(first)
    with pytest.raises(IntegrityError):
        world.app.save(second)
    assert sum(isinstance(e, CardUsed) for e in world.events()) == 1


def test_losing_a_race_is_retried_and_refused_as_replayed(
    memory_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = memory_world.app
    token = memory_world.token()
    original_save = app.save
    raced: list[bool] = []

    def save_after_a_rival(*aggregates: Any, **kwargs: Any) -> Any:
        if not raced:  # a concurrent request with the same token commits first
            raced.append(True)
            rival = HealthCardApp.card(app, memory_world.card_id)
            claims = app.verify_token(token)
            rival.use(
                claims.presented(),
                UsageStep.PAYMENT,
                verifier_mode=IssuerMode.TEST,
                audit=DOCTOR,
                at=app.clock(),
            )
            original_save(rival)
        return original_save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", save_after_a_rival)
    with rejected(R.REPLAYED):
        memory_world.use(token, UsageStep.DIAGNOSIS)
    used = [e for e in memory_world.events() if isinstance(e, CardUsed)]
    assert [e.step for e in used] == [UsageStep.PAYMENT]


def test_a_session_conflict_is_retried_without_burning_the_token(
    memory_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = memory_world.app
    token = memory_world.token(TokenUse.TRIAGE)
    other = app.register(RegisterCard(audit=WINDOW, name="孙七"))
    app.complete_identity(
        CompleteIdentity(
            audit=WINDOW,
            card_id=other,
            document={"type": "01", "number": "510104199003150023"},
            name="孙七",
            sex="2",
            birth_date=date(1990, 3, 15),
        )
    )
    original_save = app.save
    raced: list[bool] = []

    def save_after_a_rival_booking(*aggregates: Any, **kwargs: Any) -> Any:
        if not raced:  # someone books the same session between our load and our save
            raced.append(True)
            app.make_appointment(
                MakeAppointment(audit=WINDOW, session_id=memory_world.session_id, card_id=other)
            )
        return original_save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", save_after_a_rival_booking)
    assert memory_world.check_in(token) == memory_world.appointment_id
    accepted = [e for e in memory_world.events() if isinstance(e, TokenAccepted)]
    assert len(accepted) == 1  # the card and the session were saved together, once


def test_card_refuses_production_tokens_for_a_test_card_in_production(
    memory_app: HealthCardApp,
) -> None:
    world = make_world(memory_app, issuer_mode=IssuerMode.TEST)
    card = memory_app.card(world.card_id)
    token = PresentedToken(
        nonce="00" * 8,
        key_id=0,
        mode=IssuerMode.PRODUCTION,
        account_tag=account_tag(memory_app.account(MOTHER).id),
        use=TokenUse.ANY,
        issued_at=memory_app.clock(),
        expires_at=memory_app.clock(),
    )
    with rejected(R.TEST_TOKEN_IN_PRODUCTION):
        card.admit_token(token, IssuerMode.PRODUCTION)
    assert card.admit_token(token, IssuerMode.TEST) == memory_app.account(MOTHER).id


def test_card_remembers_each_nonce_its_replay_memory_and_forgets_it_after(
    memory_world: World, clock: FakeClock
) -> None:
    """Never forgotten early (a replay from a server whose clock is behind is still
    refused); forgotten in bulk once the memory has doubled, so a card used for years
    holds under twice the nonces still in memory."""
    unused = memory_world.app.verify_token(memory_world.token()).nonce.hex()
    remember_until: dict[str, datetime] = {}
    for _ in range(3 * PRUNE_NONCES_FROM):
        token = memory_world.token()
        claims = memory_world.app.verify_token(token)
        memory_world.use(token)
        remember_until[claims.nonce.hex()] = claims.expires_at_datetime + REPLAY_MEMORY
        remembered = memory_world.app.card(memory_world.card_id).accepted_nonces
        due = {n for n, until in remember_until.items() if until >= clock.now}
        assert due <= set(remembered)  # none forgotten early
        assert len(remembered) <= max(PRUNE_NONCES_FROM, 2 * len(due)) + 1
        clock.advance(minutes=10)
    assert unused not in remembered
    first = next(iter(remember_until))
    assert first not in remembered  # its memory ended hours ago
