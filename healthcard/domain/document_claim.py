"""The DocumentClaim aggregate: one person, one card.

Its id is derived from a keyed hash (HMAC) of the document, so the claim can be
found from the document without storing or leaking the number, and two cards
racing for one document conflict on the same aggregate.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from healthcard.domain.aggregate import Aggregate, applies
from healthcard.domain.audit import Audit
from healthcard.domain.errors import DocumentAlreadyRegistered
from healthcard.domain.events.document import DocumentClaimed, DocumentReleased


class DocumentClaim(Aggregate):
    """Which card (if any) holds an identity document."""

    def _blank(self) -> None:
        self.holder: UUID | None = None

    @classmethod
    def start(cls, claim_id: UUID, card_id: UUID, *, audit: Audit, at: datetime) -> DocumentClaim:
        claim = cls.__new__(cls)
        Aggregate.__init__(claim, claim_id)
        claim._blank()
        claim.claim(card_id, audit=audit, at=at)
        return claim

    def claim(self, card_id: UUID, *, audit: Audit, at: datetime) -> None:
        if self.holder is not None:
            raise DocumentAlreadyRegistered(self.holder)
        self._trigger(DocumentClaimed, card_id=card_id, audit=audit, at=at)

    def release(self, card_id: UUID, *, audit: Audit, at: datetime) -> None:
        if self.holder == card_id:
            self._trigger(DocumentReleased, card_id=card_id, audit=audit, at=at)

    @applies(DocumentClaimed)
    def _claimed(self, event: DocumentClaimed) -> None:
        self.holder = event.card_id

    @applies(DocumentReleased)
    def _released(self, event: DocumentReleased) -> None:
        self.holder = None
