"""Codes and free text: the two kinds of plain string fields, and why they differ.

*Codes* (actor, institution, volunteer, doctor ids) are identifiers chosen by the
embedding app: ASCII letters, digits and ``-_.:``, at most 64 characters. Keeping them
code-shaped keeps a person's name (or any other personal value) out of them, since
they are stored in clear in every event's audit metadata and shown on every screen.

*Free text* (a reason, a department's name) may be Chinese, and is also stored in
clear and kept after an erasure (it is not sealed per person), so it refuses any
value that contains a resident ID number or a mainland mobile number, written plain,
full-width, spaced or with ``+86``. A name cannot be told from other text; the docs
say that free text must not carry one.

Both checks run at the boundary only: stored events were checked when they were
written and decode under the trusted context, so a rule tightened later never stops
an old log from replaying.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, ValidationInfo
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from healthcard.domain.boundary import is_trusted
from healthcard.domain.phone import normalise_cn_mobile

CODE_MAX_LENGTH = 64
FREE_TEXT_MAX_LENGTH = 200

_CODE = re.compile(r"[A-Za-z0-9_.:-]+")
_SEPARATORS_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-.·_/()（）]+(?=\d)")
_DIGIT_RUNS = re.compile(r"\d{11,}[Xx]?")
_MOBILE_START = re.compile(r"1[3-9]")


def _check_code(value: str, info: ValidationInfo) -> str:
    if is_trusted(info):
        return value
    if not _CODE.fullmatch(value):
        raise ValueError("a code holds ASCII letters, digits and - _ . : only")
    return value


Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CODE_MAX_LENGTH),
    AfterValidator(_check_code),
]
"""An identifier chosen by the embedding app (staff id, institution code, doctor id)."""


def _is_resident_id(candidate: str) -> bool:
    if ric.calc_check_digit(candidate) != candidate[17]:
        return False
    try:
        ric.get_birth_date(candidate)
    except StdnumError:
        return False
    return True


def _is_mobile(candidate: str) -> bool:
    if not _MOBILE_START.match(candidate):
        return False
    try:
        normalise_cn_mobile(candidate)
    except ValueError:
        return False
    return True


def contains_personal_number(text: str) -> bool:
    """True when ``text`` holds a resident ID number or a mainland mobile number,
    however written (full-width digits, spaces, dashes or dots between digits, +86)."""
    compact = _SEPARATORS_BETWEEN_DIGITS.sub("", unicodedata.normalize("NFKC", text))
    for match in _DIGIT_RUNS.finditer(compact):
        run = match.group().upper()
        if any(_is_resident_id(run[i : i + 18]) for i in range(len(run) - 17)):
            return True
        if any(_is_mobile(run[i : i + 11]) for i in range(len(run) - 10)):
            return True
    return False


def _check_free_text(value: str, info: ValidationInfo) -> str:
    if is_trusted(info):
        return value
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in value):
        raise ValueError("free text holds no control characters")
    if contains_personal_number(value):
        raise ValueError("free text must not hold an ID number or a phone number")
    return value


FreeText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=FREE_TEXT_MAX_LENGTH),
    AfterValidator(_check_free_text),
]
"""Text written by people (a reason, a department name): any script, stored in clear,
never an ID number or a phone number."""


__all__ = [
    "CODE_MAX_LENGTH",
    "FREE_TEXT_MAX_LENGTH",
    "Code",
    "FreeText",
    "contains_personal_number",
]
