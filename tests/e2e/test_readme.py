"""The README's API tour and error table are kept true by running and checking them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from healthcard.domain import errors

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_api_tour_runs() -> None:
    blocks = python_blocks()
    assert blocks, "README has no python block"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})  # noqa: S102


def test_error_table_lists_every_error_code() -> None:
    text = README.read_text(encoding="utf-8")
    classes = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.HealthCardError)
    ]
    missing = [cls.__name__ for cls in classes if f"`{cls.code}`" not in text]
    assert not missing, f"README error table misses: {missing}"


def test_quick_start_commands_are_exactly_the_contract() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Quick start.*?```\n(.*?)```", text, re.S)
    assert block is not None
    assert block.group(1).splitlines() == [
        'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && healthcard demo',  # noqa: E501
        "pytest",
    ]


def documented_codes() -> dict[str, str]:
    """``class name -> code`` from the README's error table (the published contract)."""
    readme = README.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| `([A-Za-z]+)` \|", readme, flags=re.MULTILINE)
    return {cls: code for code, cls in rows}


def test_every_error_class_has_its_documented_code() -> None:
    documented = documented_codes()
    classes = {
        name: obj
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.HealthCardError)
    }
    concrete = set(classes) - {"HealthCardError", "RuleViolation"}
    assert concrete == set(documented)
    for name, code in documented.items():
        assert classes[name].code == code
    assert len({cls.code for cls in classes.values()}) == len(classes)
