"""Events of the Account aggregate: the cards a mobile account holds (family cap)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from healthcard.domain.card_values import AccountKind
from healthcard.domain.events.base import DomainEvent
from healthcard.domain.personal import Personal
from healthcard.domain.relation import Relation
from healthcard.domain.text import FreeText


class AccountOpened(DomainEvent):
    TOPIC = "healthcard.account.Opened"

    kind: AccountKind
    identifier: Annotated[str, Personal]


class CardAdded(DomainEvent):
    TOPIC = "healthcard.account.CardAdded"

    card_id: UUID
    relation: Relation


class CardRemoved(DomainEvent):
    TOPIC = "healthcard.account.CardRemoved"

    card_id: UUID


class AccountErased(DomainEvent):
    """The account holder's identifier was erased with the holder's personal data."""

    TOPIC = "healthcard.account.Erased"

    reason: FreeText
