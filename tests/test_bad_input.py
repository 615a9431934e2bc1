"""Bad input at the boundary: every command refuses garbage with ``InvalidInput`` only.

Why: commands are the library's boundary. An embedding app catches one error family
(``HealthCardError``) and maps it by ``code``; a ``pydantic.ValidationError`` (or any
other exception) escaping would break that contract, and pydantic's own text repeats
the input, which may be an ID number or a phone. So for every command class,
Hypothesis replaces one or more fields (top level or nested) of a valid baseline with
junk and checks: success or ``InvalidInput``; the error names a real field path of the
command, related to what was replaced; its message never repeats a bad value of 4
characters or more. Second half: a *valid* command that a rule refuses writes
nothing to the application's log.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis_profiles import profile, scaled
from pydantic import BaseModel, ValidationError

from healthcard import HealthCardApp
from healthcard import commands as commands_module
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CheckInWithQr,
    Command,
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
from healthcard.domain.boundary import BoundaryModel
from healthcard.domain.errors import HealthCardError, InvalidInput, TokenRejected
from healthcard.domain.identity import IdentityDocument
from healthcard.adapters.persistence import memory_env
from healthcard.adapters.clock import FakeClock

RESIDENT_ID = "11010519491231002X"  # female, born 1949-12-31
OTHER_RESIDENT_ID = "510104199003150023"  # female, born 1990-03-15
AUDIT: dict[str, Any] = {
    "actor": "staff-001",
    "channel": "window",
    "institution": "H510100001",
    "correlation_id": "0b7c1f3e-2a4d-4d5e-8f60-718293a4b5c6",
}
CARD_ID = "3f2b8c1d-0e4a-4b6c-9d7e-1a2b3c4d5e6f"
SESSION_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
APPOINTMENT_ID = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
DOCUMENT: dict[str, Any] = {"type": "01", "number": RESIDENT_ID}
PHONE_ACCOUNT: dict[str, Any] = {"kind": "phone", "identifier": "13800138000"}

BASELINES: dict[type[BaseModel], dict[str, Any]] = {
    AccountRef: PHONE_ACCOUNT,
    RegisterCard: {
        "audit": AUDIT,
        "name": "王芳",
        "issuer_mode": "production",
        "phone": "13800138000",
        "photo": {"sha256": "ab" * 32, "ref": "blob://photos/0001"},
        "volunteer": "vol-007",
        "idempotency_key": "register-0001",
    },
    CompleteIdentity: {
        "audit": AUDIT,
        "card_id": CARD_ID,
        "document": DOCUMENT,
        "name": "王芳",
        "sex": "2",
        "birth_date": "1949-12-31",
    },
    BindCard: {"audit": AUDIT, "card_id": CARD_ID, "account": PHONE_ACCOUNT, "relation": "01"},
    UnbindCard: {"audit": AUDIT, "card_id": CARD_ID, "account": PHONE_ACCOUNT},
    PublishSession: {
        "audit": AUDIT,
        "department": "pediatrics",
        "doctor": "dr-li-01",
        "day": "2026-11-26",
        "period": "morning",
        "capacity": 3,
    },
    MakeAppointment: {
        "audit": AUDIT,
        "session_id": SESSION_ID,
        "card_id": CARD_ID,
        "idempotency_key": "book-0001",
    },
    CancelAppointment: {
        "audit": AUDIT,
        "session_id": SESSION_ID,
        "appointment_id": APPOINTMENT_ID,
        "reason": "patient_request",
    },
    CheckInWithDocument: {"audit": AUDIT, "session_id": SESSION_ID, "document": DOCUMENT},
    FreezeCard: {"audit": AUDIT, "card_id": CARD_ID, "reason": "lost_phone"},
    UnfreezeCard: {"audit": AUDIT, "card_id": CARD_ID},
    CancelCard: {"audit": AUDIT, "card_id": CARD_ID, "reason": "duplicate"},
    ErasePersonalData: {"audit": AUDIT, "card_id": CARD_ID, "reason": "pipl_art47_request"},
    IssueToken: {
        "audit": AUDIT,
        "card_id": CARD_ID,
        "account": PHONE_ACCOUNT,
        "use": "triage",
        "lifetime_seconds": 60,
    },
    CheckInWithQr: {"audit": AUDIT, "session_id": SESSION_ID, "token": "EH1:6BFOXN*TS0BI$ZD"},
    UseCard: {"audit": AUDIT, "token": "EH1:6BFOXN*TS0BI$ZD", "step": "010102"},
}

MISSING = object()
"""Sentinel value: the field is removed from the input."""


def boundary_classes() -> set[type[BaseModel]]:
    """Every validated input class defined in ``healthcard.commands`` (commands and refs)."""
    return {
        obj
        for obj in vars(commands_module).values()
        if isinstance(obj, type)
        and issubclass(obj, BoundaryModel)
        and obj.__module__ == commands_module.__name__
        and obj is not Command
    }


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (``X``, ``X | None``, ``Annotated[X, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType or origin is typing.Annotated:
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
    return found


def field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted paths of every field of ``model``, nested models included."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.add(path)
        for nested in _models_in(info.annotation):
            paths |= field_paths(nested, f"{path}.")
    return paths


def replaceable_paths(baseline: dict[str, Any]) -> list[str]:
    """Top-level keys of a baseline and the keys of its nested dicts."""
    paths: list[str] = []
    for key, value in baseline.items():
        paths.append(key)
        if isinstance(value, dict):
            paths.extend(f"{key}.{sub}" for sub in value)
    return sorted(paths)


def with_replacements(baseline: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(baseline)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target: Any = data
        for part in parents:
            if not isinstance(target.get(part), dict):
                break  # an earlier change replaced the parent itself: nothing to reach
            target = target[part]
        else:
            if value is MISSING:
                target.pop(leaf, None)
            else:
                target[leaf] = value
    return data


def related(field: str, path: str) -> bool:
    """``field`` is ``path``, one of its parents, or one of its children."""
    return field == path or path.startswith(f"{field}.") or field.startswith(f"{path}.")


# -- junk ---------------------------------------------------------------------------------

control_chars = st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"])
junk_text = st.one_of(
    st.text(max_size=24),
    st.text(alphabet=control_chars, min_size=1, max_size=12),
    st.text(min_size=1, max_size=6).map(lambda s: s * 700),  # very long
    st.text(alphabet="0123456789X", min_size=15, max_size=20),  # ID-number shaped
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),  # phone shaped
    st.sampled_from(["2026-02-30", "2026-13-01", "0000-00-00", "1949-12-32", "yesterday"]),
    st.sampled_from(["phone", "wechat", "01", "99", "morning", "kiosk", "production"]),
)
junk: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.just(MISSING),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    junk_text,
    st.binary(max_size=24),
    st.uuids(),
    st.dates(),
    st.datetimes(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["kind", "type", "number", "actor", "x"]), junk_text),
)


def secret_strings(value: Any) -> list[str]:
    """Textual forms of a bad value that must not appear in an error message."""
    if isinstance(value, bool) or value is MISSING or value is None:
        return []
    if isinstance(value, str | int):
        text = str(value)
        return [text] if len(text) >= 4 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in secret_strings(v)]
    return []


def _disguise(text: str) -> str:
    """Same length and kinds of characters, other characters (to tell echo from chance)."""
    out = []
    for char in text:
        if char.isdigit() and char.isascii():
            out.append(str((int(char) + 3) % 10))
        elif char.isascii() and char.isalpha():
            base = ord("a") if char.islower() else ord("A")
            out.append(chr(base + (ord(char) - base + 7) % 26))
        elif char.isalpha() and chr(ord(char) + 1).isalpha():
            out.append(chr(ord(char) + 1))  # a neighbouring letter (CJK stays CJK)
        else:
            out.append(char)
    return "".join(out)


def echoed(
    cls: type[BaseModel], baseline: dict[str, Any], changes: dict[str, Any], secret: str
) -> bool:
    """True when the message repeats ``secret`` because it is the input, not by chance.

    A coincidence (``"0000"`` inside ``"10000"``) disappears when the input is disguised;
    an echo follows the input. Text without letters or digits (``"', '"``) cannot be
    disguised, and is no personal data: it is not counted.
    """
    other = _disguise(secret)
    if other == secret:
        return False
    disguised = {
        path: (v.replace(secret, other) if isinstance(v, str) else v) for path, v in changes.items()
    }
    error = refusal_of(lambda: cls(**with_replacements(baseline, disguised)))
    return error is not None and (other in error.message or other in str(error))


def refusal_of(build: Callable[[], object]) -> InvalidInput | None:
    """The ``InvalidInput`` that ``build`` raises, if any; any other exception
    (``ValidationError``, ``TypeError``...) propagates and fails the test."""
    try:
        build()
    except InvalidInput as exc:
        return exc
    return None


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[type[BaseModel], dict[str, Any]]:
    cls = draw(st.sampled_from(sorted(BASELINES, key=lambda c: c.__name__)))
    paths = draw(
        st.lists(st.sampled_from(replaceable_paths(BASELINES[cls])), min_size=1, max_size=3)
    )
    return cls, {path: draw(junk) for path in paths}


# -- tests of the test's own tables ----------------------------------------------------


def test_every_boundary_class_has_a_valid_baseline() -> None:
    assert set(BASELINES) == boundary_classes(), "add a baseline for each new command"
    for cls, baseline in BASELINES.items():
        built = cls(**copy.deepcopy(baseline))
        assert set(field_paths(cls)) >= set(replaceable_paths(baseline))
        assert isinstance(built, BoundaryModel)


def test_field_paths_know_nested_fields() -> None:
    paths = field_paths(RegisterCard)
    assert {"audit.actor", "photo.sha256", "photo.ref", "name"} <= paths
    assert "document.number" in field_paths(CompleteIdentity)
    assert "account.identifier" in field_paths(BindCard)


# -- fuzzing -----------------------------------------------------------------------------


@settings(profile(), max_examples=scaled(400))
@given(corrupted())
def test_bad_fields_raise_only_invalid_input(case: tuple[type[BaseModel], dict[str, Any]]) -> None:
    cls, changes = case
    baseline = BASELINES[cls]
    data = with_replacements(baseline, changes)
    note(f"{cls.__name__} with {sorted(changes)}")
    for build in (lambda: cls(**data), lambda: cls.model_validate(data)):
        error = refusal_of(build)
        if error is None:
            continue  # the junk happened to be valid
        assert not isinstance(error, ValidationError)
        assert error.field in field_paths(cls), f"{error.field!r} is no field of {cls.__name__}"
        assert any(related(error.field, path) for path in changes), (error.field, sorted(changes))
        assert error.code == "invalid_input"
        for secret in (s for v in changes.values() for s in secret_strings(v)):
            if secret in error.message or secret in str(error):
                assert not echoed(cls, baseline, changes, secret), "bad input echoed"


@settings(profile(), max_examples=scaled(60))
@given(
    st.sampled_from(sorted(BASELINES, key=lambda c: c.__name__)),
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    junk,
)
def test_unknown_fields_are_invalid_input(cls: type[BaseModel], key: str, value: Any) -> None:
    """``extra="forbid"``: a misspelt field is refused, not ignored."""
    if key in cls.model_fields or value is MISSING:
        return
    data = {**copy.deepcopy(BASELINES[cls]), key: value}
    with pytest.raises(InvalidInput) as excinfo:
        cls(**data)
    assert excinfo.value.field == key


@pytest.mark.parametrize(
    ("cls", "path", "value"),
    [
        (CompleteIdentity, "document.number", "11010519491231002Y"),  # bad checksum
        (CompleteIdentity, "document.number", "110105194912310"),  # too short
        (CheckInWithDocument, "document.number", "510104199003150025"),
        (BindCard, "account.identifier", "+8613800138000000"),
        (RegisterCard, "phone", "13800138"),
        (RegisterCard, "photo.ref", "blob://photos/a b c"),
        (CompleteIdentity, "audit.actor", "张三 the actor"),
    ],
)
def test_personal_values_are_never_echoed(cls: type[BaseModel], path: str, value: str) -> None:
    """Known-bad personal values: the error names the field and never repeats the value."""
    with pytest.raises(InvalidInput) as excinfo:
        cls(**with_replacements(BASELINES[cls], {path: value}))
    assert related(excinfo.value.field or "", path)
    assert value not in str(excinfo.value)
    assert value not in repr(excinfo.value.to_dict())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "01", "number": "11010519491231002Y"}, "number"),
        ({"type": "42", "number": "11010519491231002X"}, "type"),
    ],
)
def test_value_objects_alone_raise_invalid_input(data: dict[str, Any], field: str) -> None:
    """Value objects built directly (``app.find_card_by_document(IdentityDocument(...))``)."""
    with pytest.raises(InvalidInput) as excinfo:
        IdentityDocument(**data)
    assert excinfo.value.field == field
    assert data["number"] not in str(excinfo.value)


# -- valid but refused: nothing written ------------------------------------------------------


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


@settings(profile(), max_examples=scaled(40))
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
