"""Mainland China mobile numbers, validated and normalised with ``phonenumbers``."""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from pydantic import AfterValidator, ValidationInfo

from healthcard.domain.boundary import is_trusted
from healthcard.domain.personal import Personal

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalise_cn_mobile(value: str) -> str:
    """Return the E.164 form (``+8613812345678``) of a CN mobile number.

    Raises ``ValueError`` without repeating the number.
    """
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
