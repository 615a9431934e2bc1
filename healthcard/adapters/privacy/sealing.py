"""Per-person encryption of the fields marked ``Personal``, inside the stored event.

Each personal field's JSON value is replaced by ``{"$pii": base64(nonce ‖ AES-GCM)}``
under the key of the event's subject (its aggregate: a card or an account), with the
topic, subject and field name as associated data so a ciphertext cannot be moved to
another event or field. Non-personal fields (ids, codes, times, audit) stay readable:
clinical usage facts survive erasure, pseudonymous, as record-keeping law requires.

After erasure the key is gone: decoding puts a placeholder (``None`` for optional
fields, ``"[erased]"`` for text, the earliest date for dates, the nil UUID for
references) so every event still
decodes with its event class unchanged.
"""

from __future__ import annotations

import base64
import os
import types
import typing
from collections.abc import Collection
from datetime import date
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from healthcard.adapters.privacy.keystore import KeyStore
from healthcard.domain.events.base import DomainEvent, topic_of
from healthcard.domain.personal import ERASED_DATE, ERASED_ID, ERASED_TEXT, personal_fields

SEALED = "$pii"
MAX_CIPHERS = 500
"""AES-GCM contexts kept for the most recent keys (events of one card come together)."""


class PersonalDataCodec:
    """Seals personal fields on encode and opens them on decode."""

    def __init__(self, keystore: KeyStore) -> None:
        self.keystore = keystore
        self._aead: dict[bytes, AESGCM] = {}

    def seal(self, cls: type[DomainEvent], subject: UUID, state: dict[str, Any]) -> None:
        """Encrypt, in place, the personal fields of ``state`` (an event's stored state)."""
        names = _personal(cls)
        if not names:
            return
        key: bytes | None = None
        topic = topic_of(cls)
        for name in names:
            value = state.get(name)
            if value is None:
                continue
            if key is None:
                key = self.keystore.key_for_writing(subject)
            nonce = os.urandom(12)
            sealed = self._cipher(key).encrypt(
                nonce, orjson.dumps(value), _aad(topic, subject, name)
            )
            state[name] = {SEALED: base64.b64encode(nonce + sealed).decode("ascii")}

    def open(
        self,
        cls: type[DomainEvent],
        topic: str,
        subject: UUID,
        state: dict[str, Any],
        names: Collection[str] | None = None,
    ) -> bool:
        """Decrypt, in place, the sealed fields of ``state`` (only ``names``, if given:
        the others stay sealed); returns False if the subject's key was erased."""
        key: bytes | None = None
        looked_up = False
        intact = True
        for name in state if names is None else [n for n in names if n in state]:
            value = state[name]
            if not (isinstance(value, dict) and SEALED in value):
                continue
            if not looked_up:
                key = self.keystore.key_for_reading(subject)
                looked_up = True
            if key is None:
                state[name] = placeholder(cls, name)
                intact = False
                continue
            raw = base64.b64decode(value[SEALED])
            plain = self._cipher(key).decrypt(raw[:12], raw[12:], _aad(topic, subject, name))
            state[name] = orjson.loads(plain)
        return intact

    def _cipher(self, key: bytes) -> AESGCM:
        aead = self._aead.get(key)
        if aead is None:
            if len(self._aead) >= MAX_CIPHERS:
                self._aead.clear()
            aead = self._aead[key] = AESGCM(key)
        return aead


def _aad(topic: str, subject: UUID, name: str) -> bytes:
    return f"{topic}|{subject}|{name}".encode()


@cache
def _personal(cls: type[DomainEvent]) -> tuple[str, ...]:
    return tuple(sorted(personal_fields(cls)))


@cache
def placeholder(cls: type[BaseModel], name: str) -> Any:
    """The JSON value that stands for an erased field of ``cls``."""
    field = cls.model_fields.get(name)
    if field is None:
        return None
    return _placeholder_for(field.annotation)


def _placeholder_for(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _placeholder_for(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = get_args(annotation)
        if type(None) in args:
            return None
        return _placeholder_for(args[0])
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return {
                name: _placeholder_for(field.annotation)
                for name, field in annotation.model_fields.items()
            }
        if issubclass(annotation, Enum):
            return list(annotation)[-1].value
        if issubclass(annotation, date):
            return ERASED_DATE.isoformat()
        if issubclass(annotation, UUID):
            return str(ERASED_ID)
    return ERASED_TEXT
