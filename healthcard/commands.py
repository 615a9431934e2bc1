"""Commands: the validated input of every use case (the library's boundary).

Each command is a frozen pydantic model. Constructing one with bad input raises
``InvalidInput`` naming the field, so a command that exists is a valid command and
the service never writes anything for bad input.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from healthcard.domain.audit import Audit, Code
from healthcard.domain.boundary import BoundaryModel
from healthcard.domain.card_values import AccountKind, IssuerMode, PhotoRef, WechatOpenId
from healthcard.domain.clinic_values import Period
from healthcard.domain.identity import IdentityDocument, PersonName, Sex
from healthcard.domain.phone import CnMobile, normalise_cn_mobile
from healthcard.domain.relation import Relation

IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]


class Command(BoundaryModel):
    """Base of commands: every command says who issues it, through which channel."""

    audit: Audit


class AccountRef(BoundaryModel):
    """A mobile account: a CN mobile number or a WeChat open id."""

    kind: AccountKind
    identifier: Annotated[str, Field(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _valid_identifier(self) -> Self:
        if self.kind is AccountKind.PHONE:
            object.__setattr__(self, "identifier", normalise_cn_mobile(self.identifier))
        elif not (6 <= len(self.identifier) <= 64) or not all(
            c.isascii() and (c.isalnum() or c in "_-") for c in self.identifier
        ):
            raise ValueError("a WeChat open id has 6-64 characters [A-Za-z0-9_-]")
        return self


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
    department: Code
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
    reason: Code = "patient_request"


class CheckInWithDocument(Command):
    """Check-in at the triage desk by showing the identity document (seed, note 3)."""

    session_id: UUID
    document: IdentityDocument


class FreezeCard(Command):
    card_id: UUID
    reason: Code


class UnfreezeCard(Command):
    card_id: UUID


class CancelCard(Command):
    card_id: UUID
    reason: Code


__all__ = [
    "AccountRef",
    "BindCard",
    "CancelAppointment",
    "CancelCard",
    "CheckInWithDocument",
    "Command",
    "CompleteIdentity",
    "FreezeCard",
    "MakeAppointment",
    "PublishSession",
    "RegisterCard",
    "UnbindCard",
    "UnfreezeCard",
    "WechatOpenId",
]
