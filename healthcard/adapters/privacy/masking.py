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

A masked state never carries a keyed-hash id (:func:`keyed_id_fields`): the ids of
document claims and accounts are HMACs of a document number or a phone under the
lookup key, so whoever holds that key (with the public test key: anyone) recovers the
number by enumeration. They become ``None``; card, appointment and session ids stay
(random, or derived from public facts).

Exports: the k rules
--------------------

An export is many people at once, so a desk's masks are not enough there: ``110`` +
``0021`` + a birth year, or a surname's first character, single a person out of a
few thousand. :func:`mask_export_state` applies the rules of a masked export, chosen so
that every masked row points to a group of at least :data:`EXPORT_K` people:

- a name, phone, account identifier, photo, main index ID or EHC ID: ``***`` (nothing
  of it, not even its length);
- a resident ID (type ``01``): its first :data:`EXPORT_AREA_DIGITS` digits (the
  province) and 16 stars; any other document number: ``***``; the type stays;
- a birth date: ``****-**-**``, and an ``age_band`` beside it (``0-17`` or ``18+`` on
  the China date of the event), never a year;
- ``relation`` (who the card holder is to the account holder): ``***``;
- keyed-hash ids: ``None``, as in every masked state.

The smallest group is measured, not assumed: ``tests/integration/test_export_k_anonymity.py``
exports a simulated day of 10,000 demo residents, groups the cards by every column the
export emits about a person, and requires each group to hold at least
:data:`EXPORT_K` cards (docs/privacy.md, "Masked exports and the k guarantee").
"""

from __future__ import annotations

import typing
import unicodedata
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any
from uuid import UUID

from healthcard.domain.card_values import AccountKind
from healthcard.domain.events import session
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.events.card import CardEvent
from healthcard.domain.identity import DocumentType
from healthcard.domain.personal import ERASED_DATE, personal_fields

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
    characters around a fixed ``****``, which also hides the length.

    Not for the main index ID or the EHC ID (starred entirely everywhere): with the
    root key, 7 characters of an EHC ID single out one number among the candidates a
    masked number and a birth year leave."""
    if len(value) < 16:
        return mask_document_number(value)
    return f"{value[:3]}{MASK * 4}{value[-4:]}"


FIELD_MASKS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "name": _text(mask_name),
    "phone": _text(mask_phone),
    "identifier": _identifier,
    "document": _document,
    "birth_date": _birth_date,
}
"""The desk's rules; the main index ID and the EHC ID are not among them, so they are
starred entirely: a part of either helps no desk and confirms guesses at the number."""


PSEUDONYMOUS_ID_FIELDS = frozenset({"card_id", "appointment_id", "session_id"})
"""Id fields that are no keyed hash of a person: card and appointment ids are random
(or keyed by an idempotency key), session ids derive from public facts."""


def _names_a_uuid(annotation: Any) -> bool:
    if annotation is UUID:
        return True
    return any(_names_a_uuid(argument) for argument in typing.get_args(annotation))


@cache
def keyed_id_fields(event_class: type[DomainEvent]) -> frozenset[str]:
    """The id fields of an event that may hold a keyed hash of a document or account.

    Fail closed: every UUID field of the event's own (not the base's) fields that is
    not known to be pseudonymous (:data:`PSEUDONYMOUS_ID_FIELDS`), so an id field added
    to an event later is hidden until someone says it may be shown.
    """
    base = DomainEvent.model_fields
    return frozenset(
        name
        for name, info in event_class.model_fields.items()
        if name not in base
        and name not in PSEUDONYMOUS_ID_FIELDS
        and _names_a_uuid(info.annotation)
    )


@cache
def sealed_reference_fields(event_class: type[DomainEvent]) -> frozenset[str]:
    """The personal id fields of an event: references sealed with a person's key (the
    account a card was bound to, the card an account holds). Masked as ``None``: a
    masked row never says which card an account holds or which account showed a QR."""
    return frozenset(
        name
        for name in personal_names(event_class)
        if _names_a_uuid(event_class.model_fields[name].annotation)
    )


@cache
def originator_is_keyed(event_class: type[DomainEvent]) -> bool:
    """Whether the aggregate an event belongs to may have a keyed-hash id.

    Cards and clinic sessions do not (random ids, or ids from public facts); document
    claims and accounts do (an HMAC of the document or of the phone / open id), and so
    does, failing closed, any aggregate added later.
    """
    return not (issubclass(event_class, CardEvent) or event_class.__module__ == session.__name__)


def _mask_fields(
    event_class: type[DomainEvent],
    state: dict[str, Any],
    masks: dict[str, Callable[[Any, dict[str, Any]], Any]],
) -> dict[str, Any]:
    masked = dict(state)
    for name in keyed_id_fields(event_class) | sealed_reference_fields(event_class):
        if name in masked:
            masked[name] = None
    for name in personal_names(event_class):
        if name not in masked:
            continue
        value = masked[name]
        if value is None or (isinstance(value, str) and value in ERASED_MARKERS):
            continue
        mask = masks.get(name)
        masked[name] = mask(value, state) if mask is not None else star(value)
    return masked


