"""Mainland China mobile numbers, validated and normalised with ``phonenumbers``."""

from __future__ import annotations

import re
from typing import Annotated, Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from pydantic import AfterValidator, ValidationInfo

from healthcard.domain.boundary import is_trusted
from healthcard.domain.personal import Personal

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}

_PLAIN: Final = re.compile(r"(?:\+86)?(1[0-9]{10})")
"""The forms nearly every input takes: 11 digits, or 11 digits after ``+86``."""


def _mobile_pattern() -> re.Pattern[str]:
    """``phonenumbers``' own pattern of CN mobile national numbers (its metadata); one
    that matches nothing if a release of it had none (every number is then parsed)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    mobile = metadata.mobile if metadata is not None else None
    pattern = mobile.national_number_pattern if mobile is not None else None
    return re.compile(pattern if isinstance(pattern, str) else r"(?!)")


_MOBILE_NSN: Final = _mobile_pattern()


def normalise_cn_mobile(value: str) -> str:
    """Return the E.164 form (``+8613812345678``) of a CN mobile number.

    Why a fast path: parsing with ``phonenumbers`` costs about 0.2 ms, twice per
    registered card; a plain 11-digit number that ``phonenumbers``' own mobile
    pattern matches is a valid mobile number as it stands (no mobile range begins
    with a prefix that parsing would strip), and ``tests/unit/test_phone.py`` checks
    both paths agree. Anything else is parsed in full.

    Raises ``ValueError`` without repeating the number.
    """
    plain = _PLAIN.fullmatch(value)
    if plain is not None and _MOBILE_NSN.fullmatch(plain.group(1)):
        return "+86" + plain.group(1)
    return parsed_cn_mobile(value)


def parsed_cn_mobile(value: str) -> str:
    """``normalise_cn_mobile`` by ``phonenumbers``' parser alone (the reference)."""
    if len(value) > 32:
        raise ValueError("too long for a phone number")
    try:
        parsed = phonenumbers.parse(value, "CN")
    except NumberParseException:
        raise ValueError("not a phone number") from None
    if parsed.country_code != 86 or not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid mainland China number")
    if phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        raise ValueError("not a mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _validate_cn_mobile(value: str, info: ValidationInfo) -> str:
    return value if is_trusted(info) else normalise_cn_mobile(value)


CnMobile = Annotated[str, AfterValidator(_validate_cn_mobile), Personal]
