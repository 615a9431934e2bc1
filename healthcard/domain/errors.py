"""Domain errors: one hierarchy, each with a stable machine-readable code.

Why a hierarchy with codes: an embedding app maps errors to its own messages and
HTTP statuses by ``code``, which never changes, while the English message may be
improved. Messages name fields and identifiers the library created (card ids,
session ids), never personal data (names, document numbers, phones).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID


class HealthCardError(Exception):
    """Base of every error this library raises on purpose."""

    code: ClassVar[str] = "healthcard_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-friendly form for APIs and logs (it holds no personal data)."""
        return {"code": self.code, "field": self.field, "message": self.message}


class InvalidInput(HealthCardError):
    """A command or value failed validation at the boundary; nothing was written.

    Not a ``ValueError`` on purpose: pydantic would wrap a ``ValueError`` raised
    inside validation into its own error (with the input in its text).
    """

    code = "invalid_input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid value for field '{field}': {reason}", field=field)
        self.reason = reason


class NotFound(HealthCardError, LookupError):
    """A referenced aggregate does not exist."""

    code = "not_found"


class CardNotFound(NotFound):
    code = "card_not_found"

    def __init__(self, card_id: UUID | None = None, *, field: str = "card_id") -> None:
        what = f"card {card_id}" if card_id else "no card matches the credential"
        super().__init__(f"{what} not found" if card_id else what, field=field)
        self.card_id = card_id


class SessionNotFound(NotFound):
    code = "session_not_found"

    def __init__(self, session_id: UUID) -> None:
        super().__init__(f"clinic session {session_id} not found", field="session_id")
        self.session_id = session_id


class AppointmentNotFound(NotFound):
    code = "appointment_not_found"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="appointment_id")


class RuleViolation(HealthCardError):
    """A command was well-formed but a lifecycle rule refuses it."""

    code = "rule_violation"


class CardNotActive(RuleViolation):
    """The card is frozen or cancelled, so the command is refused."""

    code = "card_not_active"

    def __init__(self, card_id: UUID, status: str) -> None:
        super().__init__(f"card {card_id} is {status}", field="card_id")
        self.card_id = card_id
        self.status = status


class InvalidStatusChange(RuleViolation):
    code = "invalid_status_change"

    def __init__(self, card_id: UUID, status: str, wanted: str) -> None:
        super().__init__(f"card {card_id} is {status}: cannot {wanted}", field="status")


class IdentityIncomplete(RuleViolation):
    """Seed: 'the first time you make an appointment you must improve your identity'."""

    code = "identity_incomplete"

    def __init__(self, card_id: UUID) -> None:
        super().__init__(
            f"card {card_id} is temporary: complete identity before booking",
            field="card_id",
        )
        self.card_id = card_id


class IdentityAlreadyCompleted(RuleViolation):
    code = "identity_already_completed"

    def __init__(self, card_id: UUID) -> None:
        super().__init__(f"card {card_id} already has a verified identity", field="document")


class DocumentAlreadyRegistered(RuleViolation):
    """One person, one card: the document already belongs to another card."""

    code = "document_already_registered"

    def __init__(self, existing_card_id: UUID) -> None:
        super().__init__(
            f"this identity document is already registered to card {existing_card_id}",
            field="document",
        )
        self.existing_card_id = existing_card_id


class IdentityMismatch(RuleViolation):
    """The stated sex or birth date contradicts the resident ID number."""

    code = "identity_mismatch"

    def __init__(self, field: str) -> None:
        super().__init__(f"field '{field}' does not match the document number", field=field)


class FamilyCapReached(RuleViolation):
    code = "family_cap_reached"

    def __init__(self, cap: int) -> None:
        super().__init__(f"the account already holds {cap} cards (the cap)", field="account")
        self.cap = cap


class AlreadyBound(RuleViolation):
    code = "already_bound"

    def __init__(self, card_id: UUID) -> None:
        super().__init__(f"card {card_id} is already bound to this account", field="account")


class NotBound(RuleViolation):
    code = "not_bound"

    def __init__(self, card_id: UUID) -> None:
        super().__init__(f"card {card_id} is not bound to this account", field="account")


class SessionAlreadyPublished(RuleViolation):
    code = "session_already_published"

    def __init__(self, session_id: UUID) -> None:
        super().__init__(f"clinic session {session_id} is already published", field="session")
        self.session_id = session_id


class SessionFull(RuleViolation):
    code = "session_full"

    def __init__(self, session_id: UUID, capacity: int) -> None:
        super().__init__(
            f"clinic session {session_id} is full ({capacity} places)", field="session_id"
        )
        self.session_id = session_id


class AppointmentInPast(RuleViolation):
    code = "appointment_in_past"

    def __init__(self, field: str = "date") -> None:
        super().__init__("the clinic session's date is in the past", field=field)


class DuplicateAppointment(RuleViolation):
    code = "duplicate_appointment"

    def __init__(self, card_id: UUID, session_id: UUID) -> None:
        super().__init__(
            f"card {card_id} already holds an appointment in session {session_id}",
            field="card_id",
        )


