"""The national QR text: static ``<EHCID>:1`` and dynamic ``<EHCID>:0:<validity>``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import assume, given
from hypothesis import strategies as st

from healthcard.adapters.national_ids import (
    TEST_INDEX_KEY,
    TEST_ROOT_KEY,
    ehc_id,
    main_index_id,
    sm4_ecb_encrypt,
)
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import TokenRejected, TokenRejectReason
from healthcard.qr import national_qr

KEY = national_qr.TEST_PROTECTION_KEY
OTHER_KEY = bytes(range(16))


def resident_ehc_id(number: str) -> str:
    index = main_index_id("01", number, TEST_INDEX_KEY)
    return ehc_id(index, TEST_ROOT_KEY, "01", number)


EHC_ID = resident_ehc_id("11010519491231002X")
OTHER_EHC_ID = resident_ehc_id("110105194912310037")
UNTIL = datetime(2026, 11, 25, 8, 1, 0, tzinfo=CHINA_TZ)
NONCE = bytes.fromhex("0001020304050607")

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(CHINA_TZ)
).map(lambda t: t.replace(microsecond=0))
ehc_ids = (
    st.integers(1, 5)
    .flatmap(lambda blocks: st.binary(min_size=16 * blocks, max_size=16 * blocks))
    .map(lambda raw: raw.hex().upper())
)


def refusal(text: str, key: bytes = KEY) -> TokenRejectReason:
    with pytest.raises(TokenRejected) as error:
        national_qr.parse(text, key)
    return error.value.reason


def validity_of(text: str) -> str:
    return text.split(":")[2]


def test_static_text() -> None:
    text = national_qr.static_text(EHC_ID)
    assert text == f"{EHC_ID}:1"
    assert national_qr.parse(text, KEY) == national_qr.NationalQr(EHC_ID)
    assert not national_qr.parse(text, KEY).dynamic


def test_dynamic_validity_follows_the_construction() -> None:
    """Recomputed with the primitives directly, not the module's helpers."""
    text = national_qr.dynamic_text(EHC_ID, UNTIL.astimezone(UTC), KEY, nonce=NONCE)
    ehc, mark, validity = text.split(":")
    assert (ehc, mark, len(validity)) == (EHC_ID, "0", 48)
    assert validity == validity.upper()
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"healthcard/national-qr/v2\x00" + EHC_ID.encode("ascii") + NONCE)
    delta = digest.finalize()[:16]
    block = b"20261125080100\x00\x00"  # 08:01:00 China time, whatever zone was passed
    whitened = bytes(a ^ b for a, b in zip(block, delta, strict=True))
    encryptor = Cipher(algorithms.SM4(KEY), modes.ECB()).encryptor()  # noqa: S305
    sealed = encryptor.update(whitened) + encryptor.finalize()
    assert validity == (NONCE + sealed).hex().upper()


@given(ehc_ids, times)
def test_dynamic_round_trip(card: str, until: datetime) -> None:
    code = national_qr.parse(national_qr.dynamic_text(card, until, KEY), KEY)
    assert code.dynamic
    assert code.valid_until == until
    assert code.ehc_id == card


def test_a_validity_spliced_after_another_ehc_id_is_malformed() -> None:
    fresh = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    spliced = f"{OTHER_EHC_ID}:0:{validity_of(fresh)}"
    assert refusal(spliced) is TokenRejectReason.MALFORMED
    with pytest.raises(TokenRejected):
        national_qr.verify(spliced, KEY, UNTIL - timedelta(seconds=30))


@given(ehc_ids, ehc_ids, times)
def test_no_validity_works_after_any_other_ehc_id(card: str, other: str, until: datetime) -> None:
    assume(card != other)
    validity = validity_of(national_qr.dynamic_text(card, until, KEY))
    assert refusal(f"{other}:0:{validity}") is TokenRejectReason.MALFORMED


