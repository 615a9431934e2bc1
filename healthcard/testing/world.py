"""A driver with defaults: one method per command, for examples, tests and sample logs.

Why: a test about the funnel, an export or an embedding example needs a handful of
cards taken through known steps, and writing every command in full buries what the
test is about. Each method runs exactly one command of the application (two for
:meth:`Driver.use`, which first issues the QR token it scans) with sensible
defaults, so the log is the one an app would have written. People are synthetic:
resident IDs are built from a serial number, valid and distinct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from healthcard.application import HealthCardApp
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CheckInWithQr,
    CompleteIdentity,
    FreezeCard,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UseCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind
from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import china_date
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex
from healthcard.domain.relation import Relation
from healthcard.domain.usage import TokenUse, UsageStep
from healthcard.testing.strategies import Person, with_check_digit

INSTITUTION = "H510107001"


def resident_id(born: date, order: int, area: str = "510104") -> IdentityDocument:
    """A valid resident ID born on ``born`` with 3-digit ``order`` (odd = male) in ``area``."""
    number = with_check_digit(f"{area}{born:%Y%m%d}{order:03d}")
    return IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)


def person(serial: int, *, name: str = "王芳") -> Person:
    """A synthetic person, distinct for each serial (resident ID from Chengdu Jinjiang)."""
    sex = Sex.MALE if serial % 2 else Sex.FEMALE
    born = date(1950, 1, 1) + timedelta(days=(serial * 7919) % 20_000)
    order = (serial // 2 % 500) * 2 + (1 if sex is Sex.MALE else 0)
    area = ("510104", "510105", "510106", "510107")[(serial // 1000) % 4]
    number = with_check_digit(f"{area}{born:%Y%m%d}{order:03d}")
    document = IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)
    return Person(document=document, name=name, sex=sex, birth_date=born)


def phone_account(serial: int) -> AccountRef:
    return AccountRef(kind=AccountKind.PHONE, identifier=f"139{serial:08d}")


@dataclass
class Driver:
    """Runs commands on ``app`` with defaults (window staff of one hospital)."""

    app: HealthCardApp
    serial: int = 0

    def audit(self, channel: Channel = Channel.WINDOW) -> Audit:
        return Audit(actor="staff-001", channel=channel, institution=INSTITUTION)

    @property
    def today(self) -> date:
        return china_date(self.app.clock())

    def register(self, channel: Channel = Channel.WINDOW, *, name: str = "王芳") -> UUID:
        return self.app.register(RegisterCard(audit=self.audit(channel), name=name))

    def complete_identity(self, card_id: UUID, who: Person | None = None) -> Person:
        if who is None:
            self.serial += 1
            who = person(self.serial)
        self.app.complete_identity(
            CompleteIdentity(
                audit=self.audit(),
                card_id=card_id,
                document=who.document,
                name=who.name,
                sex=who.sex,
                birth_date=who.birth_date,
            )
        )
        return who

    def bind(
        self, card_id: UUID, account: AccountRef | None = None, relation: Relation = Relation.SELF
    ) -> AccountRef:
        if account is None:
            self.serial += 1
            account = phone_account(self.serial)
        self.app.bind(
            BindCard(audit=self.audit(), card_id=card_id, account=account, relation=relation)
        )
        return account

    def publish(
        self, *, day: date | None = None, capacity: int = 10, doctor: str | None = None
    ) -> UUID:
        self.serial += 1
        return self.app.publish_session(
            PublishSession(
                audit=self.audit(Channel.SYSTEM),
                department="internal_medicine",
                doctor=doctor or f"dr-{self.serial:04d}",
                day=day if day is not None else self.today,
                period=Period.MORNING,
                capacity=capacity,
            )
        )

    def book(self, session_id: UUID, card_id: UUID) -> UUID:
        return self.app.make_appointment(
            MakeAppointment(audit=self.audit(Channel.APP), session_id=session_id, card_id=card_id)
        )

    def cancel_appointment(self, session_id: UUID, appointment_id: UUID) -> None:
        self.app.cancel_appointment(
            CancelAppointment(
                audit=self.audit(Channel.APP), session_id=session_id, appointment_id=appointment_id
            )
        )

    def check_in(self, session_id: UUID, who: Person) -> UUID:
        return self.app.check_in_with_document(
            CheckInWithDocument(
                audit=self.audit(Channel.TRIAGE_DESK), session_id=session_id, document=who.document
            )
        )

    def token(self, card_id: UUID, account: AccountRef, use: TokenUse = TokenUse.ANY) -> str:
        return self.app.issue_token(
            IssueToken(
                audit=self.audit(Channel.MINI_PROGRAM), card_id=card_id, account=account, use=use
            )
        )

    def check_in_with_qr(self, session_id: UUID, card_id: UUID, account: AccountRef) -> UUID:
        return self.app.check_in_with_qr(
            CheckInWithQr(
                audit=self.audit(Channel.TRIAGE_DESK),
                session_id=session_id,
                token=self.token(card_id, account),
            )
        )

    def use(
        self,
        card_id: UUID,
        account: AccountRef,
        step: UsageStep = UsageStep.DIAGNOSIS,
        channel: Channel = Channel.DOCTOR_WORKSTATION,
    ) -> None:
        """Issue a token to ``account`` and scan it at a point of care."""
        token = self.token(card_id, account)
        self.app.use_card(UseCard(audit=self.audit(channel), token=token, step=step))

    def freeze(self, card_id: UUID, reason: str = "lost_phone") -> None:
        self.app.freeze(FreezeCard(audit=self.audit(), card_id=card_id, reason=reason))

    def cancel_card(self, card_id: UUID, reason: str = "request") -> None:
        self.app.cancel_card(CancelCard(audit=self.audit(), card_id=card_id, reason=reason))


__all__ = ["INSTITUTION", "Driver", "person", "phone_account", "resident_id"]
