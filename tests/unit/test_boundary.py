"""Bad input at the boundary: every command refuses garbage with ``InvalidInput`` only.

Why: commands are the library's boundary. An embedding app catches one error family
(``HealthCardError``) and maps it by ``code``; a ``pydantic.ValidationError`` (or any
other exception) escaping would break that contract, and pydantic's own text repeats
the input, which may be an ID number or a phone. So for every command class,
Hypothesis replaces one or more fields (top level or nested) of a valid baseline with
junk and checks: success or ``InvalidInput``; the error names a real field path of the
command, related to what was replaced; its message never repeats a bad value of 4
characters or more. That a *valid* command refused by a rule writes nothing is
``tests/integration/test_refusals.py``.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from healthcard.application import commands as commands_module
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
from healthcard.domain.boundary import BoundaryModel
from healthcard.domain.errors import InvalidInput
from healthcard.domain.identity import IdentityDocument
from healthcard.testing.profiles import property_settings, scaled

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


@settings(property_settings(), max_examples=scaled(400))
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


@settings(property_settings(), max_examples=scaled(60))
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
