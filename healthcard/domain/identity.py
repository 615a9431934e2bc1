"""Identity documents (CV02.01.101), sex (GB/T 2261.1) and person names.

Why python-stdnum: the resident ID's checksum (ISO 7064 MOD 11-2) and embedded
birth date are validated by a well-kept library rather than by hand.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo, field_validator
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from healthcard.domain.boundary import BoundaryModel, is_trusted
from healthcard.domain.personal import Personal


class DocumentType(StrEnum):
    """Identity document types of the national data element CV02.01.101."""

    RESIDENT_ID = "01"
    HOUSEHOLD_REGISTER = "02"
    PASSPORT = "03"
    OFFICER_ID = "04"
    DRIVING_LICENCE = "05"
    HK_MACAU_PERMIT = "06"
    TAIWAN_PERMIT = "07"
    OTHER = "99"


class Sex(StrEnum):
    """GB/T 2261.1 sex codes."""

    UNKNOWN = "0"
    MALE = "1"
    FEMALE = "2"
    UNSPECIFIED = "9"


_GENERIC_DOCUMENT = re.compile(r"^[A-Z0-9]{5,30}$")
_PASSPORT = re.compile(r"^[A-Z0-9]{5,17}$")
_HK_MACAU = re.compile(r"^[HMCT][0-9A-Z]{8,10}$")
_TAIWAN = re.compile(r"^[0-9A-Z]{8,10}$")


def normalise_document_number(document_type: DocumentType, number: str) -> str:
    """Validate ``number`` for ``document_type`` and return its canonical form.

    Raises ``ValueError`` with a reason that never repeats the number.
    """
    compact = number.strip().replace(" ", "").upper()
    if not compact.isascii():
        # Full-width or other scripts' digits would pass isdigit() and int(), then
        # differ from the same number typed in ASCII: one person, two documents.
        raise ValueError("a document number holds ASCII letters and digits only")
    if document_type is DocumentType.RESIDENT_ID:
        return _resident_id(compact)
    pattern = {
        DocumentType.PASSPORT: _PASSPORT,
        DocumentType.HK_MACAU_PERMIT: _HK_MACAU,
        DocumentType.TAIWAN_PERMIT: _TAIWAN,
    }.get(document_type, _GENERIC_DOCUMENT)
    if not pattern.fullmatch(compact):
        raise ValueError(f"not a valid number for document type {document_type.value}")
    return compact


def _resident_id(compact: str) -> str:
    """Check an 18-character resident ID with stdnum's parts.

    Why not ``ric.validate`` alone: it also requires the area code to have existed in
    the birth year, which refuses real people registered under a district created
    after their birth (e.g. 510104 for someone born in 1950). We check the checksum,
    the birth date and that the area code is known at all. Foreign permanent
    residence IDs (2023, first digit 9) carry a nationality code instead of an area
    code, so only their checksum and birth date are checked.
    """
    if len(compact) != 18:
        raise ValueError("a resident ID has 18 characters")
    if not compact[:17].isdigit() or not (compact[17].isdigit() or compact[17] == "X"):
        raise ValueError("a resident ID has 17 digits and a check character")
    if ric.calc_check_digit(compact) != compact[17]:
        raise ValueError("resident ID checksum is wrong")
    try:
        ric.get_birth_date(compact)
    except StdnumError:
        raise ValueError("resident ID holds no valid birth date") from None
    if compact[0] != "9" and not _known_area(compact[:6]):
        raise ValueError("resident ID holds an unknown area code")
    return compact


@lru_cache(maxsize=4096)
def _known_area(code: str) -> bool:
    parts = numdb.get("cn/loc").info(code)
    return any("county" in props for _, props in parts)


def with_check_character(first17: str) -> str:
    """The 18-character resident ID whose first 17 characters are ``first17``: its
    ISO 7064 MOD 11-2 check character appended (for synthetic people: the demo, tests).

    ``ric.calc_check_digit`` ignores the last character of its argument (it expects a
    whole number), hence the placeholder.
    """
    return first17 + ric.calc_check_digit(first17 + "0")


def resident_id_birth_date(number: str) -> date:
    """Birth date encoded in a valid resident ID number."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def resident_id_sex(number: str) -> Sex:
    """Sex encoded in a valid resident ID number (17th digit odd = male)."""
    return Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE


def _check_name(value: str, info: ValidationInfo) -> str:
    if is_trusted(info):
        return value
    name = unicodedata.normalize("NFC", value.strip())
    if not 1 <= len(name) <= 50:
        raise ValueError("a name has 1 to 50 characters")
    for char in name:
        category = unicodedata.category(char)
        if char in "·. -'" or category.startswith("L") or category == "Mn":
            continue
        raise ValueError("a name holds letters, spaces, '·', '.', '-' and apostrophes only")
    return name


PersonName = Annotated[str, AfterValidator(_check_name), Personal]
"""A person's name: Chinese (with ``·`` for minority names) or Latin letters."""


class IdentityDocument(BoundaryModel):
    """A document type and its validated, canonical number (a value object)."""

    type: DocumentType
    number: Annotated[str, Personal]

    # A field validator, not a model "after" validator: pydantic runs a subclass's model
    # validators outside BoundaryModel's wrap validator, so their errors would escape as
    # a ValidationError that echoes the number instead of becoming InvalidInput.
    @field_validator("number")
    @classmethod
    def _valid_number(cls, number: str, info: ValidationInfo) -> str:
        document_type = info.data.get("type")
        if is_trusted(info) or not isinstance(document_type, DocumentType):
            return number  # a bad type is reported on its own field
        return normalise_document_number(document_type, number)

    def key(self) -> str:
        """The string that identifies the document for the one-card-per-person rule."""
        return f"{self.type.value}|{self.number}"
