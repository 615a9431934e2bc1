"""Validation at the boundary: pydantic errors become ``InvalidInput`` naming the field.

Why: an embedding app should catch one error family (``HealthCardError``) with a
stable code, and pydantic's own error text repeats the input, which may be an ID
number. The conversion keeps only the field path and pydantic's reason.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from healthcard.domain.errors import InvalidInput

TRUSTED = "healthcard.trusted"
"""Validation context key: the values were validated at the boundary already.

Why: stored events must decode forever, even after a validation rule tightens
(a new area code list, a stricter name rule), and re-validating an ID number or a
phone on every replay is pure cost. Decoding and event construction from validated
value objects pass ``context=TRUSTED_CONTEXT``; domain validators then only check
shapes and types.
"""

TRUSTED_CONTEXT = {TRUSTED: True}


def is_trusted(info: ValidationInfo) -> bool:
    """True when validating values that already passed the boundary."""
    context = info.context
    return isinstance(context, dict) and bool(context.get(TRUSTED))


def invalid_input_from(error: ValidationError) -> InvalidInput:
    """The first error of a pydantic ``ValidationError`` as ``InvalidInput`` (no input echoed)."""
    details = error.errors(include_url=False, include_input=False, include_context=False)
    first = details[0] if details else {"loc": (), "msg": "invalid"}
    field = ".".join(str(part) for part in first["loc"]) or "input"
    reason = str(first["msg"]).removeprefix("Value error, ")
    return InvalidInput(field, reason)


_NESTED: ContextVar[bool] = ContextVar("healthcard_boundary_nested", default=False)
"""True while an outer ``BoundaryModel`` is validating (so inner ones keep pydantic's error).

Why: if a nested model (``audit``, ``document``) converted its own error, the
``InvalidInput`` would escape pydantic without the outer path (``actor`` instead of
``audit.actor``, or ``input`` for a missing nested object). Only the outermost model
converts, with the full location.
"""


class BoundaryModel(BaseModel):
    """Frozen, strict-shaped model whose validation errors are ``InvalidInput``."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=256)

    @model_validator(mode="wrap")
    @classmethod
    def _as_domain_error(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if _NESTED.get():
            return handler(data)
        token = _NESTED.set(True)
        try:
            return handler(data)
        except ValidationError as exc:
            raise invalid_input_from(exc) from None
        finally:
            _NESTED.reset(token)
