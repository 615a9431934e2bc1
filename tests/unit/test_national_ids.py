"""Tests for the national electronic health card identifiers (healthcard.qr.national)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from healthcard.adapters.national_ids import (
    ENV_INDEX_KEY,
    ENV_ROOT_KEY,
    TEST_INDEX_KEY,
    TEST_ROOT_KEY,
    NationalKeys,
    decode_ehc_id,
    ehc_id,
    main_index_id,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
)

GBT_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
RESIDENT_TYPE = "01"
RESIDENT_ID = "11010519491231002X"
FIXED_MAIN_INDEX = bytes(range(32)).hex().upper()

document_types = st.from_regex(r"[0-9]{2}", fullmatch=True)
document_numbers = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64
)
main_indexes = st.binary(min_size=32, max_size=32).map(lambda b: b.hex().upper())
root_keys = st.binary(min_size=16, max_size=16)


def _fold(main_index: bytes) -> bytes:
    """XOR the four 8-byte blocks of a main index together (the factor F)."""
    blocks = [main_index[i : i + 8] for i in range(0, 32, 8)]
    return bytes(a ^ b ^ c ^ d for a, b, c, d in zip(*blocks, strict=True))


def _assert_not_echoed(excinfo: pytest.ExceptionInfo[ValueError], *values: str) -> None:
    message = str(excinfo.value)
    for value in values:
        if value:
            assert value not in message


# ------------------------------------------------------------------------- SM4


def test_sm4_known_answer_gbt_32907() -> None:
    # GB/T 32907-2016, appendix A, example 1: key = plaintext.
    ciphertext = sm4_ecb_encrypt(GBT_KEY, GBT_KEY)
    assert ciphertext.hex() == "681edf34d206965e86b3e94f536e4246"
    assert sm4_ecb_decrypt(GBT_KEY, ciphertext) == GBT_KEY


def test_sm4_ecb_encrypts_blocks_independently() -> None:
    two_blocks = sm4_ecb_encrypt(GBT_KEY, GBT_KEY * 2)
    assert two_blocks == sm4_ecb_encrypt(GBT_KEY, GBT_KEY) * 2


@given(key=root_keys, data=st.binary(max_size=64).map(lambda b: b + bytes(-len(b) % 16)))
def test_sm4_round_trip(key: bytes, data: bytes) -> None:
    assert sm4_ecb_decrypt(key, sm4_ecb_encrypt(key, data)) == data


@pytest.mark.parametrize("key_size", [0, 15, 17, 32])
def test_sm4_rejects_bad_key_length(key_size: int) -> None:
    with pytest.raises(ValueError, match="key"):
        sm4_ecb_encrypt(bytes(key_size), bytes(16))
    with pytest.raises(ValueError, match="key"):
        sm4_ecb_decrypt(bytes(key_size), bytes(16))


def test_sm4_rejects_partial_block_without_echoing_data() -> None:
    data = b"SECRET-ID-0123456789"
    with pytest.raises(ValueError, match="multiple of 16") as excinfo:
        sm4_ecb_encrypt(GBT_KEY, data)
    assert "SECRET" not in str(excinfo.value)
    with pytest.raises(ValueError, match="multiple of 16"):
        sm4_ecb_decrypt(GBT_KEY, data)


# --------------------------------------------------------------------- EHC ID


def test_ehc_id_matches_step_by_step_computation() -> None:
    main_index = bytes.fromhex(FIXED_MAIN_INDEX)
    blocks = [main_index[i : i + 8] for i in range(0, 32, 8)]
    factor = bytes(a ^ b ^ c ^ d for a, b, c, d in zip(*blocks, strict=True))
    # 00..07 ^ 08..0F ^ 10..17 ^ 18..1F: the high nibbles cancel, the low ones too.
    assert factor == bytes(8)
    not_factor = bytes(b ^ 0xFF for b in factor)
    user_key = sm4_ecb_encrypt(GBT_KEY, factor + not_factor)
    plaintext = (RESIDENT_TYPE + RESIDENT_ID).encode("ascii")
    assert len(plaintext) == 20
    padded = plaintext + bytes(12)
    expected = sm4_ecb_encrypt(user_key, padded).hex().upper()

    assert ehc_id(FIXED_MAIN_INDEX, GBT_KEY, RESIDENT_TYPE, RESIDENT_ID) == expected


def test_ehc_id_step_by_step_with_nontrivial_factor() -> None:
    main_index = hashlib.sha256(b"some person").digest()
    factor = bytearray(8)
    for start in range(0, 32, 8):
        for i in range(8):
            factor[i] ^= main_index[start + i]
    user_key = sm4_ecb_encrypt(TEST_ROOT_KEY, bytes(factor) + bytes(~b & 0xFF for b in factor))
    padded = b"02" + b"E12345678" + bytes(16 - 11)
    expected = sm4_ecb_encrypt(user_key, padded).hex().upper()

    assert ehc_id(main_index.hex(), TEST_ROOT_KEY, "02", "E12345678") == expected


def test_ehc_id_golden_vector() -> None:
    # Pins the stored format: these values were computed once and cross-checked
    # against the step-by-step computation above and an independent pure-Python
    # SM4.  If this test fails, EHC IDs already issued would no longer decode.
    assert (
        ehc_id(FIXED_MAIN_INDEX, GBT_KEY, RESIDENT_TYPE, RESIDENT_ID)
        == "EF608BDCA9FBFAAFF9C667C97966EA43CCF3DD0B6B5A989D2493AD7FD2AAE278"
    )


def test_test_mode_golden_chain() -> None:
    # Pins the stored format of the test-mode keys, main index and EHC ID together.
    index = main_index_id(RESIDENT_TYPE, RESIDENT_ID, TEST_INDEX_KEY)
    assert index == "D175F0BE1A3DB5E2B2D4AD1C42D2DDC28B5E324B5A993D99085576B4AF3DEE12"
    assert (
        ehc_id(index, TEST_ROOT_KEY, RESIDENT_TYPE, RESIDENT_ID)
        == "9ED5A4446C56B72694DD846159DC33B68F326BDAD91B5DDE4B2D713FB2C46B5F"
    )


def test_resident_id_gives_64_upper_hex_characters() -> None:
    index = main_index_id(RESIDENT_TYPE, RESIDENT_ID, TEST_INDEX_KEY)
    result = ehc_id(index, TEST_ROOT_KEY, RESIDENT_TYPE, RESIDENT_ID)
    assert len(result) == 64
    assert all(c in "0123456789ABCDEF" for c in result)


def test_no_padding_block_when_plaintext_fills_blocks() -> None:
    fourteen = "11010519491231"  # "01" + 14 characters = exactly 16 bytes
    result = ehc_id(FIXED_MAIN_INDEX, GBT_KEY, RESIDENT_TYPE, fourteen)
    assert len(result) == 32
    assert decode_ehc_id(result, FIXED_MAIN_INDEX, GBT_KEY) == (RESIDENT_TYPE, fourteen)


def test_ehc_id_accepts_lower_case_main_index() -> None:
    assert ehc_id(FIXED_MAIN_INDEX.lower(), GBT_KEY, "01", RESIDENT_ID) == ehc_id(
        FIXED_MAIN_INDEX, GBT_KEY, "01", RESIDENT_ID
    )


@given(
    index=main_indexes,
    root_key=root_keys,
    document_type=document_types,
    document_number=document_numbers,
)
# Edge cases: trailing space next to the zero padding, exactly one block, the maximum.
@example(index=FIXED_MAIN_INDEX, root_key=GBT_KEY, document_type="00", document_number="A ")
@example(index=FIXED_MAIN_INDEX, root_key=GBT_KEY, document_type="99", document_number=" " * 14)
@example(index=FIXED_MAIN_INDEX, root_key=GBT_KEY, document_type="01", document_number="~" * 64)
def test_round_trip(index: str, root_key: bytes, document_type: str, document_number: str) -> None:
    encoded = ehc_id(index, root_key, document_type, document_number)
    assert len(encoded) % 32 == 0
    assert encoded == encoded.upper()
    assert decode_ehc_id(encoded, index, root_key) == (document_type, document_number)


@given(first=main_indexes, second=main_indexes, document_number=document_numbers)
def test_different_main_indexes_give_different_ehc_ids(
    first: str, second: str, document_number: str
) -> None:
    # Only the XOR-folded factor enters the user key, so indexes that fold to the
    # same factor legitimately collide; random indexes do so with probability 2**-64.
    assume(_fold(bytes.fromhex(first)) != _fold(bytes.fromhex(second)))
    assert ehc_id(first, TEST_ROOT_KEY, "01", document_number) != ehc_id(
        second, TEST_ROOT_KEY, "01", document_number
    )


def test_main_indexes_with_same_factor_collide() -> None:
    # Documents the construction: swapping two 8-byte blocks keeps the XOR factor.
    raw = bytes.fromhex(FIXED_MAIN_INDEX)
    swapped = (raw[8:16] + raw[0:8] + raw[16:]).hex()
    assert ehc_id(swapped, GBT_KEY, "01", RESIDENT_ID) == ehc_id(
        FIXED_MAIN_INDEX, GBT_KEY, "01", RESIDENT_ID
    )


def test_different_root_keys_give_different_ehc_ids() -> None:
    assert ehc_id(FIXED_MAIN_INDEX, GBT_KEY, "01", RESIDENT_ID) != ehc_id(
        FIXED_MAIN_INDEX, TEST_ROOT_KEY, "01", RESIDENT_ID
    )


def test_decode_with_wrong_key_is_rejected() -> None:
    # Under a wrong key the 32 decrypted bytes are pseudo-random, so they are
    # (overwhelmingly likely, and for these fixed inputs certainly) not a document.
    encoded = ehc_id(FIXED_MAIN_INDEX, GBT_KEY, "01", RESIDENT_ID)
    with pytest.raises(ValueError, match="ehc_id") as excinfo:
        decode_ehc_id(encoded, FIXED_MAIN_INDEX, TEST_ROOT_KEY)
    _assert_not_echoed(excinfo, RESIDENT_ID)
    other_index = hashlib.sha256(b"someone else").hexdigest()
    with pytest.raises(ValueError, match="ehc_id"):
        decode_ehc_id(encoded, other_index, GBT_KEY)


# ------------------------------------------------------------------ main index


def test_main_index_id_is_hmac_sm3_upper_hex() -> None:
    import hmac as std_hmac

    result = main_index_id(RESIDENT_TYPE, RESIDENT_ID, TEST_INDEX_KEY)
    assert len(result) == 64
    assert result == result.upper()
    assert all(c in "0123456789ABCDEF" for c in result)
    if "sm3" in hashlib.algorithms_available:  # cross-check with OpenSSL via the stdlib
        message = f"{RESIDENT_TYPE}|{RESIDENT_ID}".encode()
        expected = std_hmac.new(TEST_INDEX_KEY, message, "sm3").hexdigest().upper()
        assert result == expected


def test_main_index_id_is_deterministic() -> None:
    assert main_index_id("01", RESIDENT_ID, TEST_INDEX_KEY) == main_index_id(
        "01", RESIDENT_ID, TEST_INDEX_KEY
    )


def test_main_index_id_differs_by_key() -> None:
    other_key = bytes(32)
    assert main_index_id("01", RESIDENT_ID, TEST_INDEX_KEY) != main_index_id(
        "01", RESIDENT_ID, other_key
    )


def test_main_index_id_differs_by_document_type() -> None:
    assert main_index_id("01", RESIDENT_ID, TEST_INDEX_KEY) != main_index_id(
        "02", RESIDENT_ID, TEST_INDEX_KEY
    )


def test_main_index_id_is_case_insensitive_in_document_number() -> None:
    assert main_index_id("01", "11010519491231002x", TEST_INDEX_KEY) == main_index_id(
        "01", "11010519491231002X", TEST_INDEX_KEY
    )


@given(document_type=document_types, document_number=document_numbers)
def test_main_index_id_feeds_ehc_id(document_type: str, document_number: str) -> None:
    index = main_index_id(document_type, document_number, TEST_INDEX_KEY)
    encoded = ehc_id(index, TEST_ROOT_KEY, document_type, document_number)
    assert decode_ehc_id(encoded, index, TEST_ROOT_KEY) == (document_type, document_number)


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    ("document_type", "document_number", "parameter"),
    [
        ("1", RESIDENT_ID, "document_type"),
        ("001", RESIDENT_ID, "document_type"),
        ("0A", RESIDENT_ID, "document_type"),
        ("٠١", RESIDENT_ID, "document_type"),  # Arabic-Indic digits are not ASCII digits
        ("01", "", "document_number"),
        ("01", "X" * 65, "document_number"),
        ("01", "110105\n19491231002X", "document_number"),
        ("01", "11010519491231002\x00", "document_number"),
        ("01", "１１０１０５１９４９", "document_number"),  # full-width digits
        ("01", "身份证110105", "document_number"),
    ],
)
def test_bad_documents_are_rejected_without_echo(
    document_type: str, document_number: str, parameter: str
) -> None:
    with pytest.raises(ValueError, match=parameter) as excinfo:
        ehc_id(FIXED_MAIN_INDEX, GBT_KEY, document_type, document_number)
    _assert_not_echoed(excinfo, document_type, document_number)
    with pytest.raises(ValueError, match=parameter) as excinfo:
        main_index_id(document_type, document_number, TEST_INDEX_KEY)
    _assert_not_echoed(excinfo, document_type, document_number)


@pytest.mark.parametrize(
    "bad_index",
    [
        "",
        FIXED_MAIN_INDEX[:-2],
        FIXED_MAIN_INDEX + "00",
        FIXED_MAIN_INDEX[:-1] + "G",
        FIXED_MAIN_INDEX[:-2] + " 1",
        "0x" + FIXED_MAIN_INDEX[2:],
    ],
)
def test_bad_main_index_id_is_rejected_without_echo(bad_index: str) -> None:
    with pytest.raises(ValueError, match="main_index_id") as excinfo:
        ehc_id(bad_index, GBT_KEY, "01", RESIDENT_ID)
    _assert_not_echoed(excinfo, bad_index, RESIDENT_ID)
    with pytest.raises(ValueError, match="main_index_id") as excinfo:
        decode_ehc_id("00" * 32, bad_index, GBT_KEY)
    _assert_not_echoed(excinfo, bad_index)


@pytest.mark.parametrize("key_size", [0, 15, 17, 32])
def test_bad_root_key_is_rejected(key_size: int) -> None:
    bad_key = b"K" * key_size
    with pytest.raises(ValueError, match="root_key") as excinfo:
        ehc_id(FIXED_MAIN_INDEX, bad_key, "01", RESIDENT_ID)
    _assert_not_echoed(excinfo, RESIDENT_ID)
    with pytest.raises(ValueError, match="root_key"):
        decode_ehc_id("00" * 32, FIXED_MAIN_INDEX, bad_key)


@pytest.mark.parametrize("key_size", [0, 16, 31, 33])
def test_bad_index_key_is_rejected(key_size: int) -> None:
    with pytest.raises(ValueError, match="index_key") as excinfo:
        main_index_id("01", RESIDENT_ID, bytes(key_size))
    _assert_not_echoed(excinfo, RESIDENT_ID)


@pytest.mark.parametrize(
    "bad_ehc_id",
    [
        "",
        "00" * 15,  # not a whole block
        "00" * 16 * 6,  # longer than any valid document
        "ZZ" * 16,
        "00" * 15 + " 0",
    ],
)
def test_bad_ehc_id_is_rejected_without_echo(bad_ehc_id: str) -> None:
    with pytest.raises(ValueError, match="ehc_id") as excinfo:
        decode_ehc_id(bad_ehc_id, FIXED_MAIN_INDEX, GBT_KEY)
    _assert_not_echoed(excinfo, bad_ehc_id)


def test_ehc_id_that_decrypts_to_garbage_is_rejected_without_echo() -> None:
    # Encrypt a non-document under the right user key: decoding must refuse it
    # and must not reveal the decrypted bytes.
    factor = _fold(bytes.fromhex(FIXED_MAIN_INDEX))
    user_key = sm4_ecb_encrypt(GBT_KEY, factor + bytes(b ^ 0xFF for b in factor))
    forged = sm4_ecb_encrypt(user_key, b"XYsecret\x01\x02\x03\x00\x00\x00\x00\x00").hex()
    with pytest.raises(ValueError, match="ehc_id") as excinfo:
        decode_ehc_id(forged, FIXED_MAIN_INDEX, GBT_KEY)
    _assert_not_echoed(excinfo, "secret", "XY")
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


# ------------------------------------------------------------------ NationalKeys


def test_test_keys_are_deterministic_and_documented_sizes() -> None:
    assert len(TEST_ROOT_KEY) == 16
    assert len(TEST_INDEX_KEY) == 32
    assert hashlib.sha256(b"healthcard test-mode root key").digest()[:16] == TEST_ROOT_KEY
    keys = NationalKeys.test()
    assert keys == NationalKeys(TEST_ROOT_KEY, TEST_INDEX_KEY, "test")
    assert keys.mode == "test"


def test_national_keys_is_frozen_and_hides_keys_in_repr() -> None:
    keys = NationalKeys.test()
    with pytest.raises(dataclasses.FrozenInstanceError):
        keys.mode = "production"  # type: ignore[misc]
    assert TEST_ROOT_KEY.hex() not in repr(keys)
    assert repr(TEST_ROOT_KEY) not in repr(keys)
    assert repr(TEST_INDEX_KEY) not in repr(keys)
    assert not hasattr(keys, "__dict__")  # slots


@pytest.mark.parametrize(
    ("root_key", "index_key", "parameter"),
    [
        (bytes(15), bytes(range(32)), "root_key"),
        (bytes(range(16)), bytes(16), "index_key"),
    ],
)
def test_national_keys_validates_lengths(root_key: bytes, index_key: bytes, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        NationalKeys(root_key, index_key, "production")


def test_national_keys_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        NationalKeys(TEST_ROOT_KEY, TEST_INDEX_KEY, "staging")  # type: ignore[arg-type]


def test_production_mode_refuses_test_keys() -> None:
    with pytest.raises(ValueError, match="test-mode"):
        NationalKeys(TEST_ROOT_KEY, bytes(range(32)), "production")
    with pytest.raises(ValueError, match="test-mode"):
        NationalKeys(bytes(range(16)), TEST_INDEX_KEY, "production")


def test_from_env_without_variables_gives_test_keys() -> None:
    assert NationalKeys.from_env({}) == NationalKeys.test()
    assert NationalKeys.from_env({"PATH": "/usr/bin"}).mode == "test"
    assert NationalKeys.from_env({ENV_ROOT_KEY: "", ENV_INDEX_KEY: ""}).mode == "test"


def test_from_env_reads_production_keys() -> None:
    root = bytes(range(16))
    index = bytes(range(100, 132))
    keys = NationalKeys.from_env({ENV_ROOT_KEY: root.hex(), ENV_INDEX_KEY: index.hex().upper()})
    assert keys == NationalKeys(root, index, "production")
    assert ENV_ROOT_KEY == "HEALTHCARD_EHC_ROOT_KEY"
    assert ENV_INDEX_KEY == "HEALTHCARD_EHC_INDEX_KEY"


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({ENV_ROOT_KEY: bytes(range(16)).hex()}, ENV_INDEX_KEY),
        ({ENV_INDEX_KEY: bytes(range(32)).hex()}, ENV_ROOT_KEY),
        ({ENV_ROOT_KEY: bytes(range(16)).hex(), ENV_INDEX_KEY: ""}, ENV_INDEX_KEY),
    ],
)
def test_from_env_with_only_one_variable_fails(environ: dict[str, str], missing: str) -> None:
    with pytest.raises(ValueError, match=missing) as excinfo:
        NationalKeys.from_env(environ)
    _assert_not_echoed(excinfo, *environ.values())


@pytest.mark.parametrize(
    ("variable", "bad_value"),
    [
        (ENV_ROOT_KEY, "ab" * 15),
        (ENV_ROOT_KEY, "ab" * 17),
        (ENV_ROOT_KEY, "zz" * 16),
        (ENV_ROOT_KEY, " " + "ab" * 16),
        (ENV_INDEX_KEY, "cd" * 31),
        (ENV_INDEX_KEY, "cd" * 31 + "c"),
        (ENV_INDEX_KEY, "0x" + "cd" * 31),
    ],
)
def test_from_env_with_malformed_value_fails(variable: str, bad_value: str) -> None:
    environ = {ENV_ROOT_KEY: "12" * 16, ENV_INDEX_KEY: "34" * 32, variable: bad_value}
    with pytest.raises(ValueError, match=variable) as excinfo:
        NationalKeys.from_env(environ)
    _assert_not_echoed(excinfo, bad_value, bad_value.strip())


def test_from_env_refuses_published_test_keys_as_production() -> None:
    environ = {ENV_ROOT_KEY: TEST_ROOT_KEY.hex(), ENV_INDEX_KEY: TEST_INDEX_KEY.hex()}
    with pytest.raises(ValueError, match="test-mode") as excinfo:
        NationalKeys.from_env(environ)
    _assert_not_echoed(excinfo, TEST_ROOT_KEY.hex(), TEST_INDEX_KEY.hex())
