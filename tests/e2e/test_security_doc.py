"""docs/security.md's authorisation example runs as written, and the page names every
command method the hook covers (so the list stays true as commands are added)."""

from __future__ import annotations

import re
from pathlib import Path

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.testing.authorisation import command_methods

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_authoriser_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "security_doc"})  # noqa: S102


def test_the_page_lists_every_command_method() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## The authorisation hook", 1)[1].split("```", 1)[0]
    app = HealthCardApp(memory_env(), clock=FakeClock())
    try:
        methods = {method.__name__ for method in command_methods(app).values()}
    finally:
        app.close()
    listed = set(re.findall(r"`([a-z_]+)`", section.split("- **once per call", 1)[0]))
    assert methods <= listed, f"not listed: {sorted(methods - listed)}"
