"""The card snapshot's state: every attribute of a card, in a pinned shape.

Why pinned: a snapshot written by one release is read by the next. When the card's
state changes shape, ``LAYOUT`` must change with it, so old snapshots are ignored
rather than misread; these tests fail on a change that forgets to.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from uuid import uuid4

from healthcard.adapters.snapshots import CARD_STATE, LAYOUT, NOT_STATE, CardState
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import IssuerMode

AUDIT = Audit(actor="staff-1", channel=Channel.WINDOW, institution="H510100001")


def registered() -> HealthCard:
    return HealthCard.register(
        uuid4(),
        issuer_mode=IssuerMode.PRODUCTION,
        name="王芳",
        phone=None,
        photo=None,
        volunteer=None,
        audit=AUDIT,
        at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_the_state_lists_every_attribute_of_a_card() -> None:
    card = registered()
    assert set(vars(card)) - NOT_STATE == set(CardState.__required_keys__)
    assert set(CardState.__optional_keys__) == set()


def schema_digest() -> str:
    schema = json.dumps(CARD_STATE.json_schema(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(schema.encode()).hexdigest()


def test_the_layout_is_pinned() -> None:
    """Changing ``CardState`` (or a value it holds) changes the digest: bump ``LAYOUT``
    and pin the new digest here, never re-pin the old number."""
    assert schema_digest() == LAYOUT_DIGESTS[LAYOUT], "the card's state changed: bump LAYOUT"


LAYOUT_DIGESTS = {1: "1c518edc1950c8b2831e7e9a2158c91ee930447bf623cf421c15d51dbef2094c"}
