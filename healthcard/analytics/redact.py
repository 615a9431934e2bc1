"""Masking of the personal fields of stored event states (exports, history, CLI).

Why by field marker and not by event class: the fields are found with the
``Personal`` marker of the event classes (the same one per-person encryption uses),
so a personal field added to any event later is masked without touching this module.
Known fields keep what a desk needs to tell people apart (``张*``,
``510***********1234``, ``138****5678``, the birth year); any other personal field
is starred entirely (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from healthcard.domain.card_values import AccountKind
from healthcard.domain.personal import personal_fields
from healthcard.events.base import DomainEvent
from healthcard.masking import (
    MASK,
    mask_account,
    mask_document_number,
    mask_name,
    mask_open_id,
    mask_phone,
)

ERASED_MARKERS = frozenset({"[erased]"})
"""Placeholders that stand for erased data: shown as they are (they hold nothing)."""


@cache
def personal_names(event_class: type[DomainEvent]) -> frozenset[str]:
    return personal_fields(event_class)


def star(value: Any) -> Any:
    """Hide a value entirely, keeping only its shape (dict keys, list length)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: star(item) for key, item in value.items()}
    if isinstance(value, list):
        return [star(item) for item in value]
    return MASK * 3


def _text(mask: Callable[[str], str]) -> Callable[[Any, dict[str, Any]], Any]:
    def masked(value: Any, state: dict[str, Any]) -> Any:
        return mask(value) if isinstance(value, str) else star(value)

    return masked


def _identifier(value: Any, state: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return star(value)
    try:
        return mask_account(AccountKind(str(state.get("kind"))), value)
    except ValueError:
        return mask_open_id(value)


def _document(value: Any, state: dict[str, Any]) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("number"), str):
        return star(value)
    return {
        **star(value),
        "type": value.get("type"),
        "number": mask_document_number(value["number"]),
    }


def _birth_date(value: Any, state: dict[str, Any]) -> Any:
    if isinstance(value, str) and len(value) == 10:
        return value[:4] + "-**-**"  # the year stays: age groups are analysts' bread
    return star(value)


def mask_identifier(value: str) -> str:
    """A long pseudonymous identifier (64 hex characters): its first 3 and last 4
    characters around a fixed ``****``, which also hides the length."""
    if len(value) < 16:
        return mask_document_number(value)
    return f"{value[:3]}{MASK * 4}{value[-4:]}"


FIELD_MASKS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "name": _text(mask_name),
    "phone": _text(mask_phone),
    "identifier": _identifier,
    "document": _document,
    "birth_date": _birth_date,
    "main_index_id": _text(mask_identifier),
    "ehc_id": _text(mask_identifier),
}


def mask_state(event_class: type[DomainEvent], state: dict[str, Any]) -> dict[str, Any]:
    """A copy of an event's JSON state with every personal field masked."""
    names = personal_names(event_class)
    if not names:
        return state
    masked = dict(state)
    for name in names:
        if name not in masked:
            continue
        value = masked[name]
        if value is None or (isinstance(value, str) and value in ERASED_MARKERS):
            continue
        mask = FIELD_MASKS.get(name)
        masked[name] = mask(value, state) if mask is not None else star(value)
    return masked


__all__ = ["FIELD_MASKS", "mask_identifier", "mask_state", "personal_names", "star"]
