"""Rules that span aggregates: what cancelling or erasing a card does beyond the card.

Why here: a card's cancellation must free its places in the family accounts that
hold it and release the claim on its identity document, and an erasure must also erase the
accounts it leaves holding no card. Those are rules of the domain, not of the service.
The service hands in a :class:`Related` port to load the aggregates a rule reaches
for, calls one function, and saves everything it returns in one atomic ``save()``,
so a conflict on any of them retries the whole command and nothing is half-done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from healthcard.domain.account import Account
from healthcard.domain.aggregate import Aggregate
from healthcard.domain.audit import Audit
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import CardStatus
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.identity import IdentityDocument


class Related(Protocol):
    """How a policy reaches the aggregates around a card (the service loads them)."""

    def account(self, account_id: UUID) -> Account:
        """The account with this id (it exists: the card's bindings name it)."""
        ...

    def claim_of(self, document: IdentityDocument) -> DocumentClaim:
        """The claim on this document (it exists: the card's identity made it)."""
        ...


def holder_accounts(card: HealthCard) -> tuple[UUID, ...]:
    """The holder's own accounts: every account ever bound to the card as relation 01
    (self) — bound now, before the card was cancelled, or unbound since (a phone the
    holder unbound still carries their number)."""
    return tuple(card.own_accounts)


def bound_accounts(card: HealthCard) -> tuple[UUID, ...]:
    """Every account ever bound to the card, in binding order: the holder's own and
    the relatives' that hold (or held) the card. An erasure erases those of them that
    hold no other card, whoever's they are: an account whose only card is erased would
    otherwise keep a live phone number beside the erased card's binding."""
    return tuple(card.bound_accounts)


def cancel_card(
    card: HealthCard, reason: str, related: Related, *, audit: Audit, at: datetime
) -> list[Aggregate]:
    """Cancel the card for good, free its family slots and release its document.

    Returns every changed aggregate, the card first, to be saved together.
    """
    card.cancel(reason, audit=audit, at=at)
    return [card, *_cancellation_effects(card, related, audit=audit, at=at)]


def _cancellation_effects(
    card: HealthCard, related: Related, *, audit: Audit, at: datetime
) -> list[Aggregate]:
    """After the card is cancelled: remove it from its accounts, release its document."""
    changed: list[Aggregate] = []
    for account_id in card.former_accounts:
        account = related.account(account_id)
        account.remove_card(card.id, audit=audit, at=at)
        changed.append(account)
    if card.document is not None:
        claim = related.claim_of(card.document)
        claim.release(card.id, audit=audit, at=at)
        changed.append(claim)
    return changed


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure recorded, and whose keys must be destroyed afterwards."""

    changed: list[Aggregate]
    """Aggregates with new events, the card first (empty when erased before)."""
    subjects: tuple[UUID, ...]
    """The card and the accounts erased with it: their per-person keys go."""


def erase_card(
    card: HealthCard, reason: str, related: Related, *, audit: Audit, at: datetime
) -> Erasure:
    """Erase the holder's personal data: cancel first (while the card still knows its
    document and accounts), then record the erasure on the card and on every account
    ever bound to it that holds no other card.

    Why "no other card": relation 01 (self) is declared by whoever binds, and a family
    account holds other people's cards; erasing an account that still holds a card
    would erase that person. Such an account only loses this card's binding (the
    cancellation removed it). Erasing an erased card records nothing and names the
    same subjects, so running it again completes an erasure interrupted before its
    keys were deleted.
    """
    bound = bound_accounts(card)
    if card.erased:
        return Erasure([], (card.id, *(a for a in bound if related.account(a).erased)))
    changed: dict[UUID, Aggregate] = {card.id: card}
    if card.status is not CardStatus.CANCELLED:
        card.cancel(reason, audit=audit, at=at)
        changed.update((a.id, a) for a in _cancellation_effects(card, related, audit=audit, at=at))
    card.erase_personal_data(reason, audit=audit, at=at)
    erased: list[UUID] = []
    for account_id in bound:
        loaded = changed.get(account_id)
        account = loaded if isinstance(loaded, Account) else related.account(account_id)
        if account.cards or account.erased:  # another card lives on it, or erased before
            continue
        account.erase(reason, audit=audit, at=at)
        changed[account_id] = account
        erased.append(account_id)
    return Erasure(list(changed.values()), (card.id, *erased))


__all__ = ["Erasure", "Related", "bound_accounts", "cancel_card", "erase_card", "holder_accounts"]
