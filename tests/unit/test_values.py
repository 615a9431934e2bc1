"""Value objects at the boundary: identity documents, CN mobiles, names, commands.

Why these matter: a value object that exists is valid, so the aggregates never
re-check shapes. Every refusal must be ``InvalidInput`` with code ``invalid_input``,
name the field, and never repeat the input (an ID number or phone in an exception
message ends up in logs).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CompleteIdentity,
    MakeAppointment,
    PublishSession,
    RegisterCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.errors import InvalidInput
from healthcard.domain.identity import (
    DocumentType,
    IdentityDocument,
    Sex,
    resident_id_birth_date,
    resident_id_sex,
)
from healthcard.domain.identity import with_check_character as with_check_digit
from healthcard.domain.phone import normalise_cn_mobile, parsed_cn_mobile

AUDIT = {"actor": "staff-001", "channel": "window", "institution": "H510100001"}
KNOWN_AREAS = ["110105", "310104", "440305", "510104", "510107"]  # Beijing, Shanghai, ...


def resident_ids(
    areas: list[str] = KNOWN_AREAS, first: date = date(1900, 1, 1)
) -> st.SearchStrategy[str]:
    return st.builds(
        lambda area, born, seq: with_check_digit(f"{area}{born:%Y%m%d}{seq:03d}"),
        st.sampled_from(areas),
        st.dates(min_value=first, max_value=date(2025, 12, 31)),
        st.integers(min_value=0, max_value=999),
    )


def invalid(make: Callable[[], Any], *secrets: str) -> InvalidInput:
    """Expect ``InvalidInput`` whose message, reason and dict never contain ``secrets``."""
    with pytest.raises(InvalidInput) as excinfo:
        make()
    error = excinfo.value
    assert error.code == "invalid_input"
    assert error.field
    visible = " ".join([str(error), repr(error), error.reason, str(error.to_dict())])
    for secret in secrets:
        assert secret not in visible
        assert secret.strip().upper() not in visible.upper()
    # The pydantic error (which holds the input) must not be chained for tracebacks.
    assert error.__cause__ is None
    assert error.__suppress_context__
    return error


def resident(number: str) -> IdentityDocument:
    return IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)


# ---------------------------------------------------------------- resident IDs


def test_the_reference_resident_id_is_valid() -> None:
    doc = resident("11010519491231002X")
    assert doc.number == "11010519491231002X"
    assert resident_id_birth_date(doc.number) == date(1949, 12, 31)
    assert resident_id_sex(doc.number) is Sex.FEMALE
    assert doc.key() == "01|11010519491231002X"


@pytest.mark.parametrize("spelling", ["11010519491231002x", " 110105 19491231 002X "])
def test_resident_ids_are_canonicalised(spelling: str) -> None:
    doc = resident(spelling)
    assert doc.number == "11010519491231002X"
    assert doc == resident("11010519491231002X")


@given(resident_ids())
def test_generated_resident_ids_are_valid_and_carry_birth_date_and_sex(number: str) -> None:
    doc = resident(number)
    assert doc.number == number
    born = resident_id_birth_date(number)
    assert f"{born:%Y%m%d}" == number[6:14]
    expected_sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
    assert resident_id_sex(number) is expected_sex


@given(resident_ids(), st.sampled_from("0123456789X"))
def test_a_wrong_check_character_is_refused(number: str, check: str) -> None:
    if check == number[-1]:
        check = "1" if check == "0" else "0"
    wrong = number[:-1] + check
    error = invalid(lambda: resident(wrong), wrong)
    assert error.field == "number"
    assert "checksum" in error.reason


@pytest.mark.parametrize("birth", ["19491331", "19490230", "19490000"])
def test_an_impossible_birth_date_is_refused(birth: str) -> None:
    number = with_check_digit(f"110105{birth}002")
    error = invalid(lambda: resident(number), number)
    assert "birth date" in error.reason


def test_an_unknown_area_code_is_refused() -> None:
    number = with_check_digit("00000019800101002")
    invalid(lambda: resident(number), number)


@given(resident_ids(areas=["911156", "931840", "944392"]))
def test_foreign_permanent_residence_ids_are_accepted(number: str) -> None:
    # 2023 format: first digit 9, then a province and a nationality code, no area code.
    assert resident(number).number == number


def test_a_resident_id_born_before_its_district_existed_is_accepted() -> None:
    # 510104 (Jinjiang, Chengdu) postdates 1950; people born then still live there.
    number = with_check_digit("51010419500101002")
    assert resident(number).number == number


@pytest.mark.parametrize(
    "number",
    ["1101051949123100", "11010519491231002XX", "1101051949123100AX", "", "X" * 18],
)
def test_malformed_resident_ids_are_refused(number: str) -> None:
    invalid(lambda: resident(number), *([number] if number else []))


# ------------------------------------------------------------ other documents


@pytest.mark.parametrize(
    ("doc_type", "given_number", "canonical"),
    [
        (DocumentType.PASSPORT, "E12345678", "E12345678"),
        (DocumentType.PASSPORT, "e1234 5678", "E12345678"),
        (DocumentType.HK_MACAU_PERMIT, "H12345678", "H12345678"),
        (DocumentType.HK_MACAU_PERMIT, "m1234567801", "M1234567801"),
        (DocumentType.TAIWAN_PERMIT, "12345678", "12345678"),
        (DocumentType.HOUSEHOLD_REGISTER, "ABC123", "ABC123"),
        (DocumentType.OFFICER_ID, "JUN2019001", "JUN2019001"),
        (DocumentType.DRIVING_LICENCE, "510104198001011236", "510104198001011236"),
        (DocumentType.OTHER, "X9Y8Z7", "X9Y8Z7"),
    ],
)
def test_other_document_types(doc_type: DocumentType, given_number: str, canonical: str) -> None:
    doc = IdentityDocument(type=doc_type, number=given_number)
    assert doc.number == canonical
    assert doc.key() == f"{doc_type.value}|{canonical}"


@pytest.mark.parametrize(
    ("doc_type", "number"),
    [
        (DocumentType.PASSPORT, "E12"),
        (DocumentType.PASSPORT, "E1234567890123456789"),
        (DocumentType.PASSPORT, "E123-45678"),
        (DocumentType.HK_MACAU_PERMIT, "X12345678"),
        (DocumentType.TAIWAN_PERMIT, "1234567"),
        (DocumentType.OTHER, "A1"),
        (DocumentType.HOUSEHOLD_REGISTER, "户口123456"),
    ],
)
def test_other_document_numbers_are_checked(doc_type: DocumentType, number: str) -> None:
    invalid(lambda: IdentityDocument(type=doc_type, number=number), number)


def test_an_unknown_document_type_is_refused() -> None:
    error = invalid(lambda: IdentityDocument.model_validate({"type": "08", "number": "E1234567"}))
    assert error.field == "type"


def test_the_document_type_is_part_of_the_key() -> None:
    passport = IdentityDocument(type=DocumentType.PASSPORT, number="E12345678")
    other = IdentityDocument(type=DocumentType.OTHER, number="E12345678")
    assert passport.key() != other.key()


# ------------------------------------------------------------------ CN mobiles


@pytest.mark.parametrize(
    "spelling",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "008613812345678"],
)
def test_cn_mobiles_are_normalised_to_e164(spelling: str) -> None:
    assert normalise_cn_mobile(spelling) == "+8613812345678"
    assert RegisterCard(audit=AUDIT, name="王芳", phone=spelling).phone == "+8613812345678"
    ref = AccountRef(kind="phone", identifier=spelling)
    assert ref.identifier == "+8613812345678"


@pytest.mark.parametrize(
    "number",
    ["01012345678", "+12025550123", "1381234567", "138123456789", "call me maybe", "1" * 40],
)
def test_non_cn_mobiles_are_refused(number: str) -> None:
    error = invalid(lambda: RegisterCard(audit=AUDIT, name="王芳", phone=number), number)
    assert error.field == "phone"
    error = invalid(lambda: AccountRef(kind="phone", identifier=number), number)
    assert error.field == "identifier"
    error = invalid(
        lambda: BindCard(
            audit=AUDIT, card_id=uuid4(), account={"kind": "phone", "identifier": number}
        ),
        number,
    )
    # How nested paths are spelt is tested in test_bad_input.py; here: the right field.
    assert error.field in {"account", "account.identifier", "identifier"}
    with pytest.raises(ValueError, match=r"number|phone") as excinfo:
        normalise_cn_mobile(number)
    assert number not in str(excinfo.value)


def _either(normalise: Callable[[str], str], value: str) -> str:
    try:
        return normalise(value)
    except ValueError:
        return "refused"


@given(
    st.sampled_from(["", "+86"]),
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
)
def test_the_fast_path_agrees_with_phonenumbers(prefix: str, number: str) -> None:
    """Every 11-digit number, bare or after +86: the pattern fast path and a full parse
    give the same E.164 form, or both refuse."""
    value = prefix + number
    assert _either(normalise_cn_mobile, value) == _either(parsed_cn_mobile, value)


@pytest.mark.parametrize("first3", [f"1{d:02d}" for d in range(100)])
def test_the_fast_path_agrees_on_every_three_digit_prefix(first3: str) -> None:
    for rest in ("00000000", "12345678", "99999999", "50123456"):
        value = first3 + rest
        assert _either(normalise_cn_mobile, value) == _either(parsed_cn_mobile, value)


def test_a_wechat_open_id_is_kept_as_given() -> None:
    assert AccountRef(kind="wechat", identifier="oWx_ab-12C").identifier == "oWx_ab-12C"


@pytest.mark.parametrize("bad", ["short", "has space 123", "中文的开放标识符号", "x" * 65])
def test_malformed_wechat_open_ids_are_refused(bad: str) -> None:
    invalid(lambda: AccountRef(kind="wechat", identifier=bad), bad)


# ----------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    ["王芳", "阿依古丽·买买提", "欧阳 娜娜", "John O'Brien-Smith", "Dr. Zhang", "Zoë Müller"],
)
def test_names_are_accepted(name: str) -> None:
    assert RegisterCard(audit=AUDIT, name=name).name == name


def test_names_are_trimmed_and_nfc_normalised() -> None:
    assert RegisterCard(audit=AUDIT, name="  Zoe\u0308 ").name == "Zoë"


@pytest.mark.parametrize(
    "name",
    [
        "王\x00芳",
        "王\n芳",
        "王\t芳",
        "王\u202e芳",
        "王\u200b芳",
        "Zhang3",
        "王芳!",
        "",
        "   ",
        "王" * 51,
    ],
)
def test_names_with_control_characters_digits_or_bad_length_are_refused(name: str) -> None:
    error = invalid(lambda: RegisterCard(audit=AUDIT, name=name), *([name] if name.strip() else []))
    assert error.field == "name"


# ------------------------------------------------------- commands at the boundary


def test_complete_identity_refuses_a_bad_document_without_echoing_it() -> None:
    bad = "11010519491231002Y"
    error = invalid(
        lambda: CompleteIdentity(
            audit=AUDIT,
            card_id=uuid4(),
            document={"type": "01", "number": bad},
            name="王芳",
            sex="2",
            birth_date="1949-12-31",
        ),
        bad,
    )
    assert error.field in {"document", "document.number", "number"}


def test_commands_are_frozen_and_refuse_unknown_fields() -> None:
    error = invalid(lambda: RegisterCard(audit=AUDIT, name="王芳", nickname="x"))  # type: ignore[call-arg]
    assert error.field == "nickname"
    command = RegisterCard(audit=AUDIT, name="王芳")
    with pytest.raises(Exception, match="frozen"):
        command.name = "李雷"  # type: ignore[misc]


@pytest.mark.parametrize("capacity", [0, -1, 10_001])
def test_session_capacity_is_bounded(capacity: int) -> None:
    error = invalid(
        lambda: PublishSession(
            audit=AUDIT,
            department="cardiology",
            doctor="dr-0042",
            day=date.today() + timedelta(days=1),
            period="morning",
            capacity=capacity,
        )
    )
    assert error.field == "capacity"


@pytest.mark.parametrize("key", ["", "has space", "中文", "k" * 129])
def test_idempotency_keys_are_printable_ascii(key: str) -> None:
    error = invalid(
        lambda: MakeAppointment(
            audit=AUDIT, session_id=uuid4(), card_id=uuid4(), idempotency_key=key
        )
    )
    assert error.field == "idempotency_key"


@pytest.mark.parametrize("actor", ["", "two words", "a" * 65, "x;drop"])
def test_audit_codes_are_identifiers_not_free_text(actor: str) -> None:
    error = invalid(lambda: Audit(actor=actor, channel=Channel.WINDOW, institution="H1"))
    assert error.field == "actor"


def test_audit_channels_are_a_closed_list() -> None:
    error = invalid(lambda: Audit.model_validate({**AUDIT, "channel": "fax"}))
    assert error.field == "channel"
