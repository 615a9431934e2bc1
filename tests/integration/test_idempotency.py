"""Idempotency keys: a retry gets its own result, never someone else's.

A key is scoped to its command and institution, the id it makes is keyed with the
lookup key (not computable from a guessable key), and a retry whose content differs
from the first command is refused (``idempotency_key_reused``) and writes nothing.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

import pytest

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.application.commands import (
    ErasePersonalData,
    MakeAppointment,
    RegisterCard,
)
from healthcard.application.keyed_ids import NAMESPACE
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.errors import DuplicateAppointment, IdempotencyKeyReused
from healthcard.testing.assertions import refused
from healthcard.testing.world import Driver

KIOSK = Audit(actor="kiosk-7", channel=Channel.KIOSK, institution="H510100001")
OTHER_HOSPITAL = Audit(actor="kiosk-1", channel=Channel.KIOSK, institution="H510100002")
FIRST = RegisterCard(audit=KIOSK, name="张三", phone="13812345678", idempotency_key="req-1")


def test_a_retry_returns_the_same_card_and_writes_nothing(app: HealthCardApp) -> None:
    card_id = app.register(FIRST)
    head = app.recorder.max_notification_id()
    assert app.register(FIRST) == card_id
    assert app.recorder.max_notification_id() == head


@pytest.mark.parametrize(
    "other",
    [
        RegisterCard(audit=KIOSK, name="李四", phone="13812345678", idempotency_key="req-1"),
        RegisterCard(audit=KIOSK, name="张三", idempotency_key="req-1"),
        RegisterCard(audit=KIOSK, name="张三", phone="13812345678", volunteer="v-1",
                     idempotency_key="req-1"),
        RegisterCard(audit=KIOSK.model_copy(update={"channel": Channel.WINDOW}), name="张三",
                     phone="13812345678", idempotency_key="req-1"),
    ],
    ids=["name", "phone", "volunteer", "channel"],
)  # fmt: skip
def test_a_key_with_other_content_is_refused(app: HealthCardApp, other: RegisterCard) -> None:
    app.register(FIRST)
    error = refused(
        app, IdempotencyKeyReused, "idempotency_key_reused", lambda: app.register(other)
    )
    assert error.field == "idempotency_key"


def test_keys_are_scoped_per_institution(memory_app: HealthCardApp) -> None:
    mine = memory_app.register(FIRST)
    theirs = memory_app.register(FIRST.model_copy(update={"audit": OTHER_HOSPITAL}))
    assert mine != theirs


def test_card_ids_are_not_derivable_from_the_key() -> None:
    ids = []
    for lookup_key in (b"\x01" * 32, b"\x02" * 32):
        with HealthCardApp(
            memory_env(), clock=FakeClock(), config=HealthCardConfig(lookup_key=lookup_key)
        ) as app:
            ids.append(app.register(FIRST))
    assert ids[0] != ids[1]  # the id depends on the secret lookup key
    guesses = {uuid5(NAMESPACE, "register|req-1"), uuid5(NAMESPACE_URL, "req-1")}
    assert not guesses & set(ids)


def test_an_erased_card_is_never_handed_out_again(memory_app: HealthCardApp) -> None:
    card_id = memory_app.register(FIRST)
    memory_app.erase_personal_data(ErasePersonalData(audit=KIOSK, card_id=card_id))
    refused(memory_app, IdempotencyKeyReused, "idempotency_key_reused",
            lambda: memory_app.register(FIRST))  # fmt: skip


def test_an_appointment_key_for_another_card_is_refused(app: HealthCardApp) -> None:
    driver = Driver(app)
    session = driver.publish()
    cards = []
    for _ in range(2):
        card = driver.register()
        driver.complete_identity(card)
        cards.append(card)
    book = MakeAppointment(audit=KIOSK, session_id=session, card_id=cards[0], idempotency_key="b")
    appointment = app.make_appointment(book)
    assert app.make_appointment(book) == appointment  # a retry
    other = book.model_copy(update={"card_id": cards[1]})
    error = refused(
        app, IdempotencyKeyReused, "idempotency_key_reused", lambda: app.make_appointment(other)
    )
    assert not isinstance(error, DuplicateAppointment)
