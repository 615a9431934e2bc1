"""Finding the aggregates a natural key names: a document's claim, a phone's account.

Why not a stream id derived from the natural key alone (0.1.0's keyed hash): whoever
holds the database and the lookup key derives it again from a document or a phone
number, and the stream it names keeps an erased card's claim and bindings forever,
with times equal to those of the card's own events, joined to every later card of the
same person. Here the natural key leads to a *locator* in the key store (wrapped under
the KEK like the keys, see ``Locators``) that names a random stream. An erasure deletes
the locators of the streams it closes, so nothing derivable from the document or the
number leads to the erased person's streams any more, and a later registration or
binding starts new ones.

A stream a locator has left is never used again: a released claim is closed (the next
registration moves the locator to a new stream), an erased account stays erased. The
set rules stay with the aggregates: racing registrations are handed the same stream
(``locate_or_assign``) and conflict on it, as before.

Streams written by 0.1.0 keep their keyed-hash ids: they are found as before while
they hold a card (their records cannot be rewritten, ``docs/privacy.md``). A key store
without locators (a KMS behind the plain ``KeyStore``) keeps 0.1.0's ids throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from healthcard.adapters.privacy.keystore import Locators
from healthcard.application.keyed_ids import (
    account_id,
    account_ids,
    account_locator,
    document_claim_id,
    document_locator,
)
from healthcard.domain.account import Account
from healthcard.domain.aggregate import Aggregate
from healthcard.domain.card_values import AccountKind
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.identity import IdentityDocument

A = TypeVar("A", bound=Aggregate)

MOVES = 5
"""Closed streams a locator may move past in one command before it counts as a conflict
(each move needs another command to close the new stream meanwhile)."""


class Finder(Protocol):
    """Loads an aggregate of a class by id, ``None`` when it has no events."""

    def __call__(self, cls: type[A], aggregate_id: UUID, /) -> A | None: ...


Forget = tuple[UUID, UUID]
"""A locator to delete: (natural key, the stream it must still lead to)."""


class NaturalKeys:
    """The service's way from a document or an account reference to its aggregate."""

    def __init__(
        self,
        find: Finder,
        locators: Locators | None,
        lookup_key: bytes,
        new_id: Callable[[], UUID],
    ) -> None:
        self._find = find
        self._locators = locators
        self._key = lookup_key
        self._new_id = new_id

    # -- document claims --------------------------------------------------------------

    def claim(self, document: IdentityDocument) -> DocumentClaim | None:
        """The claim on ``document``: the one holding it, else the latest (or None)."""
        located = self._located(DocumentClaim, document_locator(self._key, document))
        if located is not None and located.holder is not None:
            return located
        legacy = self._find(DocumentClaim, document_claim_id(self._key, document))
        if legacy is not None and legacy.holder is not None:
            return legacy
        return located or legacy

    def claim_to_take(self, document: IdentityDocument) -> tuple[UUID, DocumentClaim | None]:
        """Where a registration claims ``document``: the claim holding it (claiming it
        again raises ``DocumentAlreadyRegistered``), else an open or new stream."""
        current = self.claim(document)
        if current is not None and current.holder is not None:
            return current.id, current
        if self._locators is None:
            the_id = document_claim_id(self._key, document)
            return the_id, self._find(DocumentClaim, the_id)
        natural = document_locator(self._key, document)
        return self._open_stream(DocumentClaim, natural, lambda c: c.holder is None)

    # -- accounts -----------------------------------------------------------------------

    def account(self, kind: AccountKind, identifier: str) -> Account | None:
        """The account of ``identifier``: the live one, else the latest (or None)."""
        located = self._located(Account, account_locator(self._key, kind, identifier))
        if located is not None and not located.erased:
            return located
        legacy = self._find(Account, account_id(self._key, kind, identifier))
        if legacy is not None and legacy.erased and self._locators is None:
            _, later = self._after_erasures(kind, identifier)
            legacy = later or legacy
        if legacy is not None and not legacy.erased:
            return legacy
        return located or legacy

    def account_to_bind(self, kind: AccountKind, identifier: str) -> tuple[UUID, Account | None]:
        """Where a binding adds a card: the live account, else a new stream."""
        current = self.account(kind, identifier)
        if current is not None and not current.erased:
            return current.id, current
        if self._locators is None:
            return self._after_erasures(kind, identifier)
        natural = account_locator(self._key, kind, identifier)
        return self._open_stream(Account, natural, lambda a: a.erased)

    def _after_erasures(self, kind: AccountKind, identifier: str) -> tuple[UUID, Account | None]:
        """Without locators (0.1.0's ids): an erased account's key is gone for good, so
        its number moves on to the next id of a sequence anyone with the lookup key
        derives (no unlinkability: ``docs/privacy.md``)."""
        for the_id in account_ids(self._key, kind, identifier):
            found = self._find(Account, the_id)
            if found is None or not found.erased:
                return the_id, found
        raise AssertionError("unreachable: the sequence is endless")  # pragma: no cover

    # -- erasure ------------------------------------------------------------------------

    def closed_by_erasure(
        self, documents: Iterable[IdentityDocument], accounts: Iterable[Account]
    ) -> list[Forget]:
        """The locators an erasure deletes: each erased card's document's, unless
        another card holds it now, and each erased account's (``accounts`` as they were
        before their erasure, when their numbers could still be read)."""
        if self._locators is None:
            return []
        closed: list[Forget] = []
        for document in documents:
            natural = document_locator(self._key, document)
            stream = self._locators.locate(natural)
            claim = None if stream is None else self._find(DocumentClaim, stream)
            if stream is not None and (claim is None or claim.holder is None):
                closed.append((natural, stream))
        for account in accounts:
            if account.identifier is None:
                continue
            natural = account_locator(self._key, account.kind, account.identifier)
            if self._locators.locate(natural) == account.id:
                closed.append((natural, account.id))
        return closed

    def forget(self, closed: Iterable[Forget]) -> None:
        if self._locators is None:
            return
        for natural, stream in closed:
            self._locators.forget(natural, stream)

    # -- helpers ------------------------------------------------------------------------

    def _located(self, cls: type[A], natural: UUID) -> A | None:
        if self._locators is None:
            return None
        stream = self._locators.locate(natural)
        return None if stream is None else self._find(cls, stream)

    def _open_stream(
        self, cls: type[A], natural: UUID, closed: Callable[[A], bool]
    ) -> tuple[UUID, A | None]:
        """The stream the locator leads to, moved past closed streams (a new one when
        it led to a closed stream: delete it, assign again; racing callers agree)."""
        assert self._locators is not None  # noqa: S101 (callers checked)
        for _ in range(MOVES):
            stream = self._locators.locate_or_assign(natural, self._new_id())
            found = self._find(cls, stream)
            if found is None or not closed(found):
                return stream, found
            self._locators.forget(natural, stream)
        raise IntegrityError(f"the locator of a {cls.__name__} kept moving")


__all__ = ["Finder", "Forget", "NaturalKeys"]
