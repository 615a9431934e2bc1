"""Keyring: key ids, rotation, retirement, PEM, test vs production, the public document."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from healthcard.domain.card_values import IssuerMode
from healthcard.qr.keyring import (
    DOCUMENT_FORMAT,
    Keyring,
    KeyringError,
    PublishedKeys,
    derive_test_key,
)

P, T = IssuerMode.PRODUCTION, IssuerMode.TEST


def raw_public(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )


def test_test_keys_follow_the_documented_derivation() -> None:
    seed = hashlib.sha256(b"healthcard test-mode QR signing key 3").digest()
    assert raw_public(derive_test_key(3)) == raw_public(Ed25519PrivateKey.from_private_bytes(seed))


def test_default_keyring_is_test_mode_with_test_key_0() -> None:
    keyring = Keyring.for_tests()
    assert keyring.mode is T
    assert keyring.current_key_id(T) == 0
    assert keyring.current_key_id(P) is None
    with pytest.raises(KeyringError):
        keyring.signer(P)


def test_a_production_key_makes_a_production_keyring() -> None:
    keyring = Keyring()
    assert keyring.generate(P) == 0
    assert keyring.mode is P
    assert keyring.key_ids(P) == [0]
    assert keyring.key_ids(T) == [0]
    production_key = keyring.verification_key(P, 0)
    test_key = keyring.verification_key(T, 0)
    assert production_key is not None
    assert test_key is not None
    assert production_key.public_key is not None
    assert test_key.public_key is not None
    assert production_key.public_key != test_key.public_key


def test_rotation_assigns_the_next_id_and_signs_with_it() -> None:
    keyring = Keyring()
    ids = [keyring.rotate(P) for _ in range(3)]
    assert ids == [0, 1, 2]
    assert keyring.signer(P)[0] == 2


def test_key_ids_run_out_after_24() -> None:
    keyring = Keyring()
    for _ in range(23):
        keyring.rotate(T)
    assert keyring.key_ids(T) == list(range(24))
    with pytest.raises(KeyringError, match="key ids"):
        keyring.rotate(T)


def test_current_key_cannot_be_retired_and_retired_keys_cannot_sign() -> None:
    keyring = Keyring()
    keyring.rotate(P)
    with pytest.raises(KeyringError, match="rotate first"):
        keyring.retire(P, 0)
    keyring.rotate(P)
    keyring.retire(P, 0)
    retired = keyring.verification_key(P, 0)
    assert retired is not None
    assert retired.retired
    assert retired.public_key is None
    with pytest.raises(KeyringError):
        keyring.private_pem(P, 0)
    with pytest.raises(KeyringError):
        keyring.retire(P, 7)


@pytest.mark.parametrize("password", [None, b"correct horse"])
def test_pem_round_trip(password: bytes | None) -> None:
    source = Keyring()
    source.rotate(P)
    pem = source.private_pem(P, 0, password)
    assert pem.startswith(
        b"-----BEGIN ENCRYPTED PRIVATE KEY" if password else b"-----BEGIN PRIVATE KEY"
    )
    loaded = Keyring()
    loaded.load_pem(pem, key_id=5, mode=P, password=password)
    assert loaded.signer(P)[0] == 5
    message = b"same key"
    signature = loaded.signer(P)[1].sign(message)
    source_key = source.verification_key(P, 0)
    assert source_key is not None
    assert source_key.public_key is not None
    source_key.public_key.verify(signature, message)


def test_pem_errors_name_no_key_material() -> None:
    keyring = Keyring()
    with pytest.raises(KeyringError) as garbage:
        keyring.load_pem(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", key_id=1, mode=P
        )
    assert "AAAA" not in str(garbage.value)
    ec_pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyringError, match="Ed25519"):
        keyring.load_pem(ec_pem, key_id=1, mode=P)
    encrypted = Keyring()
    encrypted.rotate(P)
    with pytest.raises(KeyringError, match="password"):
        keyring.load_pem(encrypted.private_pem(P, 0, b"secret"), key_id=1, mode=P, password=b"x")


def test_a_test_key_is_never_accepted_as_a_production_key() -> None:
    pem = Keyring().private_pem(T, 0)
    with pytest.raises(KeyringError, match="test keys"):
        Keyring().load_pem(pem, key_id=0, mode=P)
    forged_doc = {
        "format": DOCUMENT_FORMAT,
        "keys": [
            {
                "kid": 4,
                "mode": "production",
                "status": "active",
                "public_key": raw_public(derive_test_key(9)),
            },
        ],
    }
    with pytest.raises(KeyringError, match="test keys"):
        PublishedKeys.from_document(forged_doc)


def test_a_key_id_is_used_once_per_mode() -> None:
    keyring = Keyring()
    keyring.rotate(P)
    with pytest.raises(KeyringError, match="already"):
        keyring.load_pem(Keyring().private_pem(T, 0), key_id=0, mode=T)


def test_public_document_has_exactly_what_a_scanner_needs() -> None:
    keyring = Keyring()
    keyring.rotate(P)
    keyring.rotate(P)
    keyring.retire(P, 0)
    document = json.loads(keyring.public_json(P))
    production_1 = keyring.verification_key(P, 1)
    assert production_1 is not None
    assert production_1.public_key is not None
    assert document == {
        "format": DOCUMENT_FORMAT,
        "keys": [
            {"kid": 0, "mode": "production", "status": "retired"},
            {
                "kid": 1,
                "mode": "production",
                "status": "active",
                "public_key": production_1.public_key.public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw
                ).hex(),
            },
        ],
    }
    everything = json.dumps(keyring.public_document())
    for mode in (P, T):
        secret = keyring.signer(mode)[1].private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        assert secret.hex() not in everything
    assert {e["mode"] for e in keyring.public_document(T)["keys"]} == {"test"}


def test_published_keys_round_trip() -> None:
    keyring = Keyring()
    keyring.rotate(P)
    published = PublishedKeys.from_json(keyring.public_json())
    for mode in (P, T):
        ours, theirs = keyring.verification_key(mode, 0), published.verification_key(mode, 0)
        assert ours is not None
        assert theirs is not None
        assert ours.public_key is not None
        assert theirs.public_key is not None
        assert raw_of(ours.public_key) == raw_of(theirs.public_key)
    assert published.verification_key(P, 1) is None


def raw_of(public: Any) -> bytes:
    return bytes(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


GOOD_KEY = {
    "kid": 0,
    "mode": "test",
    "status": "active",
    "public_key": raw_public(derive_test_key(0)),
}


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"format": DOCUMENT_FORMAT},
        {"format": "other/1", "keys": []},
        {"format": DOCUMENT_FORMAT, "keys": {}, "extra": 1},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "kid": 24}]},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "kid": True}]},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "mode": "staging"}]},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "status": "revoked"}]},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "public_key": "AB" * 32}]},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "public_key": "00" * 31}]},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "public_key": 7}]},
        {"format": DOCUMENT_FORMAT, "keys": [{**GOOD_KEY, "private_key": "00" * 32}]},
        {"format": DOCUMENT_FORMAT, "keys": [{"kid": 0, "mode": "test", "status": "active"}]},
        {"format": DOCUMENT_FORMAT, "keys": [GOOD_KEY, GOOD_KEY]},
        {"format": DOCUMENT_FORMAT, "keys": ["key"]},
    ],
)
def test_published_keys_are_parsed_strictly(document: Any) -> None:
    assert PublishedKeys.from_document({"format": DOCUMENT_FORMAT, "keys": [GOOD_KEY]})
    with pytest.raises(KeyringError):
        PublishedKeys.from_document(document)


def test_published_keys_reject_non_json() -> None:
    with pytest.raises(KeyringError, match="JSON"):
        PublishedKeys.from_json(b"{not json")


# -- small-order public keys ---------------------------------------------------------------
#
# The encodings are derived here from the curve, not copied from the module: the torsion
# subgroup is generated from the order-8 point libsodium names by its y coordinate
# (2707385501...402022), and the two non-canonical aliases p and p+1 (of y = 0 and
# y = 1) are added. libsodium compares the last byte without its sign bit, so each of
# the 7 y encodings counts twice.

FIELD = 2**255 - 19
CURVE_D = -121665 * pow(121666, -1, FIELD) % FIELD
SQRT_MINUS_1 = pow(2, (FIELD - 1) // 4, FIELD)
ORDER_8_Y = 2707385501144840649318225287225658788936804267575313519463743609750303402022
IDENTITY = (0, 1)


def recover_x(y: int) -> int:
    """An x with (x, y) on Ed25519 (RFC 8032 §5.1.3 square root)."""
    x2 = (y * y - 1) * pow(CURVE_D * y * y + 1, -1, FIELD) % FIELD
    x = pow(x2, (FIELD + 3) // 8, FIELD)
    if (x * x - x2) % FIELD:
        x = x * SQRT_MINUS_1 % FIELD
    assert (x * x - x2) % FIELD == 0
    return x


def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Affine point addition on -x^2 + y^2 = 1 + d x^2 y^2."""
    (x1, y1), (x2, y2) = a, b
    t = CURVE_D * x1 * x2 * y1 * y2 % FIELD
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, FIELD) % FIELD
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, FIELD) % FIELD
    return x3, y3


