"""Validation at the boundary: pydantic errors become ``InvalidInput`` naming the field.

Why: an embedding app should catch one error family (``HealthCardError``) with a
stable code, and pydantic's own error text repeats the input, which may be an ID
number. The conversion keeps only the field path and pydantic's reason.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from healthcard.domain.errors import InvalidInput


def invalid_input_from(error: ValidationError) -> InvalidInput:
    """The first error of a pydantic ``ValidationError`` as ``InvalidInput`` (no input echoed)."""
    details = error.errors(include_url=False, include_input=False, include_context=False)
    first = details[0] if details else {"loc": (), "msg": "invalid"}
    field = ".".join(str(part) for part in first["loc"]) or "input"
    reason = str(first["msg"]).removeprefix("Value error, ")
    return InvalidInput(field, reason)


class BoundaryModel(BaseModel):
    """Frozen, strict-shaped model whose validation errors are ``InvalidInput``."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=256)

    @model_validator(mode="wrap")
    @classmethod
    def _as_domain_error(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise invalid_input_from(exc) from None
