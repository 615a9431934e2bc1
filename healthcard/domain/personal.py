"""The ``Personal`` marker for fields that identify a person.

Why a marker and not a naming convention: the codec (and the privacy layer) find
personal fields by introspecting ``Annotated`` metadata, so encrypting them per
person, masking them in read models or dropping them from exports needs no change
to any event class. Use it as ``Annotated[str, Personal]``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel


class _PersonalMarker:
    """Singleton marker type; compare with ``is``."""

    _instance: _PersonalMarker | None = None

    def __new__(cls) -> _PersonalMarker:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Personal"


Personal: Final = _PersonalMarker()

ERASED_TEXT: Final = "[erased]"
"""What an erased text field reads as (names, numbers, identifiers)."""
ERASED_DATE: Final = date.min
"""What an erased date reads as (birth dates)."""
ERASED_ID: Final = UUID(int=0)
"""What an erased reference reads as (the nil UUID): the account a card was bound to,
the card an account held, once the key that sealed the reference is gone."""


def personal_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of the fields of ``model`` marked ``Personal`` (top level only)."""
    return frozenset(
        name for name, info in model.model_fields.items() if _is_personal(info.metadata)
    )


def _is_personal(metadata: list[Any]) -> bool:
    return any(item is Personal for item in metadata)
