"""National usage step codes (010101 registration ... 010107 surgery).

Why a separate module: the usage step enum belongs to the QR/usage work
(``healthcard.domain.usage.UsageStep``). When that module exists its values are used,
so the strategies follow the domain; until then the codes of the national spec are
listed here as plain strings.
"""

from __future__ import annotations

import importlib

NATIONAL_STEP_CODES: tuple[str, ...] = (
    "010101",  # registration (挂号)
    "010102",  # diagnosis (就诊)
    "010103",  # dispensing (取药)
    "010104",  # examination (检查)
    "010105",  # payment (缴费)
    "010106",  # prescription (处方)
    "010107",  # surgery (手术)
)


def _domain_step_codes() -> tuple[str, ...]:
    try:
        module = importlib.import_module("healthcard.domain.usage")
    except ImportError:
        return NATIONAL_STEP_CODES
    enum = getattr(module, "UsageStep", None)
    if enum is None:
        return NATIONAL_STEP_CODES
    return tuple(str(member.value) for member in enum)


STEP_CODES: tuple[str, ...] = _domain_step_codes()
