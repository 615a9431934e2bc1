"""Events of the Account aggregate: the cards a mobile account holds (family cap)."""

from __future__ import annotations

from typing import Annotated, ClassVar
from uuid import UUID

from healthcard.domain.card_values import AccountKind
from healthcard.domain.events.base import DomainEvent, Upcaster, upcast_unchanged
from healthcard.domain.personal import Personal
from healthcard.domain.relation import Relation
from healthcard.domain.text import FreeText


class AccountOpened(DomainEvent):
    TOPIC = "healthcard.account.Opened"

    kind: AccountKind
    identifier: Annotated[str, Personal]


CardReference = Annotated[UUID, Personal]
"""The card an account event names, sealed with the account's key (version 2): the
cards of one family account cannot be read together from the log without it, and an
erased account names none of them."""


class CardAdded(DomainEvent):
    TOPIC = "healthcard.account.CardAdded"
    class_version = 2
    upcast_v1_v2: ClassVar[Upcaster] = staticmethod(upcast_unchanged)

    card_id: CardReference
    relation: Relation


class CardRemoved(DomainEvent):
    TOPIC = "healthcard.account.CardRemoved"
    class_version = 2
    upcast_v1_v2: ClassVar[Upcaster] = staticmethod(upcast_unchanged)

    card_id: CardReference


class AccountErased(DomainEvent):
    """The account's identifier was erased with the personal data of a holder: the
    holder's own account, or any account left holding no card by the erasure."""

    TOPIC = "healthcard.account.Erased"

    reason: FreeText
