"""The Account aggregate: the family cards one mobile account holds, under a cap.

Why an aggregate: the cap is a rule over a set (all cards of one account). Saving
the account together with the card, with optimistic concurrency, makes two
concurrent bindings conflict instead of both passing a stale count.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from healthcard.domain.aggregate import Aggregate, applies
from healthcard.domain.audit import Audit
from healthcard.domain.card_values import AccountKind
from healthcard.domain.errors import AlreadyBound, FamilyCapReached, NotBound
from healthcard.domain.events.account import AccountErased, AccountOpened, CardAdded, CardRemoved
from healthcard.domain.personal import ERASED_ID, ERASED_TEXT
from healthcard.domain.relation import Relation


class Account(Aggregate):
    """A WeChat account or phone number that holds cards (its own and its family's)."""

    def _blank(self) -> None:
        self.kind = AccountKind.PHONE
        self.identifier: str | None = None
        self.cards: dict[UUID, Relation] = {}
        self.erased = False

    @classmethod
    def open(
        cls, account_id: UUID, *, kind: AccountKind, identifier: str, audit: Audit, at: datetime
    ) -> Account:
        account = cls.__new__(cls)
        Aggregate.__init__(account, account_id)
        account._blank()
        account._trigger(AccountOpened, kind=kind, identifier=identifier, audit=audit, at=at)
        return account

    def add_card(
        self, card_id: UUID, relation: Relation, *, cap: int, audit: Audit, at: datetime
    ) -> None:
        if card_id in self.cards:
            raise AlreadyBound(card_id)
        if len(self.cards) >= cap:
            raise FamilyCapReached(cap)
        self._trigger(CardAdded, card_id=card_id, relation=relation, audit=audit, at=at)

    def remove_card(self, card_id: UUID, *, audit: Audit, at: datetime) -> None:
        if card_id not in self.cards:
            raise NotBound(card_id)
        self._trigger(CardRemoved, card_id=card_id, audit=audit, at=at)

    def erase(self, reason: str, *, audit: Audit, at: datetime) -> None:
        """Record that the holder's identifier is erased (the key is deleted after)."""
        if not self.erased:
            self._trigger(AccountErased, reason=reason, audit=audit, at=at)

    @applies(AccountErased)
    def _erased(self, event: AccountErased) -> None:
        self.erased = True
        self.identifier = ERASED_TEXT  # also in copies loaded before the erasure
        # An account is erased only once it holds no card; a copy loaded before, which
        # reads the last removal only after the key is gone, must agree.
        self.cards = {}

    @applies(AccountOpened)
    def _opened(self, event: AccountOpened) -> None:
        self.kind = event.kind
        self.identifier = event.identifier

    @applies(CardAdded)
    def _card_added(self, event: CardAdded) -> None:
        if event.card_id != ERASED_ID:  # the account's key is gone: the card is unknown
            self.cards[event.card_id] = event.relation

    @applies(CardRemoved)
    def _card_removed(self, event: CardRemoved) -> None:
        if event.card_id != ERASED_ID:
            del self.cards[event.card_id]
