"""A *valid* command that a rule refuses writes nothing to the application's log.

The boundary half (junk input is ``InvalidInput`` naming the field, never echoed) is
``tests/unit/test_boundary.py``; this half runs commands against a small application
with a known state (a formal card, a temporary one, a frozen and a cancelled one, a
full session today and one tomorrow) and compares the log before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.application.commands import (
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CheckInWithQr,
    CompleteIdentity,
    ErasePersonalData,
    FreezeCard,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UnfreezeCard,
    UseCard,
)
from healthcard.application.config import HealthCardConfig
from healthcard.domain.errors import HealthCardError, TokenRejected
from healthcard.testing.profiles import property_settings, scaled

RESIDENT_ID = "11010519491231002X"  # female, born 1949-12-31
OTHER_RESIDENT_ID = "510104199003150023"  # female, born 1990-03-15
AUDIT: dict[str, Any] = {
    "actor": "staff-001",
    "channel": "window",
    "institution": "H510100001",
    "correlation_id": "0b7c1f3e-2a4d-4d5e-8f60-718293a4b5c6",
}
PHONE_ACCOUNT: dict[str, Any] = {"kind": "phone", "identifier": "13800138000"}


def log_of(app: HealthCardApp) -> list[tuple[int, str, int, str]]:
    """Every notification (id, originator, version, topic): equal lists mean nothing written."""
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic)
        for n in app.recorder.select_notifications(start=None, limit=1_000_000)
    ]


@dataclass
class World:
    """A small application with a known state for refusal checks."""

    app: HealthCardApp
    clock: FakeClock
    formal: UUID  # formal, normal, bound to the phone account, booked in `today`
    temporary: UUID  # temporary, normal
    frozen: UUID  # formal, frozen
    cancelled: UUID  # formal, cancelled (its document released)
    today: UUID  # session today, capacity 1, full
    tomorrow: UUID  # session tomorrow, capacity 2
    appointment: UUID  # of `formal` in `today`
    tokens: dict[str, str] = field(default_factory=dict)


def build_world(family_cap: int = 1) -> World:
    clock = FakeClock()
    app = HealthCardApp(memory_env(), clock=clock, config=HealthCardConfig(family_cap=family_cap))
    audit: dict[str, Any] = dict(AUDIT)

    def card(name: str, number: str | None, birth: str, sex: str) -> UUID:
        card_id = app.register(RegisterCard(audit=audit, name=name))
        if number is not None:
            app.complete_identity(
                CompleteIdentity(
                    audit=audit,
                    card_id=card_id,
                    document={"type": "01", "number": number},
                    name=name,
                    sex=sex,
                    birth_date=birth,
                )
            )
        return card_id

    formal = card("王芳", RESIDENT_ID, "1949-12-31", "2")
    temporary = card("李雷", None, "", "")
    frozen = card("韩梅梅", OTHER_RESIDENT_ID, "1990-03-15", "2")
    cancelled = card("张伟", "51010419880720001X", "1988-07-20", "1")
    app.bind(BindCard(audit=audit, card_id=formal, account=PHONE_ACCOUNT))
    app.freeze(FreezeCard(audit=audit, card_id=frozen, reason="lost_phone"))
    app.cancel_card(CancelCard(audit=audit, card_id=cancelled, reason="duplicate"))
    day = clock.now.date()
    today = app.publish_session(
        PublishSession(
            audit=audit,
            department="pediatrics",
            doctor="dr-li",
            day=day,
            period="morning",
            capacity=1,
        )
    )
    tomorrow = app.publish_session(
        PublishSession(
            audit=audit,
            department="pediatrics",
            doctor="dr-li",
            day=day + timedelta(days=1),
            period="morning",
            capacity=2,
        )
    )
    appointment = app.make_appointment(
        MakeAppointment(audit=audit, session_id=today, card_id=formal)
    )
    return World(app, clock, formal, temporary, frozen, cancelled, today, tomorrow, appointment)


@pytest.fixture
def world() -> Iterator[World]:
    built = build_world()
    try:
        yield built
    finally:
        built.app.close()


Step = Callable[[World], object]


def nothing(w: World) -> None:
    """No setup."""


def book_tomorrow(w: World) -> None:
    w.app.make_appointment(MakeAppointment(audit=AUDIT, session_id=w.tomorrow, card_id=w.formal))


def next_day(w: World) -> None:
    w.clock.advance(days=1)


def triage_token(w: World) -> None:
    w.tokens["triage"] = w.app.issue_token(
        IssueToken(audit=AUDIT, card_id=w.formal, account=PHONE_ACCOUNT, use="triage")
    )


def qr_check_in(w: World) -> None:
    triage_token(w)
    w.app.check_in_with_qr(CheckInWithQr(audit=AUDIT, session_id=w.today, token=w.tokens["triage"]))


def complete(card: str, number: str, birth: date, sex: str) -> Step:
    return lambda w: w.app.complete_identity(
        CompleteIdentity(
            audit=AUDIT,
            card_id=getattr(w, card),
            document={"type": "01", "number": number},
            name="王芳",
            sex=sex,
            birth_date=birth,
        )
    )


def book(session: str, card: str) -> Step:
    return lambda w: w.app.make_appointment(
        MakeAppointment(audit=AUDIT, session_id=getattr(w, session), card_id=getattr(w, card))
    )


def check_in(session: str, number: str) -> Step:
    return lambda w: w.app.check_in_with_document(
        CheckInWithDocument(
            audit=AUDIT,
            session_id=getattr(w, session),
            document={"type": "01", "number": number},
        )
    )


def publish(days: int, doctor: str = "dr-li") -> Step:
    return lambda w: w.app.publish_session(
        PublishSession(
            audit=AUDIT,
            department="pediatrics",
            doctor=doctor,
            day=w.clock.now.date() + timedelta(days=days),
            period="morning",
            capacity=3,
        )
    )


WECHAT = {"kind": "wechat", "identifier": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}
OTHER_PHONE = {"kind": "phone", "identifier": "13900139000"}

REFUSALS: dict[str, tuple[Step, Step, str]] = {
    "volunteer outside a kiosk": (
        nothing,
        lambda w: w.app.register(RegisterCard(audit=AUDIT, name="赵六", volunteer="vol-1")),
        "invalid_input",
    ),
    "second card for a document": (
        nothing,
        complete("temporary", RESIDENT_ID, date(1949, 12, 31), "2"),
        "document_already_registered",
    ),
    "identity mismatch": (
        nothing,
        complete("temporary", "510104197511110045", date(1975, 11, 11), "1"),
        "identity_mismatch",
    ),
    "identity twice": (
        nothing,
        complete("formal", "510104197511110045", date(1975, 11, 11), "2"),
        "identity_already_completed",
    ),
    "identity of a frozen card": (
        nothing,
        complete("frozen", "510104197511110045", date(1975, 11, 11), "2"),
        "card_not_active",
    ),
    "family cap": (
        nothing,
        lambda w: w.app.bind(BindCard(audit=AUDIT, card_id=w.temporary, account=PHONE_ACCOUNT)),
        "family_cap_reached",
    ),
    "bind twice": (
        nothing,
        lambda w: w.app.bind(BindCard(audit=AUDIT, card_id=w.formal, account=PHONE_ACCOUNT)),
        "already_bound",
    ),
    "bind a frozen card": (
        nothing,
        lambda w: w.app.bind(BindCard(audit=AUDIT, card_id=w.frozen, account=WECHAT)),
        "card_not_active",
    ),
    "unbind a card not bound": (
        nothing,
        lambda w: w.app.unbind(UnbindCard(audit=AUDIT, card_id=w.temporary, account=PHONE_ACCOUNT)),
        "not_bound",
    ),
    "unbind from an unknown account": (
        nothing,
        lambda w: w.app.unbind(UnbindCard(audit=AUDIT, card_id=w.formal, account=OTHER_PHONE)),
        "not_found",
    ),
    "freeze a frozen card": (
        nothing,
        lambda w: w.app.freeze(FreezeCard(audit=AUDIT, card_id=w.frozen, reason="again")),
        "invalid_status_change",
    ),
    "unfreeze a normal card": (
        nothing,
        lambda w: w.app.unfreeze(UnfreezeCard(audit=AUDIT, card_id=w.formal)),
        "invalid_status_change",
    ),
    "cancel a cancelled card": (
        nothing,
        lambda w: w.app.cancel_card(CancelCard(audit=AUDIT, card_id=w.cancelled, reason="x")),
        "invalid_status_change",
    ),
    "unknown card": (
        nothing,
        lambda w: w.app.freeze(FreezeCard(audit=AUDIT, card_id=uuid4(), reason="x")),
        "card_not_found",
    ),
    "session in the past": (nothing, publish(-1, "dr-wang"), "appointment_in_past"),
    "session published twice": (nothing, publish(0), "session_already_published"),
    "book a temporary card": (nothing, book("tomorrow", "temporary"), "identity_incomplete"),
    "book a frozen card": (nothing, book("tomorrow", "frozen"), "card_not_active"),
    "book a cancelled card": (nothing, book("tomorrow", "cancelled"), "card_not_active"),
    "book twice": (nothing, book("today", "formal"), "duplicate_appointment"),
    "book a past session": (next_day, book("today", "formal"), "appointment_in_past"),
    "cancel an unknown appointment": (
        nothing,
        lambda w: w.app.cancel_appointment(
            CancelAppointment(audit=AUDIT, session_id=w.today, appointment_id=uuid4())
        ),
        "appointment_not_found",
    ),
    "check in without an appointment": (
        nothing,
        check_in("tomorrow", RESIDENT_ID),
        "appointment_not_found",
    ),
    "check in before the session's day": (
        book_tomorrow,
        check_in("tomorrow", RESIDENT_ID),
        "check_in_not_open",
    ),
    "check in after the session's day": (
        next_day,
        check_in("today", RESIDENT_ID),
        "check_in_not_open",
    ),
    "check in with an unknown document": (
        nothing,
        check_in("today", "510104202002020053"),
        "appointment_not_found",
    ),
    "token for an account the card is not bound to": (
        nothing,
        lambda w: w.app.issue_token(
            IssueToken(audit=AUDIT, card_id=w.temporary, account=PHONE_ACCOUNT)
        ),
        "not_bound",
    ),
    "check in with a forged token": (
        nothing,
        lambda w: w.app.check_in_with_qr(
            CheckInWithQr(audit=AUDIT, session_id=w.today, token="EH1:6BFOXN*TS0BI$ZD")
        ),
        "token_rejected:malformed",
    ),
    "check in twice with one token": (
        qr_check_in,
        lambda w: w.app.check_in_with_qr(
            CheckInWithQr(audit=AUDIT, session_id=w.today, token=w.tokens["triage"])
        ),
        "token_rejected:replayed",
    ),
    "use a triage token for a diagnosis": (
        triage_token,
        lambda w: w.app.use_card(UseCard(audit=AUDIT, token=w.tokens["triage"], step="010102")),
        "token_rejected:wrong_use",
    ),
    "erase an unknown card": (
        nothing,
        lambda w: w.app.erase_personal_data(ErasePersonalData(audit=AUDIT, card_id=uuid4())),
        "card_not_found",
    ),
}


def outcome(error: HealthCardError) -> str:
    """The error's stable code, with the reason of a refused token."""
    if isinstance(error, TokenRejected):
        return f"{error.code}:{error.reason.value}"
    return error.code


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refused_commands_write_nothing(world: World, name: str) -> None:
    setup, action, code = REFUSALS[name]
    setup(world)
    before = log_of(world.app)
    assert before, "the world has a history"
    with pytest.raises(HealthCardError) as excinfo:
        action(world)
    assert outcome(excinfo.value) == code
    assert log_of(world.app) == before


