"""Masking of personal values for display: names, document numbers, phones, accounts.

Why one module: every place that shows a person to an operator (the CLI, reports,
read models, log lines) must hide the same things the same way, so that no screen
or log file becomes a copy of the register. A masked value keeps just enough for
a human to tell two people apart at a desk (``张*``, ``510***********123X``,
``138****5678``) and never enough to re-identify someone from the display alone.

The functions are total: any string gives a masked string (short or unexpected
input is starred more, never echoed), so a caller never needs a ``try`` around them.
"""

from __future__ import annotations

import unicodedata

from healthcard.domain.card_values import AccountKind

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


__all__ = [
    "MASK",
    "mask_account",
    "mask_document_number",
    "mask_name",
    "mask_open_id",
    "mask_phone",
]
