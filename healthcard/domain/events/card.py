"""Events of the HealthCard aggregate (lifecycle steps 1-3 and 7)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints

from healthcard.domain.card_values import IssuerMode, PhotoRef
from healthcard.domain.events.base import DomainEvent, Upcaster, upcast_unchanged
from healthcard.domain.identity import IdentityDocument, PersonName, Sex
from healthcard.domain.personal import Personal
from healthcard.domain.phone import CnMobile
from healthcard.domain.relation import Relation
from healthcard.domain.text import Code, FreeText
from healthcard.domain.usage import TokenUse, UsageStep

HexId = Annotated[str, Personal]


class CardEvent(DomainEvent):
    """Base of the card's events (no topic of its own)."""


class Registered(CardEvent):
    """A card was registered through a channel; it is temporary until identity completes."""

    TOPIC = "healthcard.card.Registered"

    issuer_mode: IssuerMode
    name: PersonName
    phone: Annotated[CnMobile | None, Personal] = None
    photo: Annotated[PhotoRef | None, Personal] = None
    volunteer: Code | None = None


class IdentityCompleted(CardEvent):
    """A verified identity document made the card formal and gave it its EHC ID."""

    TOPIC = "healthcard.card.IdentityCompleted"

    document: Annotated[IdentityDocument, Personal]
    name: PersonName
    sex: Sex
    birth_date: Annotated[date, Personal]
    verified_by: Code
    main_index_id: HexId
    ehc_id: HexId


AccountReference = Annotated[UUID, Personal]
"""The account a card event names, sealed with the card's key (version 2 of the card's
events that name one): once the holder is erased, nothing in their card's history
says which phone or WeChat account it was bound to, or showed its QR code."""


class Bound(CardEvent):
    """The card was bound to a mobile account."""

    TOPIC = "healthcard.card.Bound"
    class_version = 2
    upcast_v1_v2: ClassVar[Upcaster] = staticmethod(upcast_unchanged)

    account_id: AccountReference
    relation: Relation


class Unbound(CardEvent):
    TOPIC = "healthcard.card.Unbound"
    class_version = 2
    upcast_v1_v2: ClassVar[Upcaster] = staticmethod(upcast_unchanged)

    account_id: AccountReference


class Frozen(CardEvent):
    TOPIC = "healthcard.card.Frozen"

    reason: FreeText


class Unfrozen(CardEvent):
    TOPIC = "healthcard.card.Unfrozen"


class Cancelled(CardEvent):
    """The card was cancelled for good; its document may be registered again."""

    TOPIC = "healthcard.card.Cancelled"

    reason: FreeText


class PersonalDataErased(CardEvent):
    """The holder's personal data was erased on request (PIPL Art. 47).

    Written before the holder's key is deleted; who and through which channel is in
    ``audit``, why in ``reason``. Clinical facts stay in the log, pseudonymous.
    """

    TOPIC = "healthcard.card.PersonalDataErased"

    reason: FreeText


# -- QR tokens ---------------------------------------------------------------

TokenNonce = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
"""A token's 8-byte nonce as 16 lower-case hex characters."""
TokenKeyId = Annotated[int, Field(ge=0, le=23)]


class TokenAccepted(CardEvent):
    """A signed QR token of this card was accepted once, for triage check-in.

    Saved in the same transaction as the session's ``CheckedIn`` (credential ``qr``),
    whose stored shape stays unchanged. The nonce is what makes a second use of the
    same token fail (replayed); ``token_expires_at`` lets the card forget it later.
    """

    TOPIC = "healthcard.card.TokenAccepted"
    class_version = 2
    upcast_v1_v2: ClassVar[Upcaster] = staticmethod(upcast_unchanged)

    nonce: TokenNonce
    key_id: TokenKeyId
    account_id: AccountReference
    use: TokenUse
    token_expires_at: AwareDatetime


class CardUsed(CardEvent):
    """The card was used at a point of care with a verified token: national step code;
    the channel (window, kiosk, doctor workstation, service account, mini program) is
    the audit's."""

    TOPIC = "healthcard.card.Used"
    class_version = 2
    upcast_v1_v2: ClassVar[Upcaster] = staticmethod(upcast_unchanged)

    step: UsageStep
    account_id: AccountReference
    token_nonce: TokenNonce
    key_id: TokenKeyId
    token_expires_at: AwareDatetime
