"""Keyed-hash ids for the aggregates found by a natural key.

Why keyed: an id derived with ``uuid5(document_number)`` can be recomputed by anyone
who enumerates ID numbers, revealing whether a person holds a card. HMAC-SHA256
with a secret key makes the id useless without the key, while the application
still finds the same aggregate from the same document or account.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Iterator
from uuid import UUID, uuid5

from healthcard.domain.card_values import AccountKind
from healthcard.domain.identity import IdentityDocument

NAMESPACE = UUID("6b0f3c1e-64a7-4f0c-9d1e-7f7b1b9b2c11")
"""Namespace of the non-secret deterministic ids (idempotency keys, sessions)."""


def keyed_uuid(key: bytes, purpose: str, value: str) -> UUID:
    digest = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom (RFC 9562)
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC variant
    return UUID(bytes=bytes(raw))


def document_claim_id(key: bytes, document: IdentityDocument) -> UUID:
    """The id 0.1.0 gave a document's claim stream (still found, never made anew)."""
    return keyed_uuid(key, "document", document.key())


def account_id(key: bytes, kind: AccountKind, identifier: str) -> UUID:
    """The id 0.1.0 gave an account stream (still found, never made anew)."""
    return keyed_uuid(key, "account", f"{kind.value}|{identifier}")


def account_ids(key: bytes, kind: AccountKind, identifier: str) -> Iterator[UUID]:
    """0.1.0's id of an account, then the ids its number moves on to after each erasure
    when the key store keeps no locators (a KMS behind the plain ``KeyStore``)."""
    yield account_id(key, kind, identifier)
    for erasures in itertools.count(1):
        yield keyed_uuid(key, "account", f"{kind.value}|{identifier}|{erasures}")


def document_locator(key: bytes, document: IdentityDocument) -> UUID:
    """The natural key of a document in the key store's locators (never a stream id)."""
    return keyed_uuid(key, "locator|document", document.key())


def account_locator(key: bytes, kind: AccountKind, identifier: str) -> UUID:
    """The natural key of an account in the key store's locators (never a stream id)."""
    return keyed_uuid(key, "locator|account", f"{kind.value}|{identifier}")


def idempotent_uuid(purpose: str, key: str) -> UUID:
    """A deterministic id from public facts (a clinic session's department, doctor, day
    and period): anyone may compute it, so it must never name a person's aggregate."""
    return uuid5(NAMESPACE, f"{purpose}|{key}")


def idempotency_id(key: bytes, command: str, institution: str, idempotency_key: str) -> UUID:
    """The id of what a command with an idempotency key creates (a card, an appointment).

    Scoped per command and institution, so two institutions' keys never meet; keyed
    with the lookup key, so an id cannot be computed from a guessable key (a card id is
    what a QR token names).
    """
    return keyed_uuid(key, f"idempotency|{command}", f"{institution}|{idempotency_key}")
