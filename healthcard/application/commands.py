"""Commands: the validated input of every use case (the library's boundary).

Each command is a frozen pydantic model. Constructing one with bad input raises
``InvalidInput`` naming the field, so a command that exists is a valid command and
the service never writes anything for bad input.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from healthcard.domain.audit import Audit
from healthcard.domain.boundary import BoundaryModel
from healthcard.domain.card_values import AccountKind, IssuerMode, PhotoRef, WechatOpenId
from healthcard.domain.clinic_values import Period
from healthcard.domain.identity import IdentityDocument, PersonName, Sex
from healthcard.domain.phone import CnMobile, normalise_cn_mobile
from healthcard.domain.relation import Relation
from healthcard.domain.text import Code, FreeText
from healthcard.domain.usage import POINT_OF_CARE_CHANNELS, TokenUse, UsageStep

IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]


class Command(BoundaryModel):
    """Base of commands: every command says who issues it, through which channel.

    ``command_id`` names this one request (a new random id unless given) and is
    recorded in the audit of every event the command writes. A caller that got no
    answer (``store_unavailable``) retries with the same command object, or the same
    ``command_id``: a command whose first attempt was saved then answers with that
    attempt's result (a registration or a booking without an idempotency key is found,
    not made twice; a bind, a check-in, a use returns what it returned), never a
    refusal for its own success. A new intention needs a new command.
    """

    audit: Audit
    command_id: UUID = Field(default_factory=uuid4)

    @cached_property
    def recorded_audit(self) -> Audit:
        """The audit its events record: the caller's, naming this command."""
        return self.audit.model_copy(update={"command_id": self.command_id})


class AccountRef(BoundaryModel):
    """A mobile account: a CN mobile number or a WeChat open id."""

    kind: AccountKind
    identifier: Annotated[str, Field(min_length=1, max_length=64)]

    # A field validator (not a model "after" one) so that its error becomes InvalidInput
    # instead of escaping BoundaryModel's wrap validator with the input in its text.
    @field_validator("identifier")
    @classmethod
    def _valid_identifier(cls, identifier: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is AccountKind.PHONE:
            return normalise_cn_mobile(identifier)
        if kind is AccountKind.WECHAT and (
            not (6 <= len(identifier) <= 64)
            or not all(c.isascii() and (c.isalnum() or c in "_-") for c in identifier)
        ):
            raise ValueError("a WeChat open id has 6-64 characters [A-Za-z0-9_-]")
        return identifier


class RegisterCard(Command):
    name: PersonName
    issuer_mode: IssuerMode = IssuerMode.PRODUCTION
    phone: CnMobile | None = None
    photo: PhotoRef | None = None
    volunteer: Code | None = None
    idempotency_key: IdempotencyKey | None = None


class CompleteIdentity(Command):
    """The institution in ``audit`` is the one that verified the document (Art. 13)."""

    card_id: UUID
    document: IdentityDocument
    name: PersonName
    sex: Sex
    birth_date: date


class BindCard(Command):
    card_id: UUID
    account: AccountRef
    relation: Relation = Relation.SELF


class UnbindCard(Command):
    card_id: UUID
    account: AccountRef


class PublishSession(Command):
    department: FreeText
    doctor: Code
    day: date
    period: Period
    capacity: Annotated[int, Field(ge=1, le=10_000)]


class MakeAppointment(Command):
    session_id: UUID
    card_id: UUID
    idempotency_key: IdempotencyKey | None = None


class CancelAppointment(Command):
    session_id: UUID
    appointment_id: UUID
    reason: FreeText = "patient_request"


class CheckInWithDocument(Command):
    """Check-in at the triage desk by showing the identity document (seed, note 3)."""

    session_id: UUID
    document: IdentityDocument


class FreezeCard(Command):
    card_id: UUID
    reason: FreeText


class UnfreezeCard(Command):
    card_id: UUID


class CancelCard(Command):
    card_id: UUID
    reason: FreeText


class ErasePersonalData(Command):
    """Erase a card holder's personal data on request (PIPL Art. 47).

    The card is cancelled, its personal fields become unreadable (its key is deleted),
    and so are those of accounts bound to it as ``01`` (self), which are the holder's
    own phone or WeChat accounts. Appointments, check-ins and card uses stay.
    """

    card_id: UUID
    reason: FreeText = "pipl_art47_request"


# -- QR tokens ---------------------------------------------------------------

TokenText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""A scanned QR token text (``EH1:...``); never stripped: base45 text may hold spaces."""


class IssueToken(Command):
    """Issue a signed QR token for a normal card to an account it is bound to now.

    ``audit`` is the channel the holder opened the code in (service account, app...).
    The lifetime is capped at 255 s so that every token fits QR version 7-M.
    """

    card_id: UUID
    account: AccountRef
    use: TokenUse = TokenUse.ANY
    lifetime_seconds: Annotated[int, Field(ge=1, le=255)] = 60


class CheckInWithQr(Command):
    """Check-in at the triage desk with the QR token shown by a bound phone (seed)."""

    session_id: UUID
    token: TokenText


class UseCard(Command):
    """The card used at a point of care (national step code), driven by a scanned token.

    The channel is the audit's and must be a point-of-care channel: window, kiosk,
    doctor workstation, service account (WeChat official account) or mini program.
    """

    token: TokenText
    step: UsageStep

    @field_validator("audit")
    @classmethod
    def _point_of_care(cls, audit: Audit) -> Audit:
        if audit.channel not in POINT_OF_CARE_CHANNELS:
            raise ValueError("the channel must be a point of care")
        return audit


__all__ = [
    "AccountRef",
    "BindCard",
    "CancelAppointment",
    "CancelCard",
    "CheckInWithDocument",
    "CheckInWithQr",
    "Command",
    "CompleteIdentity",
    "ErasePersonalData",
    "FreezeCard",
    "IssueToken",
    "MakeAppointment",
    "PublishSession",
    "RegisterCard",
    "UnbindCard",
    "UnfreezeCard",
    "UseCard",
    "WechatOpenId",
]
