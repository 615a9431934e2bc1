"""The signed QR token: format, size, offline verification and its typed reasons."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import base45 as base45_package
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from healthcard.adapters import qr_render as render
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.errors import InvalidInput, TokenRejected, TokenRejectReason
from healthcard.domain.usage import TokenUse
from healthcard.qr.b45 import ALPHABET, b45decode, b45encode
from healthcard.qr.issue import issue_token
from healthcard.qr.keyring import Keyring, PublishedKeys, derive_test_key
from healthcard.qr.token import (
    MAX_ISSUED_AT,
    MAX_KEY_ID,
    MAX_LIFETIME,
    PREFIX,
    MalformedToken,
    TokenClaims,
    account_tag,
    decode_payload,
    encode_payload,
    signature_input,
    split_token,
    token_text,
)
from healthcard.qr.verify import Verifier

R = TokenRejectReason
AT = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
CARD = UUID("8a0f6f3c-51c4-4a4b-9d53-0d5e3f1c2b7a")
ACCOUNT = UUID("3c9e1b2a-7d4f-8e6b-9a5c-1f2e3d4c5b6a")
KEYS = Keyring.for_tests()
TEST_VERIFIER = Verifier(KEYS, mode=IssuerMode.TEST)

claims_strategy = st.builds(
    TokenClaims,
    key_id=st.integers(0, MAX_KEY_ID),
    mode=st.sampled_from(IssuerMode),
    card_id=st.uuids(),
    account_tag=st.binary(min_size=4, max_size=4),
    issued_at=st.integers(0, MAX_ISSUED_AT),
    lifetime=st.integers(1, MAX_LIFETIME),
    nonce=st.binary(min_size=8, max_size=8),
    use=st.sampled_from(TokenUse),
)


def issue(
    keyring: Keyring = KEYS,
    *,
    mode: IssuerMode = IssuerMode.TEST,
    lifetime: int = 60,
    use: TokenUse = TokenUse.TRIAGE,
) -> tuple[str, TokenClaims]:
    return issue_token(
        keyring,
        card_id=CARD,
        account_id=ACCOUNT,
        mode=mode,
        use=use,
        at=AT,
        lifetime=lifetime,
    )


def signed(payload: bytes, key_id: int = 0) -> str:
    """A token text around ``payload``, correctly signed with test key ``key_id``."""
    return token_text(payload, derive_test_key(key_id).sign(signature_input(payload)))


def production_keyring() -> Keyring:
    keyring = Keyring()
    keyring.generate(IssuerMode.PRODUCTION)
    return keyring


# -- format ------------------------------------------------------------------------------


@given(claims_strategy)
def test_payload_round_trips(claims: TokenClaims) -> None:
    assert decode_payload(encode_payload(claims)) == claims


def test_issued_token_verifies_with_its_claims() -> None:
    text, claims = issue()
    result = TEST_VERIFIER.verify(text, AT)
    assert result == claims
    assert isinstance(result, TokenClaims)
    assert (result.card_id, result.account_tag) == (CARD, account_tag(ACCOUNT))
    assert result.use is TokenUse.TRIAGE
    assert result.mode is IssuerMode.TEST
    assert result.issued_at_datetime == AT
    assert result.expires_at - result.issued_at == 60


def test_text_is_prefix_and_base45_of_payload_then_signature() -> None:
    text, claims = issue()
    payload, signature = split_token(text)
    assert text == PREFIX + base45_package.b45encode(payload + signature).decode()
    assert payload == encode_payload(claims)
    derive_test_key(0).public_key().verify(signature, signature_input(payload))
    assert set(text) <= set(ALPHABET)  # QR alphanumeric mode


@settings(max_examples=40, deadline=None)
@given(claims_strategy)
def test_every_token_fits_qr_version_7_at_level_m(claims: TokenClaims) -> None:
    text = signed(encode_payload(claims))
    assert len(text) <= 178
    assert render.qr_version(text) <= 7


def test_largest_token_is_exactly_version_7() -> None:
    claims = TokenClaims(
        key_id=MAX_KEY_ID,
        mode=IssuerMode.PRODUCTION,
        card_id=CARD,
        account_tag=b"\xff" * 4,
        issued_at=MAX_ISSUED_AT,
        lifetime=MAX_LIFETIME,
        nonce=b"\xff" * 8,
        use=TokenUse.PHARMACY,
    )
    text = signed(encode_payload(claims))
    assert len(text) == 178
    assert render.qr_version(text) == 7
    assert render.qr_version(text + "0") == 8  # no slack hidden in the budget


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key_id", MAX_KEY_ID + 1),
        ("lifetime", 0),
        ("lifetime", MAX_LIFETIME + 1),
        ("issued_at", -1),
        ("nonce", b"\x00" * 7),
        ("account_tag", b"\x00" * 5),
    ],
)
def test_issuer_refuses_claims_outside_the_format(field: str, value: Any) -> None:
    _, claims = issue()
    with pytest.raises(ValueError, match=field):
        encode_payload(dataclasses.replace(claims, **{field: value}))


# -- base45 --------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_base45_decoder_inverts_the_package_encoder(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


@given(st.text(alphabet=ALPHABET, max_size=40))
def test_base45_decoder_agrees_with_the_package(text: str) -> None:
    try:
        expected: bytes | None = base45_package.b45decode(text)
    except ValueError:
        expected = None
    try:
        got: bytes | None = b45decode(text)
    except ValueError:
        got = None
    assert got == expected


@given(st.text(alphabet=ALPHABET + "abc\n\r\t\x00é", max_size=40))
def test_base45_decoder_accepts_only_canonical_text(text: str) -> None:
    try:
        data = b45decode(text)
    except ValueError:
        return
    assert b45encode(data) == text


def test_base45_decoder_refuses_what_the_package_lets_through() -> None:
    text = b45encode(b"health")
    assert base45_package.b45decode(text + "\n") == b"health"
    with pytest.raises(ValueError, match="not base45"):
        b45decode(text + "\n")


# -- mutations: every altered token is refused ------------------------------------------


@st.composite
def text_mutations(draw: st.DrawFn, text: str) -> str:
    position = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["replace", "insert", "delete"]))
    char = draw(st.sampled_from(ALPHABET + "ae\n é0"))
    if kind == "insert":
        return text[:position] + char + text[position:]
    position = min(position, len(text) - 1)
    if kind == "delete":
        return text[:position] + text[position + 1 :]
    return text[:position] + char + text[position + 1 :]


@settings(max_examples=300, deadline=None)
@given(st.data(), claims_strategy)
def test_every_text_mutation_is_refused(data: st.DataObject, claims: TokenClaims) -> None:
    claims = dataclasses.replace(claims, key_id=0, mode=IssuerMode.TEST)
    text = signed(encode_payload(claims))
    assert isinstance(TEST_VERIFIER.verify(text, claims.issued_at), TokenClaims)
    mutated = data.draw(text_mutations(text))
    assume(mutated != text)
    assert isinstance(TEST_VERIFIER.verify(mutated, claims.issued_at), TokenRejectReason)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_byte_mutation_is_refused(data: st.DataObject) -> None:
    text, _claims = issue()
    payload, signature = split_token(text)
    raw = bytearray(payload + signature)
    positions = data.draw(st.lists(st.integers(0, len(raw) * 8 - 1), min_size=1, unique=True))
    for bit in positions:
        raw[bit // 8] ^= 1 << (bit % 8)
    assert isinstance(TEST_VERIFIER.verify(PREFIX + b45encode(bytes(raw)), AT), TokenRejectReason)


def test_every_single_bit_flip_is_refused() -> None:
    text, _ = issue()
    payload, signature = split_token(text)
    raw = payload + signature
    accepted = []
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        result = TEST_VERIFIER.verify(PREFIX + b45encode(bytes(flipped)), AT)
        if not isinstance(result, TokenRejectReason):
            accepted.append(bit)
    assert accepted == []


# -- reasons ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(1, MAX_LIFETIME), st.integers(0, 300))
def test_time_window_with_clock_skew(lifetime: int, skew: int) -> None:
    text, claims = issue(lifetime=lifetime)
    verifier = Verifier(KEYS, mode=IssuerMode.TEST, skew_seconds=skew)
    start, end = claims.issued_at - skew, claims.issued_at + lifetime + skew
    assert verifier.verify(text, start - 0.001) is R.NOT_YET_VALID
    assert isinstance(verifier.verify(text, start), TokenClaims)
    assert isinstance(verifier.verify(text, end - 0.001), TokenClaims)
    assert verifier.verify(text, end) is R.EXPIRED


def test_expired_and_not_yet_valid_raise_with_reason() -> None:
    text, claims = issue()
    with pytest.raises(TokenRejected) as expired:
        TEST_VERIFIER.claims(text, claims.expires_at + 31)
    assert expired.value.reason is R.EXPIRED
    assert expired.value.code == "token_rejected"
    with pytest.raises(TokenRejected) as early:
        TEST_VERIFIER.claims(text, claims.issued_at - 31)
    assert early.value.reason is R.NOT_YET_VALID


def test_production_verifier_refuses_test_tokens_even_holding_the_test_key() -> None:
    text, _ = issue(mode=IssuerMode.TEST)
    assert Verifier(KEYS, mode=IssuerMode.PRODUCTION).verify(text, AT) is R.TEST_TOKEN_IN_PRODUCTION


def test_production_token_verifies_in_production() -> None:
    keyring = production_keyring()
    text, claims = issue(keyring, mode=IssuerMode.PRODUCTION)
    assert Verifier(keyring).verify(text, AT) == claims
    published = PublishedKeys.from_json(keyring.public_json(IssuerMode.PRODUCTION))
    assert Verifier(published).verify(text, AT) == claims


def test_unknown_key() -> None:
    keyring = Keyring()
    keyring.generate(IssuerMode.TEST)  # test key 1 becomes current
    text, _ = issue(keyring)
    only_key_0 = PublishedKeys.from_json(Keyring().public_json())
    assert Verifier(only_key_0, mode=IssuerMode.TEST).verify(text, AT) is R.UNKNOWN_KEY
    production_text, _ = issue(production_keyring(), mode=IssuerMode.PRODUCTION)
    assert TEST_VERIFIER.verify(production_text, AT) is R.UNKNOWN_KEY


def test_bad_signature_from_another_key_with_the_same_id() -> None:
    ours, theirs = production_keyring(), production_keyring()
    text, _ = issue(theirs, mode=IssuerMode.PRODUCTION)
    assert Verifier(ours).verify(text, AT) is R.BAD_SIGNATURE


def test_rotation_keeps_old_tokens_until_the_key_is_retired() -> None:
    keyring = production_keyring()
    old_text, old = issue(keyring, mode=IssuerMode.PRODUCTION)
    new_id = keyring.rotate(IssuerMode.PRODUCTION)
    new_text, new = issue(keyring, mode=IssuerMode.PRODUCTION)
    assert (old.key_id, new.key_id) == (0, new_id)
    assert new_id == 1
    verifier = Verifier(keyring)
    assert verifier.verify(old_text, AT) == old
    assert verifier.verify(new_text, AT) == new
    keyring.retire(IssuerMode.PRODUCTION, old.key_id)
    assert verifier.verify(old_text, AT) is R.RETIRED_KEY
    assert verifier.verify(new_text, AT) == new
    published = Verifier(PublishedKeys.from_json(keyring.public_json(IssuerMode.PRODUCTION)))
    assert published.verify(old_text, AT) is R.RETIRED_KEY
    assert published.verify(new_text, AT) == new


def _payload_map() -> dict[int, object]:
    _, claims = issue()
    decoded = cbor2.loads(encode_payload(claims))
    assert isinstance(decoded, dict)
    return decoded


@pytest.mark.parametrize(
    "make_payload",
    [
        pytest.param(lambda m: cbor2.dumps({**m, 10: 0}), id="extra key"),
        pytest.param(lambda m: cbor2.dumps(dict(reversed(m.items()))), id="keys out of order"),
        pytest.param(lambda m: cbor2.dumps({k: v for k, v in m.items() if k != 8}), id="no nonce"),
        pytest.param(lambda m: cbor2.dumps({**m, 1: 2}), id="version 2"),
        pytest.param(lambda m: cbor2.dumps({**m, 3: 2}), id="mode 2"),
        pytest.param(lambda m: cbor2.dumps({**m, 9: 6}), id="use 6"),
        pytest.param(lambda m: cbor2.dumps({**m, 4: m[4][:15]}), id="short card id"),
        pytest.param(lambda m: cbor2.dumps({**m, 6: float(m[6])}), id="float time"),
        pytest.param(lambda m: cbor2.dumps({**m, 7: True}), id="bool lifetime"),
        pytest.param(lambda m: cbor2.dumps({**m, 5: "tag"}), id="text account tag"),
        pytest.param(lambda m: cbor2.dumps(list(m.values())), id="array"),
        pytest.param(lambda m: cbor2.dumps(m) + b"\x00", id="trailing byte"),
        pytest.param(
            lambda m: cbor2.dumps(m).replace(b"\x01\x01", b"\x01\x18\x01", 1), id="long int"
        ),
        pytest.param(lambda m: b"\xff", id="not cbor"),
    ],
)
def test_signed_but_malformed_payloads_are_malformed(make_payload: object) -> None:
    payload = make_payload(_payload_map())  # type: ignore[operator]
    assert TEST_VERIFIER.verify(signed(payload), AT) is R.MALFORMED


@pytest.mark.parametrize(
    "text",
    [
        "",
        "EH1:",
        "HC1:" + b45encode(b"x" * 80),
        "eh1:" + b45encode(b"x" * 80),
        "EH1:" + b45encode(b"x" * 64),  # only a signature
        "EH1:abc",
        "EH1:" + "0" * 1000,
    ],
)
def test_malformed_texts(text: str) -> None:
    assert TEST_VERIFIER.verify(text, AT) is R.MALFORMED


def test_wrong_private_key_type_cannot_sign_for_the_keyring() -> None:
    # A token signed by a fresh key under test key id 0 is a forgery: bad signature.
    _, claims = issue()
    payload = encode_payload(claims)
    forged = token_text(payload, Ed25519PrivateKey.generate().sign(signature_input(payload)))
    assert TEST_VERIFIER.verify(forged, AT) is R.BAD_SIGNATURE


# -- strict decoding: keys, nesting ------------------------------------------------------------


def _with_key(m: dict[int, object], key: int, replacement: object) -> bytes:
    """The payload map with ``key`` written as ``replacement`` (same place, same value)."""
    return bytes(cbor2.dumps({(replacement if k == key else k): v for k, v in m.items()}))


KEY_IMPOSTORS = [
    pytest.param(1, True, id="true as key 1"),
    pytest.param(1, 1.0, id="1.0 as key 1"),
    pytest.param(9, 9.0, id="9.0 as key 9"),
    pytest.param(5, 5.0, id="5.0 as key 5"),
]


@pytest.mark.parametrize(("key", "impostor"), KEY_IMPOSTORS)
def test_keys_that_only_equal_integers_are_malformed(key: int, impostor: object) -> None:
    m = _payload_map()
    payload = _with_key(m, key, impostor)
    decoded = cbor2.loads(payload)
    assert tuple(decoded) == tuple(range(1, 10))  # equal to the expected keys ...
    assert cbor2.dumps(decoded) == payload  # ... and re-encoding keeps its bytes
    with pytest.raises(MalformedToken):
        decode_payload(payload)


def test_a_map_with_integer_keys_still_decodes() -> None:
    m = _payload_map()
    assert decode_payload(bytes(cbor2.dumps(m))) == decode_payload(_with_key(m, 1, 1))


@pytest.mark.parametrize(("key", "impostor"), KEY_IMPOSTORS)
def test_signed_tokens_with_such_keys_are_refused_as_malformed(key: int, impostor: object) -> None:
    payload = _with_key(_payload_map(), key, impostor)
    text = signed(payload)  # a real signature by test key 0, which the keyring holds
    test_key = KEYS.verification_key(IssuerMode.TEST, 0)
    assert test_key is not None
    assert test_key.public_key is not None
    test_key.public_key.verify(text_signature(text), signature_input(payload))
    assert TEST_VERIFIER.verify(text, AT) is R.MALFORMED


@pytest.mark.parametrize(
    "payload",
    [
        b"\x81" * 100_000 + b"\x00",
        b"\xa1\x01" * 100_000 + b"\x00",
        b"\x9f" * 100_000,
        b"\xd8\x18" * 100_000 + b"\x00",
    ],
    ids=["arrays", "maps", "indefinite arrays", "tags"],
)
def test_deeply_nested_cbor_is_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedToken):
        decode_payload(payload)


def test_a_signed_deeply_nested_payload_is_malformed() -> None:
    text = signed(b"\x81" * 250 + b"\x00")  # as deep as the text length limit allows
    assert TEST_VERIFIER.verify(text, AT) is R.MALFORMED


def text_signature(text: str) -> bytes:
    return split_token(text)[1]


# -- the verification time -------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        math.nan,
        math.inf,
        -math.inf,
        datetime(2026, 11, 25, 8, 0, 0),
        True,
        "1795564800",
    ],
    ids=["nan", "+inf", "-inf", "naive datetime", "bool", "str"],
)
def test_a_bad_verification_time_is_invalid_input(now: object) -> None:
    text, _claims = issue()
    with pytest.raises(InvalidInput) as error:
        TEST_VERIFIER.verify(text, now)  # type: ignore[arg-type]
    assert error.value.field == "now"
    with pytest.raises(InvalidInput):
        TEST_VERIFIER.claims(text, now)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):  # whatever the token: the time is checked first
        TEST_VERIFIER.verify("EH1:abc", now)  # type: ignore[arg-type]


def test_nan_does_not_let_an_expired_token_through() -> None:
    text, claims = issue()
    assert TEST_VERIFIER.verify(text, claims.expires_at + 3600) is R.EXPIRED
    with pytest.raises(InvalidInput, match="finite"):
        TEST_VERIFIER.verify(text, math.nan)


def test_finite_times_still_work() -> None:
    text, claims = issue()
    for now in (claims.issued_at + 0.5, claims.issued_at, AT):
        assert TEST_VERIFIER.verify(text, now) == claims
    assert TEST_VERIFIER.verify(text, 1e300) is R.EXPIRED
    assert TEST_VERIFIER.verify(text, 10**400) is R.EXPIRED  # a huge int is still finite
    assert TEST_VERIFIER.verify(text, -1e300) is R.NOT_YET_VALID
    assert isinstance(TEST_VERIFIER.verify(text), TokenRejectReason)  # the system clock
