"""How an embedding app tests itself with ``healthcard.testing`` (run with pytest).

Three tools, one test each kind:

1. value and command strategies for the app's own properties (here: the front desk of
   ``embedding_app.py`` never answers 5xx and never echoes an ID number);
2. the lifecycle state machine, re-used with the app's own configuration (family cap
   3, SQLite files) and an extra invariant of the app;
3. given/when/then for a rule stated as events.

Run: ``pytest examples/property_test_example.py`` (``HYPOTHESIS_PROFILE=ci`` for more).
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthcard import HealthCardApp
from healthcard.adapters.persistence import memory_env, sqlite_env
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import IssuerMode
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import InvalidStatusChange
from healthcard.domain.events.card import Cancelled, Frozen, Registered, Unfrozen
from healthcard.testing import (
    FakeClock,
    HealthCardMachine,
    expect,
    lifecycle_machine,
    profile_settings,
    stream,
)
from healthcard.testing import given as given_events
from healthcard.testing import strategies as hs

sys.path.insert(0, str(Path(__file__).parent))
from embedding_app import FrontDesk  # the app under test sits beside this file

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ)
AUDIT = Audit(actor="staff-1", channel=Channel.WINDOW, institution="H510107001")

# -- 1. strategies: properties of the app itself ------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    person=hs.persons(resident_only=True),
    number=st.one_of(hs.resident_id_numbers(), hs.invalid_resident_id_numbers()),
    phone=st.one_of(st.none(), hs.cn_mobile_numbers(), hs.invalid_cn_mobile_numbers()),
)
def test_the_desk_answers_every_registration_without_leaking(
    person: hs.Person, number: str, phone: str | None
) -> None:
    health = HealthCardApp(memory_env(), clock=FakeClock())
    desk = FrontDesk(health, institution="H510107001")
    request = {
        "staff": "w-01",
        "name": person.name,
        "id_number": number,
        "sex": person.sex.value,
        "birth_date": person.birth_date.isoformat(),
        "phone": phone,
    }
    try:
        response = desk.handle("register_patient", request)
    finally:
        health.close()
    assert response.status in (200, 409, 422)
    if response.status != 200:  # (inputs shorter than 6 characters may occur by chance)
        assert len(number) < 6 or number not in str(response.body)
        assert phone is None or len(phone) < 6 or phone not in str(response.body)


# -- 2. the lifecycle machine with the app's configuration --------------------------------

_FOLDER = Path(tempfile.mkdtemp(prefix="desk-machine-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


def desk_database() -> dict[str, str]:
    return sqlite_env(_FOLDER / f"{uuid4().hex}.sqlite3")


class DeskLifecycle(lifecycle_machine(family_cap=3, env=desk_database)):  # type: ignore[misc]
    """The library's machine on SQLite with cap 3, plus one invariant of our own."""

    def check_extra(self) -> None:
        # Our desk shows every formal card by its masked document: it must have one.
        for card_id, ref in self.model.cards.items():
            if ref.formal:
                assert self.app.card(card_id).document is not None


TestDeskLifecycle = DeskLifecycle.TestCase
TestDeskLifecycle.settings = settings(
    profile_settings(), max_examples=10, stateful_step_count=25, database=None
)

# The library's own machine, unchanged, on memory (as the library's CI runs it).
TestLibraryLifecycle = HealthCardMachine.TestCase
TestLibraryLifecycle.settings = settings(profile_settings(), max_examples=10, database=None)


# -- 3. given / when / then ---------------------------------------------------------------


def test_a_cancelled_card_cannot_be_unfrozen() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    (
        given_events(
            card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"),
            card(Cancelled, reason="request"),
        )
        .when(lambda c: c.unfreeze(audit=AUDIT, at=NOW))
        .then(InvalidStatusChange, code="invalid_status_change")
    )


def test_unfreezing_a_frozen_card_records_unfrozen() -> None:
    card = stream(uuid4(), audit=AUDIT, at=NOW)
    (
        given_events(
            card(Registered, issuer_mode=IssuerMode.PRODUCTION, name="王芳"),
            card(Frozen, reason="lost_phone"),
        )
        .when(lambda c: c.unfreeze(audit=AUDIT, at=NOW))
        .then(expect(Unfrozen))
    )
