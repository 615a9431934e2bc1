"""Masking of names, document numbers, phones and accounts for display."""

from __future__ import annotations

import string
import unicodedata
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from healthcard.adapters.privacy.masking import (
    MASK,
    mask_account,
    mask_document_number,
    mask_name,
    mask_open_id,
    mask_phone,
)
from healthcard.domain.card_values import AccountKind
from healthcard.domain.identity import with_check_character
from healthcard.domain.phone import normalise_cn_mobile

RESIDENT_ID = "11010519491231002X"
NO_STARS = st.characters(blacklist_characters=MASK, blacklist_categories=("Cs", "Z", "C"))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _shown(masked: str) -> int:
    return sum(1 for char in masked if char != MASK)


# -- names ---------------------------------------------------------------------------


def test_name_keeps_only_the_family_name_character() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("王小明") == "王**"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("  李雷 ") == "李*"


def test_one_character_name_is_hidden_entirely() -> None:
    assert mask_name("张") == "*"
    assert mask_name("") == ""


@given(st.text(NO_STARS, min_size=2, max_size=50).filter(lambda text: len(_nfc(text)) >= 2))
def test_masked_name_shows_one_character_and_keeps_length(name: str) -> None:
    masked = mask_name(name)
    canonical = _nfc(name)  # as names are stored (PersonName normalises to NFC)
    assert masked[0] == canonical[0]
    assert len(masked) == len(canonical)
    assert _shown(masked) == 1
    assert masked != name


# -- document numbers ----------------------------------------------------------------


def test_resident_id_keeps_first_three_and_last_four() -> None:
    assert mask_document_number(RESIDENT_ID) == "110***********002X"


def test_passport_shows_less_than_half() -> None:
    masked = mask_document_number("E12345678")
    assert masked == "E******78"


def test_very_short_numbers_are_hidden_entirely() -> None:
    assert mask_document_number("AB1") == "***"


@given(st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=30))
def test_masked_document_hides_most_of_any_number(number: str) -> None:
    masked = mask_document_number(number)
    assert len(masked) == len(number)
    assert _shown(masked) * 2 < len(number)
    assert masked != number


@given(st.dates().filter(lambda day: day.year >= 1900), st.integers(0, 999))
def test_resident_id_birth_date_never_shown(born: date, order: int) -> None:
    number = with_check_character(f"510107{born:%Y%m%d}{order:03d}")
    masked = mask_document_number(number)
    assert masked[3:14] == MASK * 11
    assert masked[:3] == number[:3]
    assert masked[14:] == number[14:]


# -- phones and accounts -------------------------------------------------------------


def test_mainland_mobile_in_every_form() -> None:
    for form in ("+8613812345678", "13812345678", "138 1234 5678", "+86 138-1234-5678"):
        assert mask_phone(form) == "138****5678", form


def test_foreign_number_keeps_only_last_digits() -> None:
    assert mask_phone("+4915112345678") == "*" * 9 + "5678"
    assert mask_phone("12") == "**"


@given(st.sampled_from(["138", "139", "150", "186", "199"]), st.integers(0, 10**8 - 1))
def test_masked_mobile_hides_the_middle_four_digits(prefix: str, rest: int) -> None:
    national = f"{prefix}{rest:08d}"
    e164 = normalise_cn_mobile(national)
    masked = mask_phone(e164)
    assert masked == f"{national[:3]}****{national[7:]}"
    assert national not in masked
    assert e164 not in masked


def test_open_id_shows_three_characters_each_side_and_hides_length() -> None:
    open_id = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
    assert mask_open_id(open_id) == "oAb****Yz0"
    assert mask_open_id("short_id") == "********"


def test_account_masking_follows_the_kind() -> None:
    assert mask_account(AccountKind.PHONE, "+8613812345678") == "138****5678"
    assert mask_account(AccountKind.WECHAT, "oAbCdEfGhIjKlMnOpQrStUvWxYz0") == "oAb****Yz0"