def small_order_y_encodings() -> list[bytes]:
    generator = (recover_x(ORDER_8_Y), ORDER_8_Y)
    multiples, point = [], IDENTITY
    for _ in range(8):
        multiples.append(point)
        point = add(point, generator)
    assert point == IDENTITY
    assert IDENTITY not in multiples[1:]  # order exactly 8: the whole torsion subgroup
    ys = sorted({y for _, y in multiples} | {FIELD, FIELD + 1})
    return [y.to_bytes(32, "little") for y in ys]


SMALL_ORDER_Y = small_order_y_encodings()
SMALL_ORDER_KEYS = [
    pytest.param(encoding[:31] + bytes([encoding[31] | sign]), id=f"{encoding.hex()[:8]}-{sign}")
    for encoding in SMALL_ORDER_Y
    for sign in (0, 0x80)
]


def document_with(public_key: str, mode: str = "test") -> dict[str, Any]:
    key = {"kid": 3, "mode": mode, "status": "active", "public_key": public_key}
    return {"format": DOCUMENT_FORMAT, "keys": [key]}


def test_the_derived_list_is_libsodiums_seven_encodings() -> None:
    assert len(SMALL_ORDER_Y) == 7
    assert len(SMALL_ORDER_KEYS) == 14
    assert {e.hex() for e in SMALL_ORDER_Y} >= {
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    }


