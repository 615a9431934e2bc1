"""docs/privacy.md lists every field stored in clear that people fill in: each code and
free-text field of the commands, so that a field added later is documented too."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

from pydantic import AfterValidator, BaseModel

from healthcard.application import commands
from healthcard.domain import text
from healthcard.domain.audit import Audit

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def validators(annotation: Any, metadata: list[Any]) -> set[Any]:
    """The AfterValidator functions of a field, also inside ``X | None``."""
    found = {item.func for item in metadata if isinstance(item, AfterValidator)}
    for argument in typing.get_args(annotation):
        found |= validators(argument, list(getattr(argument, "__metadata__", ())))
    return found


def fields_of_kind(check: Any) -> set[str]:
    models = [Audit] + [
        cls
        for _, cls in inspect.getmembers(commands, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == commands.__name__
    ]
    return {
        f"{model.__name__}.{name}"
        for model in models
        for name, info in model.model_fields.items()
        if check in validators(info.annotation, list(info.metadata))
    }


def clear_fields_table() -> dict[str, str]:
    """``kind -> fields cell`` of the table under "Fields stored in clear"."""
    section = DOC.read_text(encoding="utf-8").split("## Fields stored in clear", 1)[1]
    cells = [line.split("|") for line in section.split("\n## ", 1)[0].splitlines()]
    return {row[1].strip(): row[2] for row in cells if len(row) > 3}


def test_every_code_field_is_listed() -> None:
    listed = clear_fields_table()["codes"]
    missing = [field for field in sorted(fields_of_kind(text._check_code)) if field not in listed]
    assert not missing, f"docs/privacy.md does not list the code fields {missing}"


def test_every_free_text_field_is_listed() -> None:
    listed = clear_fields_table()["free text"]
    found = fields_of_kind(text._check_free_text)
    assert found, "no free-text field found: the check looks in the wrong place"
    missing = [
        field
        for field in sorted(found)
        if field not in listed and not (field.endswith(".reason") and field.split(".")[0] in listed)
    ]
    assert not missing, f"docs/privacy.md does not list the free-text fields {missing}"
