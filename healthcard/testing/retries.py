"""Every writing command, set up to be sent again the way a caller that heard nothing
sends it: the same command object, so the same ``command_id``.

Why a table in the kit: the retry rule ("a retried command answers with its first
result and writes nothing") is one rule over every command, tested against several
faults (a plain resend, a commit whose reply was lost, the server gone after the
commit). Each entry prepares what the command needs through a :class:`Driver` and
returns the command with the service method that runs it and the topic of the event
it writes once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from healthcard.application.commands import (
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CheckInWithQr,
    Command,
    CompleteIdentity,
    ErasePersonalData,
    FreezeCard,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UnfreezeCard,
    UseCard,
)
from healthcard.domain.audit import Channel
from healthcard.domain.clinic_values import Period
from healthcard.domain.usage import TokenUse, UsageStep
from healthcard.testing.world import Driver, person, phone_account


@dataclass(frozen=True)
class Retried:
    """A command ready to run (``run(command)``) whose first event has ``topic``."""

    command: Command
    run: Callable[[Any], object]
    topic: str


Setup = Callable[[Driver], Retried]


def _formal(d: Driver, serial: int) -> UUID:
    card = d.register()
    d.complete_identity(card, person(serial))
    return card


def register(d: Driver) -> Retried:
    return Retried(
        RegisterCard(audit=d.audit(), name="王芳"), d.app.register, "healthcard.card.Registered"
    )


def register_with_key(d: Driver) -> Retried:
    command = RegisterCard(audit=d.audit(), name="王芳", idempotency_key="kiosk-7-0001")
    return Retried(command, d.app.register, "healthcard.card.Registered")


def complete_identity(d: Driver) -> Retried:
    who = person(2)
    command = CompleteIdentity(
        audit=d.audit(),
        card_id=d.register(),
        document=who.document,
        name=who.name,
        sex=who.sex,
        birth_date=who.birth_date,
    )
    return Retried(command, d.app.complete_identity, "healthcard.card.IdentityCompleted")


def bind(d: Driver) -> Retried:
    command = BindCard(audit=d.audit(), card_id=_formal(d, 3), account=phone_account(3))
    return Retried(command, d.app.bind, "healthcard.card.Bound")


def unbind(d: Driver) -> Retried:
    card = _formal(d, 4)
    account = d.bind(card, phone_account(4))
    command = UnbindCard(audit=d.audit(), card_id=card, account=account)
    return Retried(command, d.app.unbind, "healthcard.card.Unbound")


def freeze(d: Driver) -> Retried:
    command = FreezeCard(audit=d.audit(), card_id=_formal(d, 5), reason="lost_phone")
    return Retried(command, d.app.freeze, "healthcard.card.Frozen")


def unfreeze(d: Driver) -> Retried:
    card = _formal(d, 6)
    d.freeze(card)
    return Retried(
        UnfreezeCard(audit=d.audit(), card_id=card), d.app.unfreeze, "healthcard.card.Unfrozen"
    )


def cancel_card(d: Driver) -> Retried:
    command = CancelCard(audit=d.audit(), card_id=_formal(d, 7), reason="request")
    return Retried(command, d.app.cancel_card, "healthcard.card.Cancelled")


def erase(d: Driver) -> Retried:
    command = ErasePersonalData(audit=d.audit(), card_id=_formal(d, 8))
    return Retried(command, d.app.erase_personal_data, "healthcard.card.PersonalDataErased")


def publish(d: Driver) -> Retried:
    command = PublishSession(
        audit=d.audit(Channel.SYSTEM),
        department="internal_medicine",
        doctor="dr-retry",
        day=d.today,
        period=Period.AFTERNOON,
        capacity=5,
    )
    return Retried(command, d.app.publish_session, "healthcard.session.Published")


def book(d: Driver) -> Retried:
    command = MakeAppointment(
        audit=d.audit(Channel.APP), session_id=d.publish(), card_id=_formal(d, 9)
    )
    return Retried(command, d.app.make_appointment, "healthcard.session.AppointmentMade")


def cancel_appointment(d: Driver) -> Retried:
    session = d.publish()
    appointment = d.book(session, _formal(d, 10))
    command = CancelAppointment(
        audit=d.audit(Channel.APP), session_id=session, appointment_id=appointment
    )
    return Retried(command, d.app.cancel_appointment, "healthcard.session.AppointmentCancelled")


def check_in_with_document(d: Driver) -> Retried:
    session, who = d.publish(), person(11)
    card = d.register()
    d.complete_identity(card, who)
    d.book(session, card)
    command = CheckInWithDocument(
        audit=d.audit(Channel.TRIAGE_DESK), session_id=session, document=who.document
    )
    return Retried(command, d.app.check_in_with_document, "healthcard.session.CheckedIn")


def check_in_with_qr(d: Driver) -> Retried:
    session, card = d.publish(), _formal(d, 12)
    account = d.bind(card, phone_account(12))
    d.book(session, card)
    command = CheckInWithQr(
        audit=d.audit(Channel.TRIAGE_DESK),
        session_id=session,
        token=d.token(card, account, TokenUse.TRIAGE),
    )
    return Retried(command, d.app.check_in_with_qr, "healthcard.card.TokenAccepted")


def use_card(d: Driver) -> Retried:
    card = _formal(d, 13)
    account = d.bind(card, phone_account(13))
    command = UseCard(
        audit=d.audit(Channel.DOCTOR_WORKSTATION),
        token=d.token(card, account),
        step=UsageStep.DIAGNOSIS,
    )
    return Retried(command, d.app.use_card, "healthcard.card.Used")


RETRIED: dict[str, Setup] = {
    "register": register,
    "register with idempotency key": register_with_key,
    "complete identity": complete_identity,
    "bind": bind,
    "unbind": unbind,
    "freeze": freeze,
    "unfreeze": unfreeze,
    "cancel card": cancel_card,
    "erase personal data": erase,
    "publish session": publish,
    "book": book,
    "cancel appointment": cancel_appointment,
    "check in with document": check_in_with_document,
    "check in with QR": check_in_with_qr,
    "use card": use_card,
}
"""Every command that writes, by name (issuing a token writes nothing)."""

__all__ = ["RETRIED", "Retried", "Setup"]
