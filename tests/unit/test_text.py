"""Codes are code-shaped; free text never carries an ID number or a phone number;
document numbers are ASCII. Each refusal is ``InvalidInput`` naming the field, and
never repeats the value.

Why: codes (actor, institution, volunteer, doctor) and free text (reasons, department
names) are stored in clear in every event and kept after an erasure, so a name, phone
or ID number typed into one of them would outlive the person's erasure.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthcard.application.commands import (
    CancelAppointment,
    CancelCard,
    CompleteIdentity,
    ErasePersonalData,
    FreezeCard,
    PublishSession,
    RegisterCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.boundary import TRUSTED_CONTEXT
from healthcard.domain.clinic_values import Period
from healthcard.domain.errors import InvalidInput
from healthcard.domain.events.card import Frozen
from healthcard.domain.identity import DocumentType, IdentityDocument
from healthcard.domain.text import contains_personal_number
from healthcard.testing import strategies as hs
from healthcard.testing.profiles import property_settings

AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")
CARD = "3f2b8c1d-0e4a-4b6c-9d7e-1a2b3c4d5e6f"
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def refusal(build: object) -> InvalidInput:
    assert callable(build)
    with pytest.raises(InvalidInput) as excinfo:
        build()
    return excinfo.value


# -- document numbers are ASCII ------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "110105１９４９1２31002X",  # full-width digits in the birth date (0.1.0 let it in)
        "11010519491231002X".translate(FULL_WIDTH),  # full-width digits
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits
        "11010519491231002Ｘ",  # a full-width check character only
    ],
)
def test_a_resident_id_in_other_digits_is_invalid_input_naming_the_field(number: str) -> None:
    error = refusal(lambda: IdentityDocument(type=DocumentType.RESIDENT_ID, number=number))
    assert error.field == "number"
    assert number not in str(error)
    command = refusal(
        lambda: CompleteIdentity(
            audit=AUDIT,
            card_id=CARD,
            document={"type": "01", "number": number},
            name="王芳",
            sex="2",
            birth_date=date(1949, 12, 31),
        )
    )
    assert command.field == "document.number"


def test_other_documents_are_ascii_too() -> None:
    error = refusal(lambda: IdentityDocument(type=DocumentType.PASSPORT, number="Ｅ12345678"))
    assert error.field == "number"


# -- codes ---------------------------------------------------------------------------


@given(hs.invalid_codes())
def test_codes_refuse_what_is_not_code_shaped(value: str) -> None:
    error = refusal(lambda: Audit(actor=value, channel=Channel.WINDOW, institution="H1"))
    assert error.field == "actor"
    assert value not in str(error)
    doctor = refusal(
        lambda: PublishSession(
            audit=AUDIT,
            department="内科",
            doctor=value,
            day=date(2026, 11, 26),
            period=Period.MORNING,
            capacity=3,
        )
    )
    assert doctor.field == "doctor"
    assert refusal(lambda: RegisterCard(audit=AUDIT, name="王芳", volunteer=value)).field == (
        "volunteer"
    )


@given(hs.codes())
def test_generated_codes_are_accepted(value: str) -> None:
    assert Audit(actor=value, channel=Channel.WINDOW, institution=value).actor == value


# -- free text -------------------------------------------------------------------------


@given(hs.free_texts())
def test_free_text_in_any_script_is_accepted(text: str) -> None:
    session = PublishSession(
        audit=AUDIT,
        department=text,
        doctor="dr-li",
        day=date(2026, 11, 26),
        period=Period.MORNING,
        capacity=3,
    )
    assert session.department == text.strip()
    assert FreezeCard(audit=AUDIT, card_id=CARD, reason=text).reason == text.strip()


@property_settings()
@given(hs.texts_with_personal_numbers())
def test_free_text_refuses_id_and_phone_numbers_however_written(text: str) -> None:
    assert contains_personal_number(text)
    builders = {
        "reason": [
            lambda: FreezeCard(audit=AUDIT, card_id=CARD, reason=text),
            lambda: CancelCard(audit=AUDIT, card_id=CARD, reason=text),
            lambda: ErasePersonalData(audit=AUDIT, card_id=CARD, reason=text),
            lambda: CancelAppointment(
                audit=AUDIT, session_id=CARD, appointment_id=CARD, reason=text
            ),
        ],
        "department": [
            lambda: PublishSession(
                audit=AUDIT,
                department=text,
                doctor="dr-li",
                day=date(2026, 11, 26),
                period=Period.MORNING,
                capacity=3,
            )
        ],
    }
    for field, builds in builders.items():
        for build in builds:
            error = refusal(build)
            assert error.field == field
            assert text not in str(error)


@pytest.mark.parametrize(
    "text",
    [
        "call 138 1234 5678",
        "+86-138-1234-5678",
        "手机１３８１２３４５６７８",
        "身份证 110105 19491231 002x",
        "11010519491231002X",
    ],
)
def test_examples_of_personal_numbers_are_found(text: str) -> None:
    assert contains_personal_number(text)


@pytest.mark.parametrize(
    "text",
    ["心血管内科", "duplicate record", "order 2026112500000001", "room 12345678901", "2026-11-25"],
)
def test_numbers_that_are_neither_are_kept(text: str) -> None:
    assert not contains_personal_number(text)


def test_free_text_refuses_control_characters() -> None:
    assert refusal(lambda: FreezeCard(audit=AUDIT, card_id=CARD, reason="a\x00b")).field == (
        "reason"
    )


@given(st.sampled_from(["lost phone 13812345678", "ab@cd/[x]"]))
def test_stored_events_decode_whatever_the_rule_says_today(value: str) -> None:
    """The checks run at the boundary: an event stored before a rule tightened still
    decodes (the trusted context of stored events)."""
    event = Frozen.model_validate(
        {
            "originator_id": CARD,
            "originator_version": 2,
            "timestamp": "2026-11-25T08:00:00+08:00",
            "audit": {"actor": "old@actor/1", "channel": "window", "institution": "H1"},
            "reason": value,
        },
        context=TRUSTED_CONTEXT,
    )
    assert event.reason == value
    assert event.audit.actor == "old@actor/1"