class IdempotencyKeyReused(RuleViolation):
    """An idempotency key came back with other content than the command it first named.

    Why refused: a retry repeats its command exactly; other content under the same key
    is another request (or a guess), and answering it with the first command's result
    would hand one person's card or appointment to another.
    """

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "this idempotency key was used for a different command", field="idempotency_key"
        )


class CommandIdReused(RuleViolation):
    """A ``command_id`` came back on another kind of command than the one it first named.

    Why refused: a command's id is how its retry finds the first attempt's result;
    another command under the same id is another request, and answering it with the
    first one's result would report a change that was never made.
    """

    code = "command_id_reused"

    def __init__(self) -> None:
        super().__init__("this command id was used for a different command", field="command_id")


class AppointmentNotActive(RuleViolation):
    code = "appointment_not_active"

    def __init__(self, appointment_id: UUID, status: str) -> None:
        super().__init__(f"appointment {appointment_id} is {status}", field="appointment_id")
        self.status = status


class CheckInNotOpen(RuleViolation):
    """Check-in happens at the triage desk on the session's own date only."""

    code = "check_in_not_open"

    def __init__(self) -> None:
        super().__init__("check-in is only possible on the session's date", field="at")


class NotAuthorised(HealthCardError):
    """The embedding app's authoriser refused this command for this caller; nothing was
    loaded or written. The message names the command, never the caller's data."""

    code = "not_authorised"

    def __init__(self, command: str) -> None:
        super().__init__(f"{command} is not authorised for this caller", field="audit")
        self.command = command


class ConcurrencyConflict(HealthCardError):
    """Retries on optimistic-concurrency conflicts were exhausted; nothing was written."""

    code = "concurrency_conflict"


class StoreUnavailable(HealthCardError):
    """A database the library owns (event store, key store) cannot be reached, dropped
    the connection or stayed locked past the busy timeout. Retry with the same command
    object (its ``command_id``): almost always nothing was written, but a commit whose
    server then stayed away may have landed, and only the same command finds it.
    Connections recover by themselves once the server is back."""

    code = "store_unavailable"

    def __init__(self, store: str) -> None:
        super().__init__(f"the {store} is unavailable; retry shortly", field=None)
        self.store = store


class ErasureIncomplete(HealthCardError):
    """An erasure is recorded in the log but some of its keys could not be destroyed yet
    (the key store was unavailable, or a SQLite reader kept the deleted key in the
    write-ahead log). ``HealthCardApp.complete_erasures()`` (or ``healthcard privacy
    complete-erasures``) finishes it; until then the data can still be decrypted."""

    code = "erasure_incomplete"

    def __init__(self, why: str, *, card_id: UUID | None = None) -> None:
        what = f"the erasure of card {card_id}" if card_id is not None else "an erasure"
        super().__init__(f"{what} is recorded but not complete: {why}")
        self.card_id = card_id
        self.why = why


# -- QR tokens ---------------------------------------------------------------


class TokenRejectReason(StrEnum):
    """Why a presented QR token was refused; the values are stable (APIs, CLI, logs)."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    RETIRED_KEY = "retired_key"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    TEST_TOKEN_IN_PRODUCTION = "test_token_in_production"  # noqa: S105 (not a secret)
    REPLAYED = "replayed"
    CARD_NOT_ACTIVE = "card_not_active"
    NOT_BOUND = "not_bound"
    REVOKED = "revoked"
    """Issued before the card's last freeze or its account's last unbinding."""
    WRONG_USE = "wrong_use"


class TokenRejected(HealthCardError):
    """A QR code (signed token or national QR text) was refused; ``reason`` says why.

    One class with a typed ``reason`` rather than one class per reason: a scanner
    shows one outcome ("refused") and maps the reason to its own message, and the
    reasons are also the verifier's return values when it does not raise.
    """

    code = "token_rejected"

    def __init__(self, reason: TokenRejectReason) -> None:
        super().__init__(f"QR token rejected: {reason.value}", field="token")
        self.reason = reason

    def to_dict(self) -> dict[str, str | None]:
        return {**super().to_dict(), "reason": self.reason.value}


# -- configuration ------------------------------------------------------------------------


class ConfigurationError(HealthCardError, ValueError):
    """A configuration value is missing or malformed (the message names the variable or
    the file, never a key). Raised when an application starts, before it reads or
    writes anything."""

    code = "invalid_configuration"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)


class InsecureConfiguration(ConfigurationError):
    """Production keys are required (``HEALTHCARD_REQUIRE_PRODUCTION_KEYS=1``) but a key
    is missing or is one of the public test keys; ``key`` names which."""

    code = "insecure_configuration"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"production keys are required, but the {key} is a public test key or missing",
            field=key,
        )
        self.key = key


class InsecureKeyFile(ConfigurationError):
    """A file holding a secret is readable by group or others, or owned by another user,
    so it is refused: whoever could read or swap it would hold the key."""

    code = "insecure_key_file"

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"refusing the key file {path}: {why}", field="key_file")
        self.path = path
