"""The national QR text: static ``<EHCID>:1`` and dynamic ``<EHCID>:0:<validity>``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthcard.adapters.national_ids import (
    TEST_INDEX_KEY,
    TEST_ROOT_KEY,
    ehc_id,
    main_index_id,
    sm4_ecb_decrypt,
)
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import TokenRejected, TokenRejectReason
from healthcard.qr import national_qr

KEY = national_qr.TEST_PROTECTION_KEY
OTHER_KEY = bytes(range(16))
EHC_ID = ehc_id(
    main_index_id("01", "11010519491231002X", TEST_INDEX_KEY),
    TEST_ROOT_KEY,
    "01",
    "11010519491231002X",
)
UNTIL = datetime(2026, 11, 25, 8, 1, 0, tzinfo=CHINA_TZ)

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(CHINA_TZ)
).map(lambda t: t.replace(microsecond=0))


def test_static_text() -> None:
    text = national_qr.static_text(EHC_ID)
    assert text == f"{EHC_ID}:1"
    assert national_qr.parse(text, KEY) == national_qr.NationalQr(EHC_ID)
    assert not national_qr.parse(text, KEY).dynamic


def test_dynamic_validity_is_sm4_of_the_china_time() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL.astimezone(UTC), KEY)
    ehc, mark, validity = text.split(":")
    assert (ehc, mark, len(validity)) == (EHC_ID, "0", 32)
    assert validity == validity.upper()
    assert sm4_ecb_decrypt(KEY, bytes.fromhex(validity)) == b"20261125080100\x00\x00"


@given(times)
def test_dynamic_round_trip(until: datetime) -> None:
    code = national_qr.parse(national_qr.dynamic_text(EHC_ID, until, KEY), KEY)
    assert code.dynamic
    assert code.valid_until == until
    assert code.ehc_id == EHC_ID


def test_expiry_is_checked_to_the_second() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    assert national_qr.verify(text, KEY, UNTIL).valid_until == UNTIL
    with pytest.raises(TokenRejected) as expired:
        national_qr.verify(text, KEY, UNTIL + timedelta(seconds=1))
    assert expired.value.reason is TokenRejectReason.EXPIRED
    static = national_qr.static_text(EHC_ID)
    assert national_qr.verify(static, KEY, UNTIL + timedelta(days=3650)).ehc_id == EHC_ID


def test_wrong_key_or_tampered_validity_is_malformed() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    with pytest.raises(TokenRejected) as wrong_key:
        national_qr.parse(text, OTHER_KEY)
    assert wrong_key.value.reason is TokenRejectReason.MALFORMED
    flipped = text[:-1] + ("0" if text[-1] != "0" else "1")
    with pytest.raises(TokenRejected) as tampered:
        national_qr.parse(flipped, KEY)
    assert tampered.value.reason is TokenRejectReason.MALFORMED


@pytest.mark.parametrize(
    "text",
    [
        "EHCID:1",
        f"{EHC_ID}:2",
        f"{EHC_ID.lower()}:1",
        f"{EHC_ID}:1:",
        f"{EHC_ID}:0",
        f"{EHC_ID}:0:ABC",
        f"{EHC_ID[:-1]}:1",
        f"{EHC_ID} :1",
    ],
)
def test_malformed_texts(text: str) -> None:
    with pytest.raises(TokenRejected) as error:
        national_qr.parse(text, KEY)
    assert error.value.reason is TokenRejectReason.MALFORMED


def test_every_character_is_qr_alphanumeric() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    assert set(text) <= set("0123456789ABCDEF:")
    assert len(text) == 99


def test_protection_key_from_env() -> None:
    assert national_qr.protection_key_from_env({}) == KEY
    assert (
        national_qr.protection_key_from_env({national_qr.ENV_PROTECTION_KEY: OTHER_KEY.hex()})
        == OTHER_KEY
    )
    with pytest.raises(ValueError, match=national_qr.ENV_PROTECTION_KEY) as error:
        national_qr.protection_key_from_env({national_qr.ENV_PROTECTION_KEY: "zz" * 16})
    assert "zz" not in str(error.value)


def test_issuer_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="ehc_id"):
        national_qr.static_text("not-an-id")
    with pytest.raises(ValueError, match="timezone"):
        national_qr.dynamic_text(EHC_ID, datetime(2026, 11, 25, 8, 0), KEY)