@pytest.mark.parametrize("raw", SMALL_ORDER_KEYS)
@pytest.mark.parametrize("mode", ["test", "production"])
def test_small_order_public_keys_are_refused(raw: bytes, mode: str) -> None:
    with pytest.raises(KeyringError, match="small order") as error:
        PublishedKeys.from_document(document_with(raw.hex(), mode))
    assert raw.hex() not in str(error.value)
    with pytest.raises(KeyringError, match="small order"):
        PublishedKeys.from_json(json.dumps(document_with(raw.hex(), mode)))


def test_why_the_identity_key_is_refused() -> None:
    """With the identity as public key, R = [S]B is a valid signature of any message."""
    identity = (1).to_bytes(32, "little")
    base_point = (4 * pow(5, -1, FIELD) % FIELD).to_bytes(32, "little")
    forged = base_point + (1).to_bytes(32, "little")  # R = [1]B, S = 1
    Ed25519PublicKey.from_public_bytes(identity).verify(forged, b"any token at all")
    with pytest.raises(KeyringError, match="small order"):
        PublishedKeys.from_document(document_with(identity.hex(), "production"))


def test_a_normal_key_is_accepted() -> None:
    for mode in ("test", "production"):
        raw = raw_public(Ed25519PrivateKey.generate())
        published = PublishedKeys.from_document(document_with(raw, mode))
        key = published.verification_key(IssuerMode(mode), 3)
        assert key is not None
        assert key.public_key is not None
        assert raw_of(key.public_key).hex() == raw


# -- hostile documents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        ("[" * 100_000 + "]" * 100_000).encode("ascii"),
        '{"a": ' * 100_000 + "1" + "}" * 100_000,
        '{"format": "healthcard.qr.keys/1", "keys": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["arrays", "bytes", "objects", "inside a document"],
)
def test_a_deeply_nested_key_document_is_a_keyring_error(text: str | bytes) -> None:
    with pytest.raises(KeyringError, match="nested"):
        PublishedKeys.from_json(text)
