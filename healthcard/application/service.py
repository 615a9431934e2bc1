"""The application service: commands -> aggregates -> saved events.

Each method reads like eventsourcing's own examples: load the aggregates, call one
domain method (or one domain policy, for rules spanning aggregates), save them
together. ``save`` of several aggregates is one atomic transaction with optimistic
concurrency; a conflict (someone else saved first) is retried from a fresh load
(``retry_on_conflict``), so set rules (one card per document, the family cap,
session capacity) hold under concurrency without reading any projection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.persistence import (
    AggregateRecorder,
    IntegrityError,
    Mapper,
    OperationalError,
    ProgrammingError,
)
from eventsourcing.utils import strtobool

from healthcard.adapters.codec import OrjsonTranscoder, PydanticMapper
from healthcard.adapters.commit_faults import ConnectionFaults, watch_connection_faults
from healthcard.adapters.conflicts import conflicting_stream
from healthcard.adapters.national_ids import ehc_id, main_index_id
from healthcard.adapters.pg_pools import steady_reconnects
from healthcard.adapters.pg_turns import PostgresTurns
from healthcard.adapters.privacy.kek import KeyEncryptionKey
from healthcard.adapters.privacy.keystore import KeyStore, Locators
from healthcard.adapters.schema_lock import (
    creates_tables,
    postgres_conninfo,
    schema_creation_lock,
)
from healthcard.adapters.snapshots import CardSnapshots
from healthcard.application import erasures
from healthcard.application.authorisation import Authoriser, authorised
from healthcard.application.bootstrap import (
    collaborators,
    prepare_storage,
    seal_personal_fields,
    secrets,
)
from healthcard.application.combining import Combiner
from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CheckInWithQr,
    CompleteIdentity,
    ErasePersonalData,
    FreezeCard,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UnfreezeCard,
    UseCard,
)
from healthcard.application.config import HealthCardConfig
from healthcard.application.group_commit import GroupCommit, Member
from healthcard.application.keyed_ids import idempotency_id, idempotent_uuid
from healthcard.application.natural_keys import NaturalKeys
from healthcard.application.retry import retry_on_conflict, typed_store_faults
from healthcard.application.snapshotting import (
    SnapshottingRepository,
    snapshot_table_ready,
    take_due_snapshots,
)
from healthcard.domain import policies
from healthcard.domain.account import Account
from healthcard.domain.aggregate import Aggregate, WrongAggregateType
from healthcard.domain.card import HealthCard, Registration
from healthcard.domain.clinic_session import ClinicSession
from healthcard.domain.clinic_values import CheckInCredential
from healthcard.domain.clock import Clock
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.errors import (
    AppointmentNotFound,
    CardNotFound,
    ConfigurationError,
    IdempotencyKeyReused,
    NotFound,
    SessionAlreadyPublished,
    SessionNotFound,
    TokenRejected,
    TokenRejectReason,
)
from healthcard.domain.events import catalog
from healthcard.domain.events.account import AccountErased
from healthcard.domain.events.card import (
    Bound,
    Cancelled,
    CardEvent,
    CardUsed,
    Frozen,
    IdentityCompleted,
    PersonalDataErased,
    TokenAccepted,
    Unbound,
    Unfrozen,
)
from healthcard.domain.events.session import (
    AppointmentCancelled,
    CheckedIn,
    SessionPublished,
)
from healthcard.domain.identity import IdentityDocument
from healthcard.qr.issue import issue_token, token_mode
from healthcard.qr.keyring import Keyring
from healthcard.qr.token import TokenClaims
from healthcard.qr.verify import Verifier

A = TypeVar("A", bound=Aggregate)

log = logging.getLogger(__name__)

EVENT_TOPICS = catalog.registered_topics()  # every event class is loaded before decoding


class HealthCardApp(Application[UUID]):
    """The health card service. Persistence comes from eventsourcing's environment
    variables; by default a SQLite file ``healthcard.sqlite3`` in the working folder.
    Its collaborators (configuration, clock, per-person key store, QR keyring) come
    from :mod:`healthcard.application.bootstrap`: given, or read from the environment;
    ``kek`` (a key-encryption key, by default the keys folder's) wraps the per-person
    keys the built-in key stores keep (``docs/privacy.md``).
    An ``authoriser`` (:mod:`healthcard.application.authorisation`), when given, is
    asked before every command and refuses with ``NotAuthorised`` (``docs/security.md``).
    ``ids`` makes the random ids of the streams of claims and accounts:
    :func:`uuid.uuid4` by default, ``SeededIds`` for a reproducible simulated day
    (cards and appointments take their ids from the idempotency key, else from the
    command's ``command_id``).
    """

    name = "HealthCard"
    env: ClassVar[dict[str, str]] = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "healthcard.sqlite3",
        # Cached aggregates are fast-forwarded with newer events on every get (so
        # several processes stay correct) and copied cheaply (Aggregate.__deepcopy__).
        "AGGREGATE_CACHE_MAXSIZE": "2000",
        # PostgreSQL: wait at most 1 s for a pooled connection (eventsourcing's 30 s,
        # times its 10 attempts, kept a query waiting minutes through an outage).
        "POSTGRES_CONNECT_TIMEOUT": "1",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        config: HealthCardConfig | None = None,
        clock: Clock | None = None,
        keystore: KeyStore | None = None,
        keyring: Keyring | None = None,
        kek: KeyEncryptionKey | None = None,
        authoriser: Authoriser | None = None,
        ids: Callable[[], UUID] | None = None,
    ) -> None:
        self._authoriser = authoriser
        self.new_id = ids or uuid4
        # Keys are judged, and a new SQLite file made private, before eventsourcing
        # opens (and perhaps creates) anything: construct_env only merges settings.
        settings = self.construct_env(self.name, env)
        _refuse_snapshots(settings)
        resolved = secrets(
            settings, config=config, keyring=keyring, kek=kek, keystore_given=keystore is not None
        )
        prepare_storage(settings)
        with schema_creation_lock(settings):
            super().__init__(env)
            snapshot_recorder = (
                self.factory.aggregate_recorder(purpose="snapshots")
                if resolved.config.snapshot_interval
                else None
            )
        steady_reconnects(self.recorder)
        self._group: GroupCommit | None = None
        self._snapshots: CardSnapshots | None = None
        self._turns: PostgresTurns | None = None
        self._faults = ConnectionFaults()
        self._commits_may_go_unheard = watch_connection_faults(self.recorder, self._faults)
        if not creates_tables(settings):
            self._require_tables()
        try:
            parts = collaborators(self.env, clock=clock, keystore=keystore, kek=resolved.kek)
        except BaseException:
            super().close()
            raise
        self.config = resolved.config
        if self.config.group_commit_ms > 0:
            self._group = GroupCommit(
                self.config.group_commit_ms / 1000,
                self._write_all,
                self._write_one,
                culprit=conflicting_stream,
            )
        self.keyring = resolved.keyring
        self.kek = resolved.kek
        self.clock = parts.clock
        self.keystore = parts.keystore
        self._owns_keystore = parts.owns_keystore
        self._snapshots = self._card_snapshots(snapshot_recorder, settings)
        self._turns = (
            PostgresTurns(postgres_conninfo(self.env))
            if self.config.combine_session_commands
            and self.env.get("PERSISTENCE_MODULE", "").endswith("postgres")
            else None
        )
        self._sessions = Combiner(
            self.session,
            self.save,
            attempts=self.config.conflict_retries,
            combine=self.config.combine_session_commands,
            save_again=self._save_alone,
            turn=self._turns.turn if self._turns is not None else None,
            changed=lambda session: bool(session.pending_events),
        )
        seal_personal_fields(self.mapper, self.keystore)
        self.natural_keys = NaturalKeys(
            self._find,
            self.keystore if isinstance(self.keystore, Locators) else None,
            self.config.lookup_key,
            self.new_id,
        )

    def _require_tables(self) -> None:
        """With ``CREATE_TABLE`` off, say which command makes the tables when they are
        missing, instead of the database's own error at the first command."""
        try:
            self.recorder.max_notification_id()
        except (ProgrammingError, OperationalError) as error:
            text = str(error).lower()
            if "no such table" not in text and "does not exist" not in text:
                raise
            super().close()
            raise ConfigurationError(
                "the event store has no tables and CREATE_TABLE is off: "
                "run `healthcard db init` once first",
                field="CREATE_TABLE",
            ) from None

    def _card_snapshots(
        self, recorder: AggregateRecorder | None, settings: Mapping[str, str]
    ) -> CardSnapshots | None:
        """Card snapshots, unless switched off or their table is missing in a process
        that may not create it (then cards replay from their events, and the operator
        hears once that `healthcard db init` makes the table)."""
        if recorder is None:
            return None
        if not creates_tables(settings) and not snapshot_table_ready(recorder):
            log.warning(
                "no snapshot table and CREATE_TABLE is off: cards load from their events; "
                "run `healthcard db init` to create it"
            )
            return None
        snapshots = CardSnapshots(
            recorder,
            self.keystore,
            interval=self.config.snapshot_interval,
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )
        if isinstance(self.repository, SnapshottingRepository):
            self.repository.snapshots = snapshots
        return snapshots

    def construct_repository(self) -> Repository[UUID]:
        """eventsourcing's repository, settings and all, that also restores cards from
        their snapshots (``application.snapshotting``)."""
        base = super().construct_repository()
        repository = SnapshottingRepository(
            event_store=base.event_store,
            cache_maxsize=None,
            fastforward=base.fastforward,
            fastforward_skipping=base.fastforward_skipping,
            deepcopy_from_cache=base.deepcopy_from_cache,
        )
        repository.cache = base.cache
        return repository

    def construct_mapper(self) -> Mapper[UUID]:
        """One mapper for the whole application: pydantic + orjson, then eventsourcing's
        compressor and cipher (at rest); personal fields are sealed once the key store
        is known (``seal_personal_fields`` in ``__init__``)."""
        return PydanticMapper(
            transcoder=OrjsonTranscoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )

    @property
    def authoriser(self) -> Authoriser | None:
        """Asked before every command (``authorisation.authorised``); None allows all."""
        return self._authoriser

    @property
    def conflict_retries(self) -> int:
        """Attempts a command gets under optimistic-concurrency conflicts."""
        return self.config.conflict_retries

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save the aggregates' pending events in one transaction, with optimistic
        concurrency; with a group-commit window, in one transaction with the other
        commands saving at the same time (``group_commit``)."""
        if kwargs:  # eventsourcing's own uses (tracking records): its own path
            return super().save(*objs, **kwargs)
        member = _member_of(objs)
        if not member.events:
            return []
        if self._group is None:
            return self._write_one(member)
        return self._group.save(member)

    def _save_alone(self, *objs: Any) -> list[Any]:
        """``save`` in a transaction of its own, at once, whatever the group-commit
        window (a command retried after a conflict has waited enough)."""
        member = _member_of(objs)
        return self._write_one(member) if member.events else []

    def _write_all(self, members: Sequence[Member]) -> list[Any]:
        """The events of ``members`` in one transaction (eventsourcing's own recording
        path: the store, then the aggregate cache)."""
        processing = ProcessingEvent[UUID]()
        for member in members:
            processing.events.extend(member.events)
            processing.aggregates.update(member.aggregates)
        recordings = self._record(processing)
        self._notify(recordings)
        if self._snapshots is not None:
            take_due_snapshots(self._snapshots, processing.aggregates.values(), processing.events)
        return recordings

    def _write_one(self, member: Member) -> list[Any]:
        """One command's events, and the answer to an ambiguous commit.

        When the server commits but its reply is lost, eventsourcing sends the insert
        again and it conflicts with the events it wrote itself. Only after such a
        connection fault (``commit_faults``) is the store read back: if the events at
        those versions are exactly the ones being saved (the same fields, times and
        audit), the save succeeded and says so. Any other conflict is raised as before
        (``retry_on_conflict`` re-runs the command).
        """
        if not self._commits_may_go_unheard:  # a local store: nothing to read back
            return self._write_all([member])
        self._faults.reset()
        try:
            return self._write_all([member])
        except IntegrityError:
            if self._faults.seen and self._stored_already(member.events):
                return []
            raise

    def _stored_already(self, events: list[Any]) -> bool:
        """Whether every one of ``events`` is in the store as it is here."""
        for event in events:
            version = event.originator_version
            stored = list(
                self.repository.event_store.get(event.originator_id, gt=version - 1, lte=version)
            )
            if stored != [event]:
                return False
        return True

    def close(self) -> None:
        super().close()
        if self._turns is not None:
            self._turns.close()
        if self._owns_keystore:
            self.keystore.close()

    # -- cards ----------------------------------------------------------------------

    @authorised
    @retry_on_conflict
    def register(self, cmd: RegisterCard) -> UUID:
        """Register a temporary card; a retried command (the same idempotency key, or
        without one the same ``command_id``) returns the same card."""
        purpose, key = _request_key("register", cmd)
        card_id = idempotency_id(self.config.lookup_key, purpose, cmd.audit.institution, key)
        if cmd.idempotency_key is not None and self._find(HealthCard, card_id) is not None:
            return self._registered_again(card_id, cmd)
        card = HealthCard.register(
            card_id,
            issuer_mode=cmd.issuer_mode,
            name=cmd.name,
            phone=cmd.phone,
            photo=cmd.photo,
            volunteer=cmd.volunteer,
            audit=cmd.recorded_audit,
            at=self.clock(),
        )
        try:
            self.save(card)
        except IntegrityError:
            # Without a key the card is saved first and read only on a conflict: almost
            # every such registration is new; the same command retried finds it here.
            if self._find(HealthCard, card_id) is None:
                raise
            return self._registered_again(card_id, cmd)
        return card_id

    def _registered_again(self, card_id: UUID, cmd: RegisterCard) -> UUID:
        """The card a retried registration made before (``IdempotencyKeyReused`` when
        the key was used for another registration)."""
        existing = self._get(HealthCard, card_id)
        if not existing.registered_as(registration_of(cmd)):
            raise IdempotencyKeyReused()
        return card_id

    @authorised
    @retry_on_conflict
    def complete_identity(self, cmd: CompleteIdentity) -> str:
        """Make the card formal; returns its national EHC ID. One card per document."""
        card = self.card(cmd.card_id)
        if card.took(cmd.command_id, IdentityCompleted) and card.ehc_id is not None:
            return card.ehc_id
        keys = self.config.national_keys
        doc = cmd.document
        index_id = main_index_id(doc.type.value, doc.number, keys.index_key)
        national_id = ehc_id(index_id, keys.root_key, doc.type.value, doc.number)
        at = self.clock()
        claim_id, claim = self.natural_keys.claim_to_take(doc)
        card.complete_identity(
            document=doc,
            name=cmd.name,
            sex=cmd.sex,
            birth_date=cmd.birth_date,
            verified_by=cmd.audit.institution,
            main_index_id=index_id,
            ehc_id=national_id,
            audit=cmd.recorded_audit,
            at=at,
        )
        if claim is None:
            claim = DocumentClaim.start(claim_id, card.id, audit=cmd.recorded_audit, at=at)
        else:
            claim.claim(card.id, audit=cmd.recorded_audit, at=at)
        self.save(card, claim)
        return national_id

    @authorised
    @retry_on_conflict
    def bind(self, cmd: BindCard) -> UUID:
        """Bind the card to a mobile account (opened on first use); returns the account id."""
        card = self.card(cmd.card_id)
        if card.took(cmd.command_id, Bound):
            return self.account(cmd.account).id
        at = self.clock()
        account = self._account_or_open(cmd.account, cmd, at)
        card.bind(account.id, cmd.relation, audit=cmd.recorded_audit, at=at)
        account.add_card(
            card.id, cmd.relation, cap=self.config.family_cap, audit=cmd.recorded_audit, at=at
        )
        self.save(card, account)
        return account.id

    @authorised
    @retry_on_conflict
    def unbind(self, cmd: UnbindCard) -> None:
        card = self.card(cmd.card_id)
        if card.took(cmd.command_id, Unbound):
            return
        account = self.account(cmd.account)
        at = self.clock()
        card.unbind(account.id, audit=cmd.recorded_audit, at=at)
        account.remove_card(card.id, audit=cmd.recorded_audit, at=at)
        self.save(card, account)

    @authorised
    @retry_on_conflict
    def freeze(self, cmd: FreezeCard) -> None:
        card = self.card(cmd.card_id)
        if card.took(cmd.command_id, Frozen):
            return
        card.freeze(cmd.reason, audit=cmd.recorded_audit, at=self.clock())
        self.save(card)

    @authorised
    @retry_on_conflict
    def unfreeze(self, cmd: UnfreezeCard) -> None:
        card = self.card(cmd.card_id)
        if card.took(cmd.command_id, Unfrozen):
            return
        card.unfreeze(audit=cmd.recorded_audit, at=self.clock())
        self.save(card)

    @authorised
    @retry_on_conflict
    def cancel_card(self, cmd: CancelCard) -> None:
        """Cancel for good: frees the family slots and the document (all in one save)."""
        card = self.card(cmd.card_id)
        if card.took(cmd.command_id, Cancelled):
            return
        changed = policies.cancel_card(
            card, cmd.reason, _Related(self), audit=cmd.recorded_audit, at=self.clock()
        )
        self.save(*changed)

    @authorised
    def erase_personal_data(self, cmd: ErasePersonalData) -> None:
        """Crypto-shred a holder's personal data (see ``ErasePersonalData``).

        The erasure events are saved first, then the locators that led from the
        document and the erased accounts' numbers to their streams are deleted, then
        the keys are destroyed. If anything after the save fails (the key store is
        down, a SQLite reader keeps old pages), the erasure is recorded but incomplete:
        ``ErasureIncomplete`` says so, and :meth:`complete_erasures` (or re-running
        this command) finishes it.
        """
        subjects = self._record_erasure(cmd)
        erasures.destroy_keys(self.keystore, cmd.card_id, subjects, before=self._close_locators)

    @retry_on_conflict
    def _record_erasure(self, cmd: ErasePersonalData) -> tuple[UUID, ...]:
        """Save the erasure events; return the subjects whose keys must go."""
        card = self.card(cmd.card_id)
        erasure = policies.erase_card(
            card, cmd.reason, _Related(self), audit=cmd.recorded_audit, at=self.clock()
        )
        if erasure.changed:
            self.save(*erasure.changed)
        return erasure.subjects

    def pending_erasures(self) -> list[UUID]:
        """Subjects (cards, accounts) whose erasure is recorded but whose key remains."""
        return erasures.pending_erasures(self, self.keystore)

    def complete_erasures(self) -> erasures.ErasureReport:
        """Finish every pending erasure, flush the key store and rotate the key-encryption
        key (destroying retired generations older than ``backup_retention_days``).

        Run it after erasures and on a schedule (``healthcard privacy complete-erasures``):
        an erased person is unreadable in backups made before only once the generation
        they were made under is destroyed (``docs/privacy.md``).
        """
        return erasures.complete_erasures(
            self,
            self.keystore,
            at=self.clock(),
            retention=timedelta(days=self.config.backup_retention_days),
            before=self._close_locators,
        )

    def _close_locators(self, subjects: Iterable[UUID]) -> None:
        """Delete the locators an erasure of ``subjects`` closes, read from each subject
        as it was just before its erasure event: its key still exists (the erasure is
        pending), so an interrupted erasure finds them as the first run did."""
        documents: list[IdentityDocument] = []
        accounts: list[Account] = []
        for subject in subjects:
            before = self._before_erasure(subject)
            if isinstance(before, HealthCard) and before.document is not None:
                documents.append(before.document)
            elif isinstance(before, Account):
                accounts.append(before)
        self.natural_keys.forget(self.natural_keys.closed_by_erasure(documents, accounts))

    def _before_erasure(self, subject: UUID) -> Aggregate | None:
        """A card or an account as it was before its erasure event (None if none)."""
        kinds: dict[type[Any], type[Aggregate]] = {
            PersonalDataErased: HealthCard,
            AccountErased: Account,
        }
        for event in self.repository.event_store.get(subject):
            cls = kinds.get(type(event))
            if cls is not None:
                version = event.originator_version - 1
                found = self.repository.get(subject, version=version, projector_func=cls.project)
                return found if isinstance(found, cls) else None
        return None

    # -- clinic sessions and appointments ------------------------------------------

    @authorised
    @retry_on_conflict
    def publish_session(self, cmd: PublishSession) -> UUID:
        """Publish a clinic session; its id follows from department, doctor, day, period."""
        session_id = idempotent_uuid(
            "session", f"{cmd.department}|{cmd.doctor}|{cmd.day.isoformat()}|{cmd.period.value}"
        )
        published = self._find(ClinicSession, session_id)
        if published is not None:
            if published.took(cmd.command_id, SessionPublished):
                return session_id
            raise SessionAlreadyPublished(session_id)
        session = ClinicSession.publish(
            session_id,
            department=cmd.department,
            doctor=cmd.doctor,
            day=cmd.day,
            period=cmd.period,
            capacity=cmd.capacity,
            audit=cmd.recorded_audit,
            at=self.clock(),
        )
        self.save(session)
        return session_id

    @authorised
    def make_appointment(self, cmd: MakeAppointment) -> UUID:
        """Book a place; never overbooked, never past, never before identity is complete.

        Bookings of one session from this process's threads are decided in turn on one
        load and saved together (``application.combining``): a rush on a session is a
        queue here, not a storm of conflicts."""
        purpose, key = _request_key("appointment", cmd)
        appointment_id = idempotency_id(
            self.config.lookup_key, purpose, cmd.audit.institution, f"{cmd.session_id}|{key}"
        )
        # Loaded before the session's turn (by this thread, in parallel with others),
        # unless the session is full as this process last saw it: a full session
        # refuses without the card. A missing card is only reported once the session
        # says the command is not a retry.
        loaded: HealthCard | CardNotFound | None = None
        if not self._seen_full(cmd.session_id, cmd.card_id):
            loaded = self._card_or_missing(cmd.card_id)

        def book(session: ClinicSession) -> UUID:
            if session.holds(appointment_id, cmd.card_id):
                return appointment_id
            session.ensure_place_for(cmd.card_id)
            booker = loaded if loaded is not None else self._card_or_missing(cmd.card_id)
            if isinstance(booker, CardNotFound):
                raise booker
            session.book(appointment_id, booker, audit=cmd.recorded_audit, at=self.clock())
            return appointment_id

        return self._sessions.run(cmd.session_id, book)

    def _card_or_missing(self, card_id: UUID) -> HealthCard | CardNotFound:
        """The card, or the error to raise once it is known to be needed."""
        try:
            return self.card(card_id)
        except CardNotFound as missing:
            return missing

    def _seen_full(self, session_id: UUID, card_id: UUID) -> bool:
        """Whether the cached session (as last loaded here, not brought up to date) is
        full for ``card_id``: only a hint, the booking decides on the current state."""
        cache = self.repository.cache
        try:
            session = cache.get(session_id) if cache is not None else None
        except KeyError:
            return False
        return isinstance(session, ClinicSession) and session.is_full_for(card_id)

    @authorised
    def cancel_appointment(self, cmd: CancelAppointment) -> None:
        def cancel(session: ClinicSession) -> None:
            if session.took(cmd.command_id, AppointmentCancelled):
                return
            session.cancel(
                cmd.appointment_id, cmd.reason, audit=cmd.recorded_audit, at=self.clock()
            )

        self._sessions.run(cmd.session_id, cancel)

    @authorised
    @retry_on_conflict
    def check_in_with_document(self, cmd: CheckInWithDocument) -> UUID:
        """Triage check-in with the ID document; returns the appointment id."""
        card_id = self.find_card_by_document(cmd.document)
        if card_id is None:
            raise AppointmentNotFound("no card holds this document")
        session = self.session(cmd.session_id)
        card = self.card(card_id)
        if session.took(cmd.command_id, CheckedIn):
            return session.checked_in_appointment_of(card_id)
        appointment_id = session.check_in(
            card, CheckInCredential.ID_CARD, audit=cmd.recorded_audit, at=self.clock()
        )
        self.save(session)
        return appointment_id

    # -- QR tokens ---------------------------------------------------------------------

    @authorised
    def issue_token(self, cmd: IssueToken) -> str:
        """A signed QR token (text) for a normal card, to an account bound to it now.

        Nothing is written: tokens are short-lived and many; what is recorded is their
        acceptance (check-in, card use), once each.
        """
        card = self.card(cmd.card_id)
        account = self.account(cmd.account)
        card.ensure_token_issuable(account.id)
        at = card.token_issue_time(account.id, self.clock())
        text, _ = issue_token(
            self.keyring,
            card_id=card.id,
            account_id=account.id,
            mode=token_mode(card.issuer_mode, self.keyring),
            use=cmd.use,
            at=at,
            lifetime=cmd.lifetime_seconds,
        )
        return text

    @property
    def token_verifier(self) -> Verifier:
        """Offline verifier over this app's keys, in the keyring's mode."""
        return Verifier(self.keyring, mode=self.keyring.mode)

    def verify_token(self, token: str) -> TokenClaims:
        """Verify a token where the log is visible: signature and time, then the card
        normal, the account still bound and the token not used yet. Writes nothing.

        Raises:
            TokenRejected: with the reason.
        """
        at = self.clock()
        claims = self.token_verifier.claims(token, at)
        self._card_for_token(claims).admit_token(claims.presented(), self.keyring.mode)
        return claims

    @authorised
    @retry_on_conflict
    def check_in_with_qr(self, cmd: CheckInWithQr) -> UUID:
        """Triage check-in with a bound phone's QR token; returns the appointment id.

        The card records the token's nonce (``TokenAccepted``) in the same save as the
        session's ``CheckedIn``, so the token is accepted once even under concurrency.
        """
        at = self.clock()
        claims, card = self._token_and_card(cmd, at, TokenAccepted)
        session = self.session(cmd.session_id)
        if session.took(cmd.command_id, CheckedIn):
            return session.checked_in_appointment_of(card.id)
        card.accept_token(
            claims.presented(), verifier_mode=self.keyring.mode, audit=cmd.recorded_audit, at=at
        )
        appointment_id = session.check_in(
            card, CheckInCredential.QR, audit=cmd.recorded_audit, at=at
        )
        self.save(card, session)
        return appointment_id

    @authorised
    @retry_on_conflict
    def use_card(self, cmd: UseCard) -> None:
        """Record ``CardUsed`` at a point of care (step code, channel), once per token."""
        at = self.clock()
        claims, card = self._token_and_card(cmd, at, CardUsed)
        if card.took(cmd.command_id, CardUsed):
            return
        card.use(
            claims.presented(),
            cmd.step,
            verifier_mode=self.keyring.mode,
            audit=cmd.recorded_audit,
            at=at,
        )
        self.save(card)

    def _token_and_card(
        self, cmd: CheckInWithQr | UseCard, at: datetime, first: type[CardEvent]
    ) -> tuple[TokenClaims, HealthCard]:
        """The token's claims, valid at ``at``, and the card they name.

        A token that has expired since the command's first attempt is still read (its
        signature checked) when that attempt was saved: the card took this command
        (its ``first`` event), and the retry must hear of its success, not that the
        token expired.
        """
        result = self.token_verifier.verify(cmd.token, at)
        if result is TokenRejectReason.EXPIRED:
            genuine = self.token_verifier.genuine_claims(cmd.token)
            if genuine is not None:
                card = self._card_for_token(genuine)
                if card.took(cmd.command_id, first):
                    return genuine, card
        if isinstance(result, TokenRejectReason):
            raise TokenRejected(result)
        return result, self._card_for_token(result)

    def _card_for_token(self, claims: TokenClaims) -> HealthCard:
        try:
            return self.card(claims.card_id)
        except CardNotFound:
            # Only a forged test token (test keys are public) names an unknown card.
            raise TokenRejected(TokenRejectReason.NOT_BOUND) from None

    # -- queries ----------------------------------------------------------------------

    def card(self, card_id: UUID) -> HealthCard:
        try:
            return self._get(HealthCard, card_id)
        except NotFound:
            raise CardNotFound(card_id) from None

    def session(self, session_id: UUID) -> ClinicSession:
        try:
            return self._get(ClinicSession, session_id)
        except NotFound:
            raise SessionNotFound(session_id) from None

    def account(self, ref: AccountRef) -> Account:
        found = self.natural_keys.account(ref.kind, ref.identifier)
        if found is None:
            raise NotFound("no such account", field="account")
        return found

    def find_card_by_document(self, document: IdentityDocument) -> UUID | None:
        """The card currently holding ``document``, if any (via its claim)."""
        claim = self.natural_keys.claim(document)
        return None if claim is None else claim.holder

    def card_as_of(self, card_id: UUID, version: int) -> HealthCard:
        """The card as it was after its event ``version`` (the latest state if it has
        fewer): the one way to replay a card to a version. ``CardNotFound`` when the
        card has no event up to ``version`` (or the id is not a card's)."""
        if version < 1:
            raise CardNotFound(card_id)
        try:
            with typed_store_faults():
                card = self.repository.get(
                    card_id, version=version, projector_func=HealthCard.project
                )
        except (AggregateNotFoundError, WrongAggregateType):
            raise CardNotFound(card_id) from None
        if not isinstance(card, HealthCard):
            raise CardNotFound(card_id)
        return card

    # -- helpers ------------------------------------------------------------------------

    def _account_or_open(self, ref: AccountRef, cmd: BindCard, at: datetime) -> Account:
        the_id, account = self.natural_keys.account_to_bind(ref.kind, ref.identifier)
        if account is None:
            account = Account.open(
                the_id, kind=ref.kind, identifier=ref.identifier, audit=cmd.recorded_audit, at=at
            )
        return account

    def _get(self, cls: type[A], aggregate_id: UUID) -> A:
        found = self._find(cls, aggregate_id)
        if found is None:
            raise NotFound(f"{cls.__name__} {aggregate_id} not found")
        return found

    def _find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            with typed_store_faults():
                aggregate: Any = self.repository.get(aggregate_id, projector_func=cls.project)
        except AggregateNotFoundError:
            return None
        except WrongAggregateType:
            raise NotFound(f"{aggregate_id} is not a {cls.__name__}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{aggregate_id} is not a {cls.__name__}")
        return aggregate


class _Related:
    """The service's side of ``policies.Related``: loads accounts and document claims."""

    def __init__(self, app: HealthCardApp) -> None:
        self._app = app

    def account(self, account_id: UUID) -> Account:
        return self._app._get(Account, account_id)

    def claim_of(self, document: IdentityDocument) -> DocumentClaim:
        claim = self._app.natural_keys.claim(document)
        if claim is None:
            raise NotFound("no claim on the card's document")
        return claim


def _member_of(objs: Sequence[Any]) -> Member:
    """One save's pending events, collected from its aggregates (each once)."""
    aggregates = {o.id: o for o in objs if o is not None}
    return Member([e for a in aggregates.values() for e in a.collect_events()], aggregates)


def _refuse_snapshots(settings: Mapping[str, str]) -> None:
    """eventsourcing's own snapshots are refused at start, typed, rather than failing
    at the first one: they need a snapshot class this package does not define (its
    ``take_snapshot`` raises an ``AssertionError``), and one that stored an aggregate's
    state as it is would keep personal data in clear beside the sealed events. Cards
    have sealed snapshots of their own (``HEALTHCARD_SNAPSHOT_INTERVAL``)."""
    value = settings.get("IS_SNAPSHOTTING_ENABLED", "no")
    try:
        enabled = strtobool(value)
    except ValueError:
        enabled = True
    if enabled:
        raise ConfigurationError(
            "eventsourcing's snapshots are not used: cards take sealed snapshots of "
            "their own (HEALTHCARD_SNAPSHOT_INTERVAL); leave IS_SNAPSHOTTING_ENABLED unset",
            field="IS_SNAPSHOTTING_ENABLED",
        )


def _request_key(command: str, cmd: RegisterCard | MakeAppointment) -> tuple[str, str]:
    """What makes a retried request the same one, under which purpose: the caller's
    idempotency key, else the command's own id (a purpose of its own, so that no
    idempotency key can name the id a command id gives)."""
    if cmd.idempotency_key is not None:
        return command, cmd.idempotency_key
    return f"{command}|command", str(cmd.command_id)


def registration_of(cmd: RegisterCard) -> Registration:
    """The facts a registration command asks for, as the card keeps them."""
    return Registration(
        issuer_mode=cmd.issuer_mode,
        channel=cmd.audit.channel,
        name=cmd.name,
        phone=cmd.phone,
        photo=cmd.photo,
        volunteer=cmd.volunteer,
    )
