"""The HealthCard aggregate: registration, identity, bindings and status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from healthcard.domain.aggregate import Aggregate, applies
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.boundary import TRUSTED_CONTEXT
from healthcard.domain.card_values import CardKind, CardStatus, IssuerMode, PhotoRef
from healthcard.domain.clock import china_date
from healthcard.domain.errors import (
    AlreadyBound,
    CardNotActive,
    IdentityAlreadyCompleted,
    IdentityIncomplete,
    IdentityMismatch,
    InvalidInput,
    InvalidStatusChange,
    NotBound,
    TokenRejected,
    TokenRejectReason,
)
from healthcard.domain.events.card import (
    Bound,
    Cancelled,
    CardUsed,
    Frozen,
    IdentityCompleted,
    PersonalDataErased,
    Registered,
    TokenAccepted,
    Unbound,
    Unfrozen,
)
from healthcard.domain.identity import (
    DocumentType,
    IdentityDocument,
    Sex,
    resident_id_birth_date,
    resident_id_sex,
)
from healthcard.domain.personal import ERASED_DATE, ERASED_ID, ERASED_TEXT
from healthcard.domain.relation import Relation
from healthcard.domain.usage import (
    CHECK_IN_USES,
    REPLAY_MEMORY,
    USE_ALLOWS,
    PresentedToken,
    UsageStep,
)


@dataclass(frozen=True, slots=True)
class Registration:
    """What a card was registered with: a retried registration must repeat it."""

    issuer_mode: IssuerMode
    channel: Channel
    name: str = field(repr=False)
    phone: str | None = field(repr=False)
    photo: PhotoRef | None = field(repr=False)
    volunteer: str | None


PRUNE_NONCES_FROM = 64
"""Remembered nonces are first pruned when there are this many."""


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
        self.former_accounts: dict[UUID, Relation] = {}
        self.own_accounts: dict[UUID, None] = {}  # ever bound as 01 (self), in order
        self.bound_accounts: dict[UUID, None] = {}  # ever bound, in order
        self.erased = False
        self.registration: Registration | None = None  # as registered (None once erased)
        self.accepted_nonces: dict[str, datetime] = {}  # QR token nonce -> remember until
        self._prune_nonces_at = PRUNE_NONCES_FROM  # the size at which to forget old ones
        self.tokens_revoked_before: datetime | None = None  # the last freeze
        self.account_tokens_revoked_before: dict[UUID, datetime] = {}  # the last unbinding

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

    def erase_personal_data(self, reason: str, *, audit: Audit, at: datetime) -> None:
        """Record the erasure of a cancelled card; the service then deletes the key.

        Cancelled first, always: cancelling needs the document and the accounts, which
        the erasure makes unreadable (``healthcard.domain.policies.erase_card`` does both).
        Erasing an erased card records nothing.
        """
        if self.erased:
            return
        if self.status is not CardStatus.CANCELLED:
            raise InvalidStatusChange(self.id, self.status.value, "erase personal data")
        self._trigger(PersonalDataErased, reason=reason, audit=audit, at=at)

    # -- QR tokens ----------------------------------------------------------------

    def ensure_token_issuable(self, account_id: UUID) -> None:
        """A token is issued only for a normal card to an account it is bound to now."""
        self._require_status(CardStatus.NORMAL)
        if account_id not in self.accounts:
            raise NotBound(self.id)

    def token_issue_time(self, account_id: UUID, now: datetime) -> datetime:
        """The time a new token for ``account_id`` is to be stamped with: ``now``, or the
        next whole second when the card's last freeze or the account's last unbinding
        happened earlier in the current second.

        Why: a token's issue time has whole seconds, and a token issued before a
        revocation is refused for good; without this, a token issued in the same
        second as a freeze (an unfreeze right after it) would be revoked on arrival.
        The next second is well inside a verifier's clock-skew allowance (30 s by
        default), and a token issued *before* the revocation in that second is still
        refused (its stamp is the whole second, earlier than the revocation).
        """
        latest = self._tokens_revoked_before(account_id)
        whole = now.replace(microsecond=0)
        if latest is not None and whole < latest and latest.replace(microsecond=0) == whole:
            return whole + timedelta(seconds=1)
        return now

    def accept_token(
        self, token: PresentedToken, *, verifier_mode: IssuerMode, audit: Audit, at: datetime
    ) -> UUID:
        """Accept a verified token once, for triage check-in; returns the account that
        showed it. The service saves this with the session's check-in, in one save."""
        account_id = self.admit_token(token, verifier_mode)
        if token.use not in CHECK_IN_USES:
            raise TokenRejected(TokenRejectReason.WRONG_USE)
        self._trigger(
            TokenAccepted,
            nonce=token.nonce,
            key_id=token.key_id,
            account_id=account_id,
            use=token.use,
            token_expires_at=token.expires_at,
            audit=audit,
            at=at,
        )
        return account_id

    def use(
        self,
        token: PresentedToken,
        step: UsageStep,
        *,
        verifier_mode: IssuerMode,
        audit: Audit,
        at: datetime,
    ) -> UUID:
        """Record a use at a point of care (national step code) driven by a verified
        token, accepted once; returns the account that showed it."""
        account_id = self.admit_token(token, verifier_mode)
        if step not in USE_ALLOWS[token.use]:
            raise TokenRejected(TokenRejectReason.WRONG_USE)
        self._trigger(
            CardUsed,
            step=step,
            account_id=account_id,
            token_nonce=token.nonce,
            key_id=token.key_id,
            token_expires_at=token.expires_at,
            audit=audit,
            at=at,
        )
        return account_id

    def admit_token(self, token: PresentedToken, verifier_mode: IssuerMode) -> UUID:
        """The rules a signature cannot check, only the log: returns the bound account.

        Test cards' tokens never pass a production verifier (Art. 12); the card must be
        normal; the token's account tag must name exactly one account bound *now*; a
        token issued before the card's last freeze, or before the last unbinding of
        its account, is revoked for good (unfreezing or binding again revives none);
        and the nonce must be new (accepted once; two concurrent uses conflict on the
        card's version and the retry sees it).
        """
        if verifier_mode is IssuerMode.PRODUCTION and IssuerMode.TEST in (
            token.mode,
            self.issuer_mode,
        ):
            raise TokenRejected(TokenRejectReason.TEST_TOKEN_IN_PRODUCTION)
        if self.status is not CardStatus.NORMAL:
            raise TokenRejected(TokenRejectReason.CARD_NOT_ACTIVE)
        size = len(token.account_tag)
        bound = [a for a in self.accounts if size and a.bytes[:size] == token.account_tag]
        if len(bound) != 1:
            raise TokenRejected(TokenRejectReason.NOT_BOUND)
        revoked_before = self._tokens_revoked_before(bound[0])
        if revoked_before is not None and token.issued_at < revoked_before:
            raise TokenRejected(TokenRejectReason.REVOKED)
        if token.nonce in self.accepted_nonces:
            raise TokenRejected(TokenRejectReason.REPLAYED)
        return bound[0]

    def _tokens_revoked_before(self, account_id: UUID) -> datetime | None:
        """The later of the card's last freeze and ``account_id``'s last unbinding:
        tokens of that account issued before it are revoked."""
        moments = (self.tokens_revoked_before, self.account_tokens_revoked_before.get(account_id))
        return max((moment for moment in moments if moment is not None), default=None)

    def _remember_nonce(self, nonce: str, expires_at: datetime, now: datetime) -> None:
        """Remember ``nonce`` until ``REPLAY_MEMORY`` after its token's expiry.

        Nonces whose memory has ended are forgotten (their tokens are refused as
        expired anyway) when the memory has doubled since it was last pruned: each
        use costs amortised O(1), so a card used thousands of times replays in time
        linear in its events (pruning at every use made it quadratic), and the memory
        stays under twice the nonces still remembered.
        """
        nonces = self.accepted_nonces
        if len(nonces) >= self._prune_nonces_at:
            nonces = {n: until for n, until in nonces.items() if until >= now}
            self.accepted_nonces = nonces
            self._prune_nonces_at = max(PRUNE_NONCES_FROM, 2 * len(nonces))
        nonces[nonce] = expires_at + REPLAY_MEMORY

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

    def registered_as(self, registration: Registration) -> bool:
        """True when the card was registered with exactly these facts (a retried
        registration); an erased card no longer knows them."""
        return self.registration is not None and self.registration == registration

    @applies(Registered)
    def _registered(self, event: Registered) -> None:
        self.registration = Registration(
            issuer_mode=event.issuer_mode,
            channel=event.audit.channel,
            name=event.name,
            phone=event.phone,
            photo=event.photo,
            volunteer=event.volunteer,
        )
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
        if event.account_id == ERASED_ID:
            return  # the card's key is gone: which account it was bound to is unknown
        self.accounts[event.account_id] = event.relation
        self.bound_accounts[event.account_id] = None
        if event.relation is Relation.SELF:
            self.own_accounts[event.account_id] = None

    @applies(Unbound)
    def _unbound(self, event: Unbound) -> None:
        if event.account_id == ERASED_ID:
            return
        del self.accounts[event.account_id]
        self.account_tokens_revoked_before[event.account_id] = event.timestamp

    @applies(Frozen)
    def _frozen(self, event: Frozen) -> None:
        self.status = CardStatus.FROZEN
        self.tokens_revoked_before = event.timestamp

    @applies(Unfrozen)
    def _unfrozen(self, event: Unfrozen) -> None:
        self.status = CardStatus.NORMAL

    @applies(TokenAccepted)
    def _token_accepted(self, event: TokenAccepted) -> None:
        self._remember_nonce(event.nonce, event.token_expires_at, event.timestamp)

    @applies(CardUsed)
    def _used(self, event: CardUsed) -> None:
        self._remember_nonce(event.token_nonce, event.token_expires_at, event.timestamp)

    @applies(PersonalDataErased)
    def _erased(self, event: PersonalDataErased) -> None:
        # Wipe what this object holds too: a copy loaded before the erasure (another
        # process's aggregate cache) must not keep showing the person once it is
        # fast-forwarded. The values match what decoding gives without the key.
        self.erased = True
        self.registration = None
        self.name = ERASED_TEXT
        self.phone = None
        self.photo = None
        if self.document is not None:
            self.document = IdentityDocument.model_validate(
                {"type": DocumentType.OTHER, "number": ERASED_TEXT}, context=TRUSTED_CONTEXT
            )
        if self.birth_date is not None:
            self.birth_date = ERASED_DATE
        if self.main_index_id is not None:
            self.main_index_id = ERASED_TEXT
        if self.ehc_id is not None:
            self.ehc_id = ERASED_TEXT

    @applies(Cancelled)
    def _cancelled(self, event: Cancelled) -> None:
        # Cancelling removes the card from its accounts (in the same save), so its
        # bindings end here; they are kept as former bindings for erasure.
        self.status = CardStatus.CANCELLED
        self.former_accounts = self.accounts
        self.accounts = {}