def test_full_session_refuses_a_formal_card(world: World) -> None:
    """The capacity rule (the world's `today` session has one place, already taken)."""
    other = world.app.register(RegisterCard(audit=AUDIT, name="周七"))
    world.app.complete_identity(
        CompleteIdentity(
            audit=AUDIT,
            card_id=other,
            document={"type": "01", "number": "510104197511110045"},
            name="周七",
            sex="2",
            birth_date=date(1975, 11, 11),
        )
    )
    before = log_of(world.app)
    with pytest.raises(HealthCardError) as excinfo:
        world.app.make_appointment(
            MakeAppointment(audit=AUDIT, session_id=world.today, card_id=other)
        )
    assert excinfo.value.code == "session_full"
    assert log_of(world.app) == before


# Random valid commands against the world: any refusal leaves the log exactly as it was.

ids = st.sampled_from(["formal", "temporary", "frozen", "cancelled", "new"])
accounts = st.sampled_from(
    [PHONE_ACCOUNT, {"kind": "wechat", "identifier": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}]
)
documents = st.sampled_from(
    [
        ("11010519491231002X", "1949-12-31", "2"),
        ("510104199003150023", "1990-03-15", "2"),
        ("51010419880720001X", "1988-07-20", "1"),
        ("510104197511110045", "1975-11-11", "2"),
    ]
)


