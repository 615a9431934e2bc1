"""Masking of names, document numbers, phones and accounts for display, the k rules of
a masked export, and keyed-hash ids hidden from every masked state."""

from __future__ import annotations

import string
import unicodedata
from datetime import date, timedelta
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from healthcard.adapters.privacy.masking import (
    EXPORT_AREA_DIGITS,
    MASK,
    age_band,
    export_document_number,
    keyed_id_fields,
    mask_account,
    mask_document_number,
    mask_export_state,
    mask_name,
    mask_open_id,
    mask_phone,
    mask_state,
    originator_is_keyed,
)
from healthcard.domain.card_values import AccountKind
from healthcard.domain.events.account import AccountOpened, CardAdded
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import (
    Bound,
    CardUsed,
    IdentityCompleted,
    Registered,
    TokenAccepted,
    Unbound,
)
from healthcard.domain.events.document import DocumentClaimed, DocumentReleased
from healthcard.domain.events.session import AppointmentMade, CheckedIn, SessionPublished
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


# -- the k rules of a masked export ----------------------------------------------------

ON = date(2026, 11, 25)


def _completed(number: str, born: date, document_type: str = "01") -> dict[str, object]:
    return {
        "document": {"type": document_type, "number": number},
        "name": "欧阳娜娜",
        "sex": "2",
        "birth_date": born.isoformat(),
        "verified_by": "C510107012",
        "main_index_id": "A1" * 32,
        "ehc_id": "B2" * 32,
    }


def test_an_export_stars_names_phones_photos_and_national_ids_entirely() -> None:
    registered = {
        "issuer_mode": "production",
        "name": "欧阳娜娜",
        "phone": "+8613812345678",
        "photo": {"sha256": "ab" * 32, "ref": "blob:photos/ab"},
        "volunteer": "vol-001",
    }
    assert mask_export_state(Registered, registered, on=ON) == {
        "issuer_mode": "production",
        "name": "***",
        "phone": "***",
        "photo": {"sha256": "***", "ref": "***"},
        "volunteer": "vol-001",
    }
    masked = mask_export_state(
        IdentityCompleted, _completed(RESIDENT_ID, date(1949, 12, 31)), on=ON
    )
    assert masked == {
        "document": {"type": "01", "number": "11" + MASK * 16},
        "name": "***",
        "sex": "2",
        "birth_date": "****-**-**",
        "verified_by": "C510107012",
        "main_index_id": "***",
        "ehc_id": "***",
        "age_band": "18+",
    }
    opened = {"kind": "phone", "identifier": "+8613812345678"}
    assert mask_export_state(AccountOpened, opened, on=ON)["identifier"] == "***"


@given(st.dates(date(1900, 1, 1), ON), st.integers(0, 999))
def test_an_export_keeps_only_the_province_of_a_resident_id_and_no_year(
    born: date, order: int
) -> None:
    number = with_check_character(f"510107{born:%Y%m%d}{order:03d}")
    masked = mask_export_state(IdentityCompleted, _completed(number, born), on=ON)
    assert masked["document"]["number"] == number[:EXPORT_AREA_DIGITS] + MASK * 16
    assert str(born.year) not in repr(masked)


def test_an_export_shows_nothing_of_another_document_number() -> None:
    assert export_document_number("03", "E12345678") == "***"
    assert export_document_number("06", "H12345678") == "***"
    assert export_document_number("01", "1101051949") == "***"  # not a whole resident ID


def test_the_age_band_turns_on_the_eighteenth_birthday() -> None:
    born = date(2008, 11, 25)
    assert age_band(born, ON - timedelta(days=1)) == "0-17"
    assert age_band(born, ON) == "18+"
    assert age_band(date(2026, 11, 25), ON) == "0-17"


def test_erased_values_stay_placeholders_in_an_export() -> None:
    erased = _completed("[erased]", date.min, document_type="99")
    erased["name"] = "[erased]"
    masked = mask_export_state(IdentityCompleted, erased, on=ON)
    assert masked["document"] == {"type": "99", "number": "[erased]"}
    assert masked["name"] == "[erased]"
    assert masked["age_band"] is None


def test_relations_are_starred_in_an_export_and_kept_at_a_desk() -> None:
    bound = {"account_id": str(uuid4()), "relation": "52"}
    assert mask_export_state(Bound, bound, on=ON) == {"account_id": None, "relation": "***"}
    assert mask_state(Bound, bound) == {"account_id": None, "relation": "52"}
    added = {"card_id": str(uuid4()), "relation": "20"}
    assert mask_export_state(CardAdded, added, on=ON)["relation"] == "***"


# -- keyed-hash ids -------------------------------------------------------------------


def test_keyed_hash_ids_are_hidden_from_every_masked_state() -> None:
    for event_class in (Bound, Unbound, TokenAccepted, CardUsed):
        assert keyed_id_fields(event_class) == {"account_id"}, event_class
    for event_class in (CardAdded, DocumentClaimed, AppointmentMade, CheckedIn, Registered):
        assert keyed_id_fields(event_class) == frozenset(), event_class
    assert mask_state(Unbound, {"account_id": str(uuid4())}) == {"account_id": None}
    used = {"step": "010102", "account_id": str(uuid4()), "token_nonce": "00" * 8}
    assert mask_state(CardUsed, used) == {**used, "account_id": None}


def test_desk_masks_show_nothing_of_the_national_ids() -> None:
    masked = mask_state(IdentityCompleted, _completed(RESIDENT_ID, date(1949, 12, 31)))
    assert (masked["main_index_id"], masked["ehc_id"]) == ("***", "***")


def test_only_cards_and_sessions_have_ids_that_are_not_keyed_hashes() -> None:
    for event_class in (DocumentClaimed, DocumentReleased, AccountOpened, CardAdded):
        assert originator_is_keyed(event_class), event_class
    for event_class in (Registered, Bound, SessionPublished, AppointmentMade, CheckedIn):
        assert not originator_is_keyed(event_class), event_class


def test_a_new_id_field_or_aggregate_is_hidden_until_declared_pseudonymous() -> None:
    class HouseholdFormed(DomainEvent):  # no TOPIC: never registered
        household_id: UUID
        card_id: UUID
        members: int

    assert keyed_id_fields(HouseholdFormed) == {"household_id"}
    assert originator_is_keyed(HouseholdFormed)
