"""The HealthCard aggregate: registration, identity, bindings and status."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from healthcard.domain.aggregate import Aggregate, applies
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import CardKind, CardStatus, IssuerMode, PhotoRef
from healthcard.domain.clinic_values import china_date
from healthcard.domain.errors import (
    AlreadyBound,
    CardNotActive,
    IdentityAlreadyCompleted,
    IdentityIncomplete,
    IdentityMismatch,
    InvalidInput,
    InvalidStatusChange,
    NotBound,
)
from healthcard.domain.identity import (
    DocumentType,
    IdentityDocument,
    Sex,
    resident_id_birth_date,
    resident_id_sex,
)
from healthcard.domain.relation import Relation
from healthcard.events.card import (
    Bound,
    Cancelled,
    Frozen,
    IdentityCompleted,
    Registered,
    Unbound,
    Unfrozen,
)


class HealthCard(Aggregate):
    """A resident's electronic health card.

    Temporary when registered; formal once a verified identity document is added.
    Status moves normal <-> frozen, and to cancelled for good.
    """

    def _blank(self) -> None:
        self.status = CardStatus.NORMAL
        self.kind = CardKind.TEMPORARY
        self.issuer_mode = IssuerMode.PRODUCTION
        self.channel = Channel.SYSTEM
        self.registered_at: datetime | None = None
        self.name: str | None = None
        self.phone: str | None = None
        self.photo: PhotoRef | None = None
        self.volunteer: str | None = None
        self.document: IdentityDocument | None = None
        self.sex: Sex | None = None
        self.birth_date: date | None = None
        self.verified_by: str | None = None
        self.main_index_id: str | None = None
        self.ehc_id: str | None = None
        self.accounts: dict[UUID, Relation] = {}

    # -- commands ---------------------------------------------------------------

    @classmethod
    def register(
        cls,
        card_id: UUID,
        *,
        issuer_mode: IssuerMode,
        name: str,
        phone: str | None,
        photo: PhotoRef | None,
        volunteer: str | None,
        audit: Audit,
        at: datetime,
    ) -> HealthCard:
        """Register a temporary card through the audit's channel."""
        if volunteer is not None and audit.channel is not Channel.KIOSK:
            raise InvalidInput("volunteer", "volunteers assist at self-service kiosks only")
        card = cls.__new__(cls)
        Aggregate.__init__(card, card_id)
        card._blank()
        card._trigger(
            Registered,
            issuer_mode=issuer_mode,
            name=name,
            phone=phone,
            photo=photo,
            volunteer=volunteer,
            audit=audit,
            at=at,
        )
        return card

    def complete_identity(
        self,
        *,
        document: IdentityDocument,
        name: str,
        sex: Sex,
        birth_date: date,
        verified_by: str,
        main_index_id: str,
        ehc_id: str,
        audit: Audit,
        at: datetime,
    ) -> None:
        """Make the card formal with a document verified by an institution (Art. 13)."""
        self._require_status(CardStatus.NORMAL)
        if self.kind is CardKind.FORMAL:
            raise IdentityAlreadyCompleted(self.id)
        if birth_date > china_date(at):
            raise InvalidInput("birth_date", "a birth date cannot be in the future")
        if document.type is DocumentType.RESIDENT_ID:
            if resident_id_birth_date(document.number) != birth_date:
                raise IdentityMismatch("birth_date")
            if sex in (Sex.MALE, Sex.FEMALE) and resident_id_sex(document.number) != sex:
                raise IdentityMismatch("sex")
        self._trigger(
            IdentityCompleted,
            document=document,
            name=name,
            sex=sex,
            birth_date=birth_date,
            verified_by=verified_by,
            main_index_id=main_index_id,
            ehc_id=ehc_id,
            audit=audit,
            at=at,
        )

    def bind(self, account_id: UUID, relation: Relation, *, audit: Audit, at: datetime) -> None:
        self._require_status(CardStatus.NORMAL)
        if account_id in self.accounts:
            raise AlreadyBound(self.id)
        self._trigger(Bound, account_id=account_id, relation=relation, audit=audit, at=at)

    def unbind(self, account_id: UUID, *, audit: Audit, at: datetime) -> None:
        if account_id not in self.accounts:
            raise NotBound(self.id)
        self._trigger(Unbound, account_id=account_id, audit=audit, at=at)

    def freeze(self, reason: str, *, audit: Audit, at: datetime) -> None:
        if self.status is not CardStatus.NORMAL:
            raise InvalidStatusChange(self.id, self.status.value, "freeze")
        self._trigger(Frozen, reason=reason, audit=audit, at=at)

    def unfreeze(self, *, audit: Audit, at: datetime) -> None:
        if self.status is not CardStatus.FROZEN:
            raise InvalidStatusChange(self.id, self.status.value, "unfreeze")
        self._trigger(Unfrozen, audit=audit, at=at)

    def cancel(self, reason: str, *, audit: Audit, at: datetime) -> None:
        if self.status is CardStatus.CANCELLED:
            raise InvalidStatusChange(self.id, self.status.value, "cancel")
        self._trigger(Cancelled, reason=reason, audit=audit, at=at)

    # -- queries used by other aggregates ---------------------------------------

    @property
    def is_formal(self) -> bool:
        return self.kind is CardKind.FORMAL

    def ensure_can_book(self) -> None:
        """Raise unless the card is normal and has a verified identity."""
        self._require_status(CardStatus.NORMAL)
        if not self.is_formal:
            raise IdentityIncomplete(self.id)

    def ensure_active(self) -> None:
        self._require_status(CardStatus.NORMAL)

    def _require_status(self, wanted: CardStatus) -> None:
        if self.status is not wanted:
            raise CardNotActive(self.id, self.status.value)

    # -- state changes ------------------------------------------------------------

    @applies(Registered)
    def _registered(self, event: Registered) -> None:
        self.issuer_mode = event.issuer_mode
        self.channel = event.audit.channel
        self.registered_at = event.timestamp
        self.name = event.name
        self.phone = event.phone
        self.photo = event.photo
        self.volunteer = event.volunteer

    @applies(IdentityCompleted)
    def _identity_completed(self, event: IdentityCompleted) -> None:
        self.kind = CardKind.FORMAL
        self.document = event.document
        self.name = event.name
        self.sex = event.sex
        self.birth_date = event.birth_date
        self.verified_by = event.verified_by
        self.main_index_id = event.main_index_id
        self.ehc_id = event.ehc_id

    @applies(Bound)
    def _bound(self, event: Bound) -> None:
        self.accounts[event.account_id] = event.relation

    @applies(Unbound)
    def _unbound(self, event: Unbound) -> None:
        del self.accounts[event.account_id]

    @applies(Frozen)
    def _frozen(self, event: Frozen) -> None:
        self.status = CardStatus.FROZEN

    @applies(Unfrozen)
    def _unfrozen(self, event: Unfrozen) -> None:
        self.status = CardStatus.NORMAL

    @applies(Cancelled)
    def _cancelled(self, event: Cancelled) -> None:
        self.status = CardStatus.CANCELLED