@st.composite
def valid_commands(draw: st.DrawFn) -> Callable[[World], object]:
    def card_of(w: World, which: str) -> UUID:
        return uuid4() if which == "new" else UUID(str(getattr(w, which)))

    which = draw(ids)
    kind = draw(
        st.sampled_from(
            [
                "identity",
                "bind",
                "unbind",
                "freeze",
                "unfreeze",
                "cancel",
                "book",
                "cancel_appt",
                "check_in",
                "publish",
                "register",
            ]
        )
    )
    account = draw(accounts)
    number, birth, sex = draw(documents)
    session = draw(st.sampled_from(["today", "tomorrow"]))
    days = draw(st.integers(min_value=-2, max_value=2))
    channel = draw(st.sampled_from(["window", "kiosk", "app"]))
    audit = {**AUDIT, "channel": channel}
    if kind == "identity":
        return lambda w: w.app.complete_identity(
            CompleteIdentity(
                audit=audit,
                card_id=card_of(w, which),
                document={"type": "01", "number": number},
                name="王芳",
                sex=sex,
                birth_date=birth,
            )
        )
    if kind == "bind":
        return lambda w: w.app.bind(
            BindCard(audit=audit, card_id=card_of(w, which), account=account)
        )
    if kind == "unbind":
        return lambda w: w.app.unbind(
            UnbindCard(audit=audit, card_id=card_of(w, which), account=account)
        )
    if kind == "freeze":
        return lambda w: w.app.freeze(
            FreezeCard(audit=audit, card_id=card_of(w, which), reason="x")
        )
    if kind == "unfreeze":
        return lambda w: w.app.unfreeze(UnfreezeCard(audit=audit, card_id=card_of(w, which)))
    if kind == "cancel":
        return lambda w: w.app.cancel_card(
            CancelCard(audit=audit, card_id=card_of(w, which), reason="x")
        )
    if kind == "book":
        return lambda w: w.app.make_appointment(
            MakeAppointment(audit=audit, session_id=getattr(w, session), card_id=card_of(w, which))
        )
    if kind == "cancel_appt":
        return lambda w: w.app.cancel_appointment(
            CancelAppointment(
                audit=audit,
                session_id=getattr(w, session),
                appointment_id=w.appointment if which == "formal" else uuid4(),
            )
        )
    if kind == "check_in":
        return lambda w: w.app.check_in_with_document(
            CheckInWithDocument(
                audit=audit,
                session_id=getattr(w, session),
                document={"type": "01", "number": number},
            )
        )
    if kind == "publish":
        return lambda w: w.app.publish_session(
            PublishSession(
                audit=audit,
                department="pediatrics",
                doctor="dr-li",
                day=w.clock.now.date() + timedelta(days=days),
                period="morning",
                capacity=1,
            )
        )
    volunteer = draw(st.sampled_from([None, "vol-1"]))
    return lambda w: w.app.register(RegisterCard(audit=audit, name="赵六", volunteer=volunteer))


@settings(property_settings(), max_examples=scaled(40))
@given(st.lists(valid_commands(), min_size=1, max_size=6), st.integers(min_value=0, max_value=2))
def test_random_refusals_write_nothing(
    steps: list[Callable[[World], object]], clock_days: int
) -> None:
    w = build_world(family_cap=2)
    try:
        w.clock.advance(days=clock_days)
        refusals = 0
        for step in steps:
            before = log_of(w.app)
            try:
                step(w)
            except HealthCardError:
                refusals += 1
                assert log_of(w.app) == before
            else:
                assert log_of(w.app)[: len(before)] == before  # appended, never rewritten
        note(f"{refusals} refusals of {len(steps)}")
    finally:
        w.app.close()
