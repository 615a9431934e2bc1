"""Keyring: key ids, rotation, retirement, PEM, test vs production, the public document."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
