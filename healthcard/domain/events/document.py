"""Events of the DocumentClaim aggregate: which card holds an identity document.

The aggregate's id is derived from a keyed hash of the document, so these events
carry no personal data at all.
"""

from __future__ import annotations

from uuid import UUID

from healthcard.domain.events.base import DomainEvent


class DocumentClaimed(DomainEvent):
    TOPIC = "healthcard.document.Claimed"

    card_id: UUID


class DocumentReleased(DomainEvent):
    TOPIC = "healthcard.document.Released"

    card_id: UUID
