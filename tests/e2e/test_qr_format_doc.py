"""docs/qr-format.md's worked examples are read from the document and checked: a third
party following the spec gets exactly these bytes, the token still verifies and the
national QR text is exactly what the library makes and reads back."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import base45 as base45_package
import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from healthcard.adapters import qr_render as render
from healthcard.adapters.national_ids import TEST_INDEX_KEY, TEST_ROOT_KEY, ehc_id, main_index_id
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import TokenRejected, TokenRejectReason
from healthcard.qr import national_qr
from healthcard.qr.keyring import DOCUMENT_FORMAT, PublishedKeys, derive_test_key
from healthcard.qr.token import USE_CODES, TokenClaims, encode_payload
from healthcard.qr.verify import Verifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "qr-format.md"


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(title)
    return text[start:]


def example(text: str | None = None) -> dict[str, str]:
    """The labelled lines of the first ``text`` block of ``text`` (default: section 3)."""
    text = section("## 3. Worked example") if text is None else text
    block = re.search(r"```text\n(.*?)```", text, re.S)
    assert block is not None
    fields = {}
    for line in block.group(1).splitlines():
        label, value = re.fullmatch(r"(\S+(?: \S+)*?)\s{2,}(.*)", line).groups()  # type: ignore[union-attr]
        fields[label] = value
    return fields


def national_section() -> str:
    text = section("## 2. National QR text")
    return text[: text.index("## 3. Worked example")]


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


# -- the national QR (section 2) ---------------------------------------------------------


@pytest.fixture(scope="module")
def nex() -> dict[str, str]:
    text = national_section()
    return example(text[text.index("### 2.2 Worked example") :])


def test_national_example_key_is_the_documented_test_protection_key(nex: dict[str, str]) -> None:
    key = bytes.fromhex(nex["protection key"])
    assert key == hashlib.sha256(b"healthcard test-mode QR protection key").digest()[:16]
    assert key == national_qr.TEST_PROTECTION_KEY


def test_national_example_ehc_id_is_the_stated_documents(nex: dict[str, str]) -> None:
    document_type, number = nex["document"].split()
    index = main_index_id(document_type, number, TEST_INDEX_KEY)
    assert ehc_id(index, TEST_ROOT_KEY, document_type, number) == nex["EHC ID"]


def test_national_context_bytes_are_the_stated_ones() -> None:
    stated = re.search(r"\*\*SM3 input\*\*: the 26 bytes `([0-9a-f\s]+)`", national_section())
    assert stated is not None
    assert bytes.fromhex(stated.group(1)) == b"healthcard/national-qr/v2\x00"


def test_national_example_follows_the_construction_step_by_step(nex: dict[str, str]) -> None:
    """Recomputed from the document alone, with the SM3 and SM4 primitives directly."""
    ehc, nonce = nex["EHC ID"], bytes.fromhex(nex["nonce"])
    sm3_input = bytes.fromhex(nex["SM3 input"])
    assert sm3_input == b"healthcard/national-qr/v2\x00" + ehc.encode("ascii") + nonce
    digest = hashes.Hash(hashes.SM3())
    digest.update(sm3_input)
    delta = digest.finalize()[:16]
    assert delta.hex() == nex["delta"]
    until = datetime.fromisoformat(nex["valid until"]).astimezone(CHINA_TZ)
    block = until.strftime("%Y%m%d%H%M%S").encode("ascii") + b"\x00\x00"
    assert block.hex() == nex["P"]
    whitened = bytes(a ^ b for a, b in zip(block, delta, strict=True))
    assert whitened.hex() == nex["P xor delta"]
    key = bytes.fromhex(nex["protection key"])
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305
    sealed = encryptor.update(whitened) + encryptor.finalize()
    assert sealed.hex() == nex["C"]
    assert nex["validity"] == (nonce + sealed).hex().upper()
    assert nex["national text"] == f"{ehc}:0:{nex['validity']}"


def test_national_example_is_what_the_library_makes_and_reads(nex: dict[str, str]) -> None:
    key = bytes.fromhex(nex["protection key"])
    until = datetime.fromisoformat(nex["valid until"])
    text = nex["national text"]
    made = national_qr.dynamic_text(nex["EHC ID"], until, key, nonce=bytes.fromhex(nex["nonce"]))
    assert made == text
    assert national_qr.verify(text, key, until) == national_qr.NationalQr(nex["EHC ID"], until)
    with pytest.raises(TokenRejected) as expired:
        national_qr.verify(text, key, until + timedelta(seconds=1))
    assert expired.value.reason is TokenRejectReason.EXPIRED
    with pytest.raises(TokenRejected) as spliced:
        national_qr.parse(f"{'AB' * 32}:0:{nex['validity']}", key)
    assert spliced.value.reason is TokenRejectReason.MALFORMED
    assert render.qr_version(text) == int(nex["qr version"])
    assert len(text) == 115
    assert "115 characters, QR version 5 at level M" in " ".join(national_section().split())


def test_doc_says_anyone_can_make_codes_with_the_test_protection_key() -> None:
    assert "anyone can make and read dynamic codes" in " ".join(national_section().split())
