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
from typing import Generic, NamedTuple, Protocol, TypeVar
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


class Located(NamedTuple, Generic[A]):
    """Where a locator leads: the stream (None: no locator) and its aggregate (None:
    no events yet)."""

    stream: UUID | None
    found: A | None


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
        return self._claim(document)[0]

    def claim_to_take(self, document: IdentityDocument) -> tuple[UUID, DocumentClaim | None]:
        """Where a registration claims ``document``: the claim holding it (claiming it
        again raises ``DocumentAlreadyRegistered``), else an open or new stream."""
        current, located = self._claim(document)
        if current is not None and current.holder is not None:
            return current.id, current
        if self._locators is None:
            the_id = document_claim_id(self._key, document)
            return the_id, self._find(DocumentClaim, the_id)
        natural = document_locator(self._key, document)
        return self._open_stream(DocumentClaim, natural, located, lambda c: c.holder is None)

    def _claim(
        self, document: IdentityDocument
    ) -> tuple[DocumentClaim | None, Located[DocumentClaim]]:
        """The claim on ``document`` (as :meth:`claim`), and where its locator leads."""
        located = self._located(DocumentClaim, document_locator(self._key, document))
        if located.found is not None and located.found.holder is not None:
            return located.found, located
        legacy = self._find(DocumentClaim, document_claim_id(self._key, document))
        if legacy is not None and legacy.holder is not None:
            return legacy, located
        return located.found or legacy, located

    # -- accounts -----------------------------------------------------------------------

    def account(self, kind: AccountKind, identifier: str) -> Account | None:
        """The account of ``identifier``: the live one, else the latest (or None)."""
        return self._account(kind, identifier)[0]

    def account_to_bind(self, kind: AccountKind, identifier: str) -> tuple[UUID, Account | None]:
        """Where a binding adds a card: the live account, else a new stream."""
        current, located = self._account(kind, identifier)
        if current is not None and not current.erased:
            return current.id, current
        if self._locators is None:
            return self._after_erasures(kind, identifier)
        natural = account_locator(self._key, kind, identifier)
        return self._open_stream(Account, natural, located, lambda a: a.erased)

    def _account(
        self, kind: AccountKind, identifier: str
    ) -> tuple[Account | None, Located[Account]]:
        """The account of ``identifier`` (as :meth:`account`), and where its locator leads."""
        located = self._located(Account, account_locator(self._key, kind, identifier))
        if located.found is not None and not located.found.erased:
            return located.found, located
        legacy = self._find(Account, account_id(self._key, kind, identifier))
        if legacy is not None and legacy.erased and self._locators is None:
            _, later = self._after_erasures(kind, identifier)
            legacy = later or legacy
        if legacy is not None and not legacy.erased:
            return legacy, located
        return located.found or legacy, located

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
            stream, claim = self._located(DocumentClaim, natural)
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

    def _located(self, cls: type[A], natural: UUID) -> Located[A]:
        if self._locators is None:
            return Located(None, None)
        stream = self._locators.locate(natural)
        return Located(stream, None if stream is None else self._find(cls, stream))

    def _open_stream(
        self, cls: type[A], natural: UUID, located: Located[A], closed: Callable[[A], bool]
    ) -> tuple[UUID, A | None]:
        """The stream the locator leads to (``located``: read already), moved past a
        closed stream: delete the locator if it still leads there, assign again (racing
        callers agree on the new one)."""
        assert self._locators is not None  # noqa: S101 (callers checked)
        stream, found = located
        for _ in range(MOVES):
            if stream is not None and (found is None or not closed(found)):
                return stream, found
            if stream is not None:
                self._locators.forget(natural, stream)
            proposed = self._new_id()
            stream = self._locators.locate_or_assign(natural, proposed)
            # Our own new id names a stream nobody has written yet (a racer that saves
            # first makes our save conflict, and the command is retried).
            found = None if stream == proposed else self._find(cls, stream)
        raise IntegrityError(f"the locator of a {cls.__name__} kept moving")


__all__ = ["Finder", "Forget", "NaturalKeys"]
