"""The authorisation hook: asked first, for every command, and failing closed.

A refusal must happen before anything is loaded (so an unknown card gives
``not_authorised``, not ``card_not_found``: a refused caller learns nothing about what
exists) and must write nothing; only ``True`` lets a command run.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.application import commands as commands_module
from healthcard.application.commands import (
    Command,
    ErasePersonalData,
    FreezeCard,
    RegisterCard,
    UnfreezeCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import CardStatus
from healthcard.domain.errors import CardNotFound, NotAuthorised
from healthcard.testing.assertions import log_position, refused
from healthcard.testing.authorisation import RecordingAuthoriser, command_methods
from healthcard.testing.profiles import property_settings, scaled
from healthcard.testing.strategies.commands import command_strategies
from healthcard.testing.world import Driver

COMMAND_CLASSES = sorted(
    (
        cls
        for _, cls in inspect.getmembers(commands_module, inspect.isclass)
        if issubclass(cls, Command) and cls is not Command
    ),
    key=lambda cls: cls.__name__,
)


@pytest.fixture
def denied() -> Iterator[tuple[HealthCardApp, RecordingAuthoriser]]:
    authoriser = RecordingAuthoriser(answer=False)
    application = HealthCardApp(memory_env(), clock=FakeClock(), authoriser=authoriser)
    try:
        yield application, authoriser
    finally:
        application.close()


def test_every_command_class_has_one_method() -> None:
    application = HealthCardApp(memory_env(), clock=FakeClock())
    try:
        assert sorted(command_methods(application), key=lambda c: c.__name__) == COMMAND_CLASSES
    finally:
        application.close()
    assert set(command_strategies()) == set(COMMAND_CLASSES)


@pytest.mark.parametrize("command_class", COMMAND_CLASSES, ids=lambda cls: cls.__name__)
@settings(property_settings(), max_examples=scaled(10))
@given(data=st.data())
def test_a_refused_command_is_refused_before_anything_is_loaded(
    command_class: type[Command], data: st.DataObject
) -> None:
    """Random ids name nothing: without the hook first these would be not-found errors."""
    authoriser = RecordingAuthoriser(answer=False)
    application = HealthCardApp(memory_env(), clock=FakeClock(), authoriser=authoriser)
    try:
        command = data.draw(command_strategies()[command_class])
        run = command_methods(application)[command_class]
        error = refused(application, NotAuthorised, "not_authorised", lambda: run(command))
        assert (
            error.to_dict()["message"]
            == f"{command_class.__name__} is not authorised for this caller"
        )
        assert authoriser.asked == [(command, command.audit)]
        assert log_position(application) == 0
    finally:
        application.close()


def test_the_caller_is_the_commands_audit_and_it_is_asked_once() -> None:
    authoriser = RecordingAuthoriser(answer=True)
    application = HealthCardApp(memory_env(), clock=FakeClock(), authoriser=authoriser)
    try:
        card_id = Driver(application).register()
        ((command, caller),) = authoriser.asked
        assert isinstance(command, RegisterCard)
        assert caller is command.audit
        assert application.card(card_id).name == "王芳"
    finally:
        application.close()


def test_an_allowed_command_still_meets_the_rules(audit: Audit) -> None:
    """The hook comes first, then everything else: an unknown card is still not found."""
    authoriser = RecordingAuthoriser(answer=True)
    application = HealthCardApp(memory_env(), clock=FakeClock(), authoriser=authoriser)
    try:
        unknown = FreezeCard(audit=audit, card_id=uuid4(), reason="lost")
        refused(application, CardNotFound, "card_not_found", lambda: application.freeze(unknown))
        assert len(authoriser.asked) == 1
    finally:
        application.close()


@pytest.mark.parametrize(
    "answer", [False, None, 1, "yes", object()], ids=["false", "none", "one", "yes", "object"]
)
def test_only_true_allows(answer: object, audit: Audit) -> None:
    application = HealthCardApp(
        memory_env(), clock=FakeClock(), authoriser=RecordingAuthoriser(answer=answer)
    )
    try:
        refused(
            application,
            NotAuthorised,
            "not_authorised",
            lambda: application.register(RegisterCard(audit=audit, name="王芳")),
        )
    finally:
        application.close()


def test_a_staff_rule_refuses_a_kiosk_freeze_and_allows_the_window() -> None:
    """A role rule of the kind an app writes: only window staff freeze or unfreeze."""

    def staff_only(command: Command, caller: Audit) -> bool:
        if isinstance(command, FreezeCard | UnfreezeCard):
            return caller.channel is Channel.WINDOW and caller.actor.startswith("staff-")
        return True

    application = HealthCardApp(
        memory_env(), clock=FakeClock(), authoriser=RecordingAuthoriser(rule=staff_only)
    )
    try:
        driver = Driver(application)
        card_id = driver.register()
        driver.complete_identity(card_id)
        kiosk = Audit(actor="kiosk-7", channel=Channel.KIOSK, institution="H510100001")
        freeze_at_kiosk = FreezeCard(audit=kiosk, card_id=card_id, reason="lost")
        refused(
            application,
            NotAuthorised,
            "not_authorised",
            lambda: application.freeze(freeze_at_kiosk),
        )
        assert application.card(card_id).status is CardStatus.NORMAL
        application.freeze(FreezeCard(audit=driver.audit(), card_id=card_id, reason="lost"))
        assert application.card(card_id).status is CardStatus.FROZEN
    finally:
        application.close()


def test_an_authoriser_that_raises_propagates_and_writes_nothing(audit: Audit) -> None:
    class DirectoryDown(Exception):
        pass

    def unreachable(command: Command, caller: Audit) -> bool:
        raise DirectoryDown

    application = HealthCardApp(memory_env(), clock=FakeClock(), authoriser=unreachable)
    try:
        with pytest.raises(DirectoryDown):
            application.register(RegisterCard(audit=audit, name="王芳"))
        assert log_position(application) == 0
    finally:
        application.close()


def test_a_refused_erasure_keeps_the_keys(
    denied: tuple[HealthCardApp, RecordingAuthoriser],
) -> None:
    """Erasure deletes keys after saving: a refusal must reach neither step."""
    application, authoriser = denied
    authoriser.answer = True
    driver = Driver(application)
    card_id = driver.register(name="李四")
    authoriser.answer = False
    erase = ErasePersonalData(audit=driver.audit(), card_id=card_id, reason="holder_request")
    refused(
        application, NotAuthorised, "not_authorised", lambda: application.erase_personal_data(erase)
    )
    assert application.card(card_id).name == "李四"
