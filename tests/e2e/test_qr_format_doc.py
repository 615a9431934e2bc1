"""docs/qr-format.md's worked example is read from the document and checked: a third
party following the spec gets exactly these bytes, and the token still verifies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from uuid import UUID

import base45 as base45_package
import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from healthcard.adapters import qr_render as render
from healthcard.domain.card_values import IssuerMode
from healthcard.qr.keyring import DOCUMENT_FORMAT, PublishedKeys, derive_test_key
from healthcard.qr.token import USE_CODES, TokenClaims, encode_payload
from healthcard.qr.verify import Verifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "qr-format.md"


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(title)
    return text[start:]


def example() -> dict[str, str]:
    block = re.search(r"```text\n(.*?)```", section("## 3. Worked example"), re.S)
    assert block is not None
    fields = {}
    for line in block.group(1).splitlines():
        label, value = re.fullmatch(r"(\S+(?: \S+)*?)\s{2,}(.*)", line).groups()  # type: ignore[union-attr]
        fields[label] = value
    return fields


@pytest.fixture(scope="module")
def ex() -> dict[str, str]:
    return example()


def test_example_key_is_the_documented_test_key(ex: dict[str, str]) -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ex["private key"]))
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert public.hex() == ex["public key"]
    derived = derive_test_key(0).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert derived.hex() == ex["private key"]


def test_example_payload_is_the_cbor_of_the_stated_claims(ex: dict[str, str]) -> None:
    payload = bytes.fromhex(ex["payload"])
    expected_map = {
        1: 1,
        2: 0,
        3: 0,
        4: UUID(ex["card id"]).bytes,
        5: UUID(ex["account id"]).bytes[:4],
        6: int(ex["issued at"]),
        7: int(ex["lifetime"]),
        8: bytes.fromhex(ex["nonce"]),
        9: int(ex["use"]),
    }
    assert cbor2.dumps(expected_map) == payload  # an independent CBOR encoding
    claims = TokenClaims(
        key_id=0,
        mode=IssuerMode.TEST,
        card_id=UUID(ex["card id"]),
        account_tag=UUID(ex["account id"]).bytes[:4],
        issued_at=int(ex["issued at"]),
        lifetime=int(ex["lifetime"]),
        nonce=bytes.fromhex(ex["nonce"]),
        use=next(use for use, code in USE_CODES.items() if code == int(ex["use"])),
    )
    assert encode_payload(claims) == payload


def test_example_byte_walkthrough_adds_up_to_the_payload(ex: dict[str, str]) -> None:
    walkthrough = re.search(r"Reading the payload:\n\n```\n(.*?)```", section("## 3."), re.S)
    assert walkthrough is not None
    hex_bytes = ""
    for line in walkthrough.group(1).splitlines():
        for token in line.split():
            if re.fullmatch(r"[0-9a-f]{2,}", token) is None:
                break
            hex_bytes += token
    assert hex_bytes == ex["payload"]


def test_example_signature_and_text(ex: dict[str, str]) -> None:
    payload = bytes.fromhex(ex["payload"])
    signing_input = bytes.fromhex(ex["signature input"])
    assert signing_input == b"healthcard/qr-token/v1\x00" + payload
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ex["private key"]))
    signature = bytes.fromhex(ex["signature"])
    assert private.sign(signing_input) == signature  # Ed25519 is deterministic
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(ex["public key"])).verify(
        signature, signing_input
    )
    assert ex["token text"] == "EH1:" + base45_package.b45encode(payload + signature).decode()


def test_example_token_verifies_and_has_the_stated_qr_version(ex: dict[str, str]) -> None:
    key_document = {
        "format": DOCUMENT_FORMAT,
        "keys": [{"kid": 0, "mode": "test", "status": "active", "public_key": ex["public key"]}],
    }
    keys = PublishedKeys.from_json(json.dumps(key_document))
    verifier = Verifier(keys, mode=IssuerMode.TEST)
    issued_at = int(ex["issued at"])
    claims = verifier.claims(ex["token text"], issued_at + 10)
    assert (claims.card_id, claims.issued_at, claims.nonce.hex()) == (
        UUID(ex["card id"]),
        issued_at,
        ex["nonce"],
    )
    assert render.qr_version(ex["token text"]) == int(ex["qr version"]) <= 7
    assert len(ex["token text"]) == 178


def test_doc_states_the_measured_version_and_the_prefix() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "178 characters, QR version 7-M" in text
    assert '`"EH1:"`' in text or "`EH1:`" in text