def test_two_codes_for_the_same_card_and_second_differ() -> None:
    texts = {national_qr.dynamic_text(EHC_ID, UNTIL, KEY) for _ in range(50)}
    assert len(texts) == 50
    assert {national_qr.parse(text, KEY).valid_until for text in texts} == {UNTIL}
    sealed = {validity_of(text)[16:] for text in texts}
    assert len(sealed) == 50  # the encrypted block differs too, not only the nonce


def test_a_fixed_nonce_reproduces_the_code() -> None:
    first = national_qr.dynamic_text(EHC_ID, UNTIL, KEY, nonce=NONCE)
    assert first == national_qr.dynamic_text(EHC_ID, UNTIL, KEY, nonce=NONCE)
    assert first != national_qr.dynamic_text(EHC_ID, UNTIL, KEY, nonce=bytes(8))


def test_expiry_is_checked_to_the_second() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    assert national_qr.verify(text, KEY, UNTIL).valid_until == UNTIL
    with pytest.raises(TokenRejected) as expired:
        national_qr.verify(text, KEY, UNTIL + timedelta(seconds=1))
    assert expired.value.reason is TokenRejectReason.EXPIRED
    static = national_qr.static_text(EHC_ID)
    assert national_qr.verify(static, KEY, UNTIL + timedelta(days=3650)).ehc_id == EHC_ID


def test_wrong_key_is_malformed() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    assert refusal(text, OTHER_KEY) is TokenRejectReason.MALFORMED
    assert national_qr.parse(national_qr.dynamic_text(EHC_ID, UNTIL, OTHER_KEY), OTHER_KEY)


def test_every_tampered_validity_character_is_malformed() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    head, validity = text[: -len(validity_of(text))], validity_of(text)
    for position, original in enumerate(validity):
        for replacement in "0123456789ABCDEF":
            if replacement == original:
                continue
            tampered = validity[:position] + replacement + validity[position + 1 :]
            assert refusal(head + tampered) is TokenRejectReason.MALFORMED


def test_the_first_version_32_hex_validity_is_refused() -> None:
    old_validity = sm4_ecb_encrypt(KEY, b"20261125080100\x00\x00").hex().upper()
    assert refusal(f"{EHC_ID}:0:{old_validity}") is TokenRejectReason.MALFORMED


@pytest.mark.parametrize(
    "text",
    [
        "EHCID:1",
        f"{EHC_ID}:2",
        f"{EHC_ID.lower()}:1",
        f"{EHC_ID}:1:",
        f"{EHC_ID}:0",
        f"{EHC_ID}:0:ABC",
        f"{EHC_ID}:0:" + "0" * 48,
        f"{EHC_ID}:0:" + "0" * 47,
        f"{EHC_ID}:0:" + "0" * 49,
        f"{EHC_ID[:-1]}:1",
        f"{EHC_ID} :1",
    ],
)
def test_malformed_texts(text: str) -> None:
    assert refusal(text) is TokenRejectReason.MALFORMED


def test_lower_case_validity_is_malformed() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    assert refusal(f"{EHC_ID}:0:{validity_of(text).lower()}") is TokenRejectReason.MALFORMED


def test_refusals_never_echo_the_ehc_id() -> None:
    fresh = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    with pytest.raises(TokenRejected) as error:
        national_qr.parse(f"{OTHER_EHC_ID}:0:{validity_of(fresh)}", KEY)
    assert OTHER_EHC_ID not in str(error.value)
    assert validity_of(fresh) not in str(error.value)


def test_every_character_is_qr_alphanumeric() -> None:
    text = national_qr.dynamic_text(EHC_ID, UNTIL, KEY)
    assert set(text) <= set("0123456789ABCDEF:")
    assert len(text) == 64 + 3 + 48


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


@pytest.mark.parametrize("nonce", [b"", bytes(7), bytes(9), bytearray(8), "0" * 8])
def test_issuer_refuses_a_nonce_that_is_not_8_bytes(nonce: object) -> None:
    with pytest.raises(ValueError, match="nonce") as error:
        national_qr.dynamic_text(EHC_ID, UNTIL, KEY, nonce=nonce)  # type: ignore[arg-type]
    assert EHC_ID not in str(error.value)
