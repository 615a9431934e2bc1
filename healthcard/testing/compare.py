"""Comparing aggregates by state, for replay and as-of checks.

Why not ``==``: aggregates are entities (identity, not value, equality), but a replay is
right only when every attribute equals the original's. Pending (unsaved) events are
not state, so they are left out.
"""

from __future__ import annotations

from typing import Any

from healthcard.domain.aggregate import Aggregate


def aggregate_state(aggregate: Aggregate) -> dict[str, Any]:
    """Every attribute of ``aggregate`` except its pending events, plus its class."""
    state = {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}
    state["__class__"] = type(aggregate)
    return state


def same_state(left: Aggregate | None, right: Aggregate | None) -> bool:
    """True when both are None or both hold the same state."""
    if left is None or right is None:
        return left is right
    return aggregate_state(left) == aggregate_state(right)
