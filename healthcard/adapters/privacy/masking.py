"""Masking of personal values for display and export: names, document numbers, phones,
accounts, long identifiers, and whole event states.

Why one module: every place that shows a person to an operator or lets data leave
the system (the CLI, reports, read models, exports, log lines) must hide the same
things the same way, so that no screen, log or export becomes a copy of the register.
A masked value keeps just enough for a human to tell two people apart at a desk
(``张*``, ``510***********123X``, ``138****5678``) and never enough to re-identify
someone from the display alone.

The functions are total: any string gives a masked string (short or unexpected
input is starred more, never echoed), so a caller never needs a ``try`` around them.

Event states (:func:`mask_state`) are masked by field marker, not by event class:
fields are found with the ``Personal`` marker of the event classes (the one
per-person sealing uses), so a personal field added to any event later is masked
without touching this module. Known fields keep what a desk needs to tell people
apart; any other personal field is starred entirely (fail closed).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

from healthcard.domain.card_values import AccountKind
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.personal import personal_fields

MASK = "*"
"""The character that replaces hidden characters."""


def mask_name(name: str) -> str:
    """Keep the first character of a name and star the others: ``张三`` -> ``张*``.

    Each hidden character becomes one ``*`` (``欧阳娜娜`` -> ``欧***``), as on Chinese
    hospital screens; a one-character name is starred entirely, since its first
    character would be the whole name.
    """
    text = unicodedata.normalize("NFC", name.strip())
    if len(text) <= 1:
        return MASK * len(text)
    return text[0] + MASK * (len(text) - 1)


def mask_document_number(number: str) -> str:
    """Keep at most a few leading and trailing characters of a document number.

    An 18-character resident ID keeps its first 3 and last 4 characters
    (``110105194912310021`` -> ``110***********0021``); shorter numbers keep
    ``len // 6`` leading and ``len // 4`` trailing characters, so less than half of
    any number is ever shown and numbers under 4 characters are starred entirely.
    """
    text = number.strip()
    head = min(3, len(text) // 6)
    tail = min(4, len(text) // 4)
    hidden = len(text) - head - tail
    return text[:head] + MASK * hidden + text[len(text) - tail :]


def mask_phone(phone: str) -> str:
    """Mask a phone number: a mainland mobile shows as ``138****5678``.

    Accepts the E.164 form stored by the library (``+8613812345678``), the national
    form, or either with spaces and dashes. Other numbers keep only their last
    ``min(4, digits // 3)`` digits.
    """
    digits = "".join(char for char in phone if char.isdigit())
    national = digits[2:] if phone.strip().startswith("+86") else digits
    if len(national) == 11 and national.startswith("1"):
        return f"{national[:3]}{MASK * 4}{national[7:]}"
    tail = min(4, len(digits) // 3)
    return MASK * (len(digits) - tail) + digits[len(digits) - tail :]


def mask_open_id(open_id: str) -> str:
    """Mask a WeChat open id: first and last 3 characters around a fixed ``****``.

    The fixed-width middle hides the length too; ids under 12 characters (never
    issued by WeChat, whose open ids have 28) are starred entirely.
    """
    text = open_id.strip()
    if len(text) < 12:
        return MASK * len(text)
    return f"{text[:3]}{MASK * 4}{text[-3:]}"


def mask_account(kind: AccountKind, identifier: str) -> str:
    """Mask a mobile account's identifier according to its kind."""
    if kind is AccountKind.PHONE:
        return mask_phone(identifier)
    return mask_open_id(identifier)


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


__all__ = [
    "ERASED_MARKERS",
    "FIELD_MASKS",
    "MASK",
    "mask_account",
    "mask_document_number",
    "mask_identifier",
    "mask_name",
    "mask_open_id",
    "mask_phone",
    "mask_state",
    "personal_names",
    "star",
]