def mask_state(event_class: type[DomainEvent], state: dict[str, Any]) -> dict[str, Any]:
    """A copy of an event's JSON state with every personal field masked the desk's way
    and every keyed-hash id replaced by ``None``."""
    if not personal_names(event_class) and not keyed_id_fields(event_class):
        return state
    return _mask_fields(event_class, state, FIELD_MASKS)


# -- exports: the k rules ---------------------------------------------------------------

EXPORT_AREA_DIGITS = 2
"""Digits of a resident ID a masked export keeps: the province (``51`` is Sichuan).

Why not the 6-digit area code: in a day of 10,000 demo residents, area code x sex x
age band x registration channel leaves groups of 6 people, the 4-digit city groups of 7
(measured by the k test, which keeps these figures under :data:`EXPORT_K`)."""

ADULT_AGE = 18
"""The one age boundary of a masked export: minors (``0-17``) and adults (``18+``).

Why only one: a third band (``60+``) already leaves a group of 98 in the demo
population, once crossed with sex and registration channel; a birth year leaves 1."""

AGE_BANDS = (f"0-{ADULT_AGE - 1}", f"{ADULT_AGE}+")

EXPORT_K = 100
"""The smallest group of people a row of a masked export points to, on a population
drawn like the demo's (10,000 residents registering on one day): what
``tests/integration/test_export_k_anonymity.py`` requires of the measured groups
(172 measured). The day of each event is exported, so a group is made of one day's
registrations: a day with fewer registrations gives proportionally smaller groups."""

GENERALISED_FIELDS = frozenset({"relation"})
"""Fields that are not personal data alone but describe the person (who they are to
the account holder): starred in a masked export, as a card's relations (spouse,
mother, sibling...) crossed with sex and age band leave groups of a few people."""


def age_band(birth: date, on: date) -> str:
    """The export's age band of someone born on ``birth``, on the day ``on``."""
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return AGE_BANDS[0] if age < ADULT_AGE else AGE_BANDS[1]


def export_document_number(document_type: str, number: str) -> str:
    """A document number as a masked export shows it: a resident ID keeps its province
    (``51****************``), any other number nothing (``***``)."""
    text = number.strip()
    if document_type == DocumentType.RESIDENT_ID.value and len(text) == 18:
        return text[:EXPORT_AREA_DIGITS] + MASK * (len(text) - EXPORT_AREA_DIGITS)
    return MASK * 3


def _export_document(value: Any, state: dict[str, Any]) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("number"), str):
        return star(value)
    number = value["number"]
    return {
        **star(value),
        "type": value.get("type"),
        "number": number
        if number in ERASED_MARKERS
        else export_document_number(str(value.get("type")), number),
    }


EXPORT_FIELD_MASKS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "document": _export_document,
    "birth_date": lambda value, state: "****-**-**" if isinstance(value, str) else star(value),
}
"""Per-field rules of a masked export; every other personal field is starred."""


def _born(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        born = date.fromisoformat(value)
    except ValueError:
        return None
    return None if born == ERASED_DATE else born


def mask_export_state(
    event_class: type[DomainEvent], state: dict[str, Any], *, on: date
) -> dict[str, Any]:
    """A copy of an event's JSON state as a masked export writes it (the k rules of the
    module docstring); ``on`` is the China date of the event, for the age band."""
    if (
        not personal_names(event_class)
        and not keyed_id_fields(event_class)
        and GENERALISED_FIELDS.isdisjoint(state)
    ):
        return state  # most events (sessions, appointments, uses): nothing to mask
    masked = _mask_fields(event_class, state, EXPORT_FIELD_MASKS)
    for name in GENERALISED_FIELDS:
        if masked.get(name) is not None:
            masked[name] = star(masked[name])
    if "birth_date" in personal_names(event_class) and "birth_date" in state:
        born = _born(state["birth_date"])
        masked["age_band"] = None if born is None else age_band(born, on)
    return masked


__all__ = [
    "ADULT_AGE",
    "AGE_BANDS",
    "ERASED_MARKERS",
    "EXPORT_AREA_DIGITS",
    "EXPORT_FIELD_MASKS",
    "EXPORT_K",
    "FIELD_MASKS",
    "GENERALISED_FIELDS",
    "MASK",
    "PSEUDONYMOUS_ID_FIELDS",
    "age_band",
    "export_document_number",
    "keyed_id_fields",
    "mask_account",
    "mask_document_number",
    "mask_export_state",
    "mask_identifier",
    "mask_name",
    "mask_open_id",
    "mask_phone",
    "mask_state",
    "originator_is_keyed",
    "personal_names",
    "sealed_reference_fields",
    "star",
]
