"""Replay the golden event log written by release 0.1.0 (``tests/golden/``).

Why: events are stored forever, so a log written by the first release must replay in
every later one: every stored record decodes (upcast if its class moved on), every
aggregate rebuilds through the application's queries, and the story it tells is
still the same story. The file is never edited or regenerated
(``tests/golden/README.md``); a release that adds event topics adds its own golden
file, and the union of golden files must cover every topic registered today.

The records are put into fresh applications as a database would hold them
(``recorder.insert_events``): in memory, in a SQLite file, and in memory with
compression and encryption at rest.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import StoredEvent

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env, sqlite_env
from healthcard.adapters.privacy.keystore import InMemoryKeyStore, SubjectErased
from healthcard.application.commands import AccountRef, BindCard, CompleteIdentity, RegisterCard
from healthcard.domain.account import Account
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card import HealthCard
from healthcard.domain.card_values import CardKind, CardStatus, IssuerMode
from healthcard.domain.clinic_values import AppointmentStatus, CheckInCredential, Period
from healthcard.domain.document_claim import DocumentClaim
from healthcard.domain.errors import DocumentAlreadyRegistered
from healthcard.domain.events import catalog
from healthcard.domain.events.base import DomainEvent, resolve_topic, topic_of
from healthcard.domain.identity import IdentityDocument, Sex
from healthcard.domain.relation import Relation

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
LOG = GOLDEN / "v0.1.0-events.jsonl"
KEYS = GOLDEN / "v0.1.0-keys.json"

MOTHER_PHONE = AccountRef(kind="phone", identifier="13800138000")
FATHER_WECHAT = AccountRef(kind="wechat", identifier="o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
CHEN_PHONE = AccountRef(kind="phone", identifier="13900139000")
MOTHER_DOC = IdentityDocument(type="01", number="510104199003150023")
CHILD_DOC = IdentityDocument(type="01", number="510104201806010032")
FATHER_DOC = IdentityDocument(type="01", number="51010419880720001X")
CHEN_DOC = IdentityDocument(type="01", number="510104197511110045")
INSTITUTION = "H510104001"
AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution=INSTITUTION)


def load_rows(path: Path = LOG) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


ROWS = load_rows()


class GoldenKeys:
    """The per-subject keys saved with the log (a read-only ``KeyStore``)."""

    def __init__(self, path: Path = KEYS) -> None:
        data = json.loads(path.read_text())
        self.keys = {UUID(s): bytes.fromhex(k) for s, k in data["keys"].items()}
        self.erased = {UUID(s) for s in data["erased"]}

    def key_for_writing(self, subject: UUID) -> bytes:
        raise AssertionError("replaying the golden log must write nothing")

    def key_for_reading(self, subject: UUID) -> bytes | None:
        return self.keys.get(subject)

    def erase(self, subject: UUID) -> bool:
        raise AssertionError("replaying the golden log must erase nothing")

    def is_erased(self, subject: UUID) -> bool:
        return subject in self.erased

    def close(self) -> None:
        return None


class UpgradedKeys(GoldenKeys):
    """The golden keys in a key store that keeps locators, as a deployment of 0.1.0
    upgraded in place has: the log's claims and accounts keep their keyed-hash ids and
    must still be found, and still hold their documents."""

    def __init__(self, path: Path = KEYS) -> None:
        super().__init__(path)
        self._new = InMemoryKeyStore()
        self.locate = self._new.locate
        self.locate_or_assign = self._new.locate_or_assign
        self.forget = self._new.forget

    def key_for_writing(self, subject: UUID) -> bytes:
        if subject in self.erased:
            raise SubjectErased(subject)
        return self.keys.get(subject) or self._new.key_for_writing(subject)

    def key_for_reading(self, subject: UUID) -> bytes | None:
        return self.keys.get(subject) or self._new.key_for_reading(subject)


def to_stored(app: HealthCardApp, row: dict[str, Any]) -> StoredEvent:
    """A golden row as this application's database would hold it."""
    data = orjson.dumps(row["state"])
    if app.mapper.compressor is not None:
        data = app.mapper.compressor.compress(data)
    if app.mapper.cipher is not None:
        data = app.mapper.cipher.encrypt(data)
    return StoredEvent(
        originator_id=UUID(row["originator_id"]),
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=data,
    )


def backend_env(name: str, folder: Path) -> dict[str, str]:
    if name == "sqlite":
        return sqlite_env(folder / "golden.sqlite3")
    if name == "memory-encrypted":
        return {
            **memory_env(),
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
            "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
            "CIPHER_KEY": AESCipher.create_key(32),
        }
    return memory_env()


def golden_app(env: dict[str, str], keys: GoldenKeys) -> HealthCardApp:
    """An application over a database holding the golden log."""
    application = HealthCardApp(env, clock=FakeClock(), keystore=keys)
    application.recorder.insert_events([to_stored(application, row) for row in ROWS])
    return application


@pytest.fixture(scope="module", params=["memory", "sqlite", "memory-encrypted", "memory-upgraded"])
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HealthCardApp]:
    env = backend_env(request.param, tmp_path_factory.mktemp(request.param))
    keys = UpgradedKeys() if request.param == "memory-upgraded" else GoldenKeys()
    application = golden_app(env, keys)
    try:
        yield application
    finally:
        application.close()


def decoded(app: HealthCardApp) -> list[DomainEvent]:
    events = []
    for notification in app.recorder.select_notifications(start=None, limit=1_000_000):
        event = app.mapper.to_domain_event(notification)
        assert isinstance(event, DomainEvent)
        events.append(event)
    return events


def events_of(app: HealthCardApp, topic: str) -> list[DomainEvent]:
    return [e for e in decoded(app) if topic_of(type(e)) == topic]


# -- the file itself ---------------------------------------------------------------------


def test_the_file_is_a_complete_log() -> None:
    assert [row["id"] for row in ROWS] == list(range(1, len(ROWS) + 1))
    versions: dict[str, list[int]] = defaultdict(list)
    for row in ROWS:
        assert set(row) == {"id", "originator_id", "originator_version", "topic", "state"}
        assert isinstance(row["state"], dict)
        assert isinstance(row["state"].get("class_version"), int)
        versions[row["originator_id"]].append(row["originator_version"])
    for sequence in versions.values():
        assert sequence == list(range(1, len(sequence) + 1))


def test_the_golden_files_cover_every_topic_registered_today() -> None:
    """A new topic needs a new golden file (of the release that adds it)."""
    covered = {row["topic"] for path in GOLDEN.glob("*-events.jsonl") for row in load_rows(path)}
    library = {
        topic
        for topic, cls in catalog.registered_topics().items()
        if cls.__module__.startswith("healthcard.")
    }
    assert library - covered == set()


def test_every_stored_topic_still_resolves() -> None:
    for topic in {row["topic"] for row in ROWS}:
        assert topic_of(resolve_topic(topic)) == topic


# -- replay --------------------------------------------------------------------------------


def test_notifications_keep_their_order(app: HealthCardApp) -> None:
    replayed = app.recorder.select_notifications(start=None, limit=1_000_000)
    assert [(n.id, str(n.originator_id), n.originator_version, n.topic) for n in replayed] == [
        (r["id"], r["originator_id"], r["originator_version"], r["topic"]) for r in ROWS
    ]


def test_every_event_decodes(app: HealthCardApp) -> None:
    events = decoded(app)
    assert len(events) == len(ROWS)
    for event, row in zip(events, ROWS, strict=True):
        assert topic_of(type(event)) == row["topic"]
        assert str(event.originator_id) == row["originator_id"]
        assert event.originator_version == row["originator_version"]
        assert event.audit.institution == INSTITUTION
        assert event.audit.command_id is None  # 0.1.0 wrote none: nothing to recognise


def test_every_aggregate_rebuilds(app: HealthCardApp) -> None:
    last: dict[UUID, tuple[str, int]] = {}
    for row in ROWS:
        last[UUID(row["originator_id"])] = (row["topic"], row["originator_version"])
    kinds = {
        "card": HealthCard,
        "account": Account,
        "document": DocumentClaim,
        "session": None,
    }
    for aggregate_id, (topic, version) in last.items():
        family = topic.split(".")[1]
        assert family in kinds, topic
        if family == "card":
            aggregate: Any = app.card(aggregate_id)
        elif family == "session":
            aggregate = app.session(aggregate_id)
        else:
            cls = kinds[family]
            assert cls is not None
            aggregate = app.repository.get(aggregate_id, projector_func=cls.project)
            assert isinstance(aggregate, cls)
        assert aggregate.id == aggregate_id
        assert aggregate.version == version


# -- the scenario's facts ---------------------------------------------------------------------


def cards_by_name(app: HealthCardApp) -> dict[str, list[UUID]]:
    found: dict[str, list[UUID]] = defaultdict(list)
    for event in events_of(app, "healthcard.card.Registered"):
        found[str(event.name)].append(event.originator_id)  # type: ignore[attr-defined]
    return found


def card_named(app: HealthCardApp, name: str) -> HealthCard:
    (card_id,) = cards_by_name(app)[name]
    return app.card(card_id)


def test_the_mother(app: HealthCardApp) -> None:
    mother = card_named(app, "王芳")
    assert (mother.kind, mother.status) == (CardKind.FORMAL, CardStatus.NORMAL)
    assert mother.channel is Channel.WECHAT_OFFICIAL_ACCOUNT
    assert mother.issuer_mode is IssuerMode.PRODUCTION
    assert mother.phone == "+8613800138000"
    assert mother.photo is not None
    assert mother.document == MOTHER_DOC
    assert (mother.sex, mother.birth_date) == (Sex.FEMALE, date(1990, 3, 15))
    assert mother.verified_by == INSTITUTION
    assert mother.ehc_id is not None
    assert len(mother.ehc_id) == 64
    assert mother.accounts == {app.account(MOTHER_PHONE).id: Relation.SELF}
    assert app.find_card_by_document(MOTHER_DOC) == mother.id


def test_the_child_registered_at_a_kiosk_with_a_volunteer(app: HealthCardApp) -> None:
    child = card_named(app, "张小明")
    assert child.channel is Channel.KIOSK
    assert child.volunteer == "vol-007"
    assert (child.kind, child.status) == (CardKind.FORMAL, CardStatus.NORMAL)
    assert (child.sex, child.birth_date) == (Sex.MALE, date(2018, 6, 1))
    # bound to both parents, then unbound from the father's account
    assert child.accounts == {app.account(MOTHER_PHONE).id: Relation.SON}
    assert app.find_card_by_document(CHILD_DOC) == child.id


def test_the_family_accounts(app: HealthCardApp) -> None:
    mother = card_named(app, "王芳")
    child = card_named(app, "张小明")
    father = card_named(app, "张伟")
    assert app.account(MOTHER_PHONE).cards == {mother.id: Relation.SELF, child.id: Relation.SON}
    assert app.account(FATHER_WECHAT).cards == {father.id: Relation.SELF}
    assert father.accounts == {app.account(FATHER_WECHAT).id: Relation.SELF}


def test_the_father_was_frozen_then_unfrozen(app: HealthCardApp) -> None:
    father = card_named(app, "张伟")
    assert (father.kind, father.status) == (CardKind.FORMAL, CardStatus.NORMAL)
    assert father.channel is Channel.WINDOW
    (frozen,) = events_of(app, "healthcard.card.Frozen")
    assert frozen.originator_id == father.id
    assert app.card_as_of(father.id, frozen.originator_version).status is CardStatus.FROZEN
    assert app.find_card_by_document(FATHER_DOC) == father.id


def test_the_cancelled_cards(app: HealthCardApp) -> None:
    grandmother = card_named(app, "李秀英")
    assert (grandmother.kind, grandmother.status) == (CardKind.TEMPORARY, CardStatus.CANCELLED)
    assert grandmother.channel is Channel.APP
    assert grandmother.document is None
    assert grandmother.accounts == {}
    test_card = card_named(app, "测试")
    assert test_card.issuer_mode is IssuerMode.TEST
    assert test_card.status is CardStatus.CANCELLED


def test_the_erased_holder_and_her_new_card(app: HealthCardApp) -> None:
    (erasure,) = events_of(app, "healthcard.card.PersonalDataErased")
    erased = app.card(erasure.originator_id)
    assert erased.erased
    assert (erased.kind, erased.status) == (CardKind.FORMAL, CardStatus.CANCELLED)
    assert erased.name != "陈静"  # the key is gone: a placeholder stands in
    assert erased.accounts == {}
    (again,) = cards_by_name(app)["陈静"]
    assert again != erased.id
    assert app.card(again).kind is CardKind.FORMAL
    assert app.find_card_by_document(CHEN_DOC) == again  # the document was released
    chen_account = app.account(CHEN_PHONE)
    assert chen_account.erased
    assert chen_account.cards == {}
    assert chen_account.identifier != "+8613900139000"


def sessions(app: HealthCardApp) -> dict[str, Any]:
    found = {}
    for event in events_of(app, "healthcard.session.Published"):
        session = app.session(event.originator_id)
        found[session.department] = session
    return found


def test_the_pediatrics_session(app: HealthCardApp) -> None:
    pediatrics = sessions(app)["pediatrics"]
    assert (pediatrics.doctor, pediatrics.period, pediatrics.capacity) == (
        "dr-li-01",
        Period.AFTERNOON,
        2,
    )
    child = card_named(app, "张小明").id
    mother = card_named(app, "王芳").id
    by_card: dict[UUID, list[tuple[AppointmentStatus, CheckInCredential | None]]] = defaultdict(
        list
    )
    for appointment in sorted(pediatrics.appointments.values(), key=lambda a: a.booked_at):
        by_card[appointment.card_id].append((appointment.status, appointment.credential))
    assert by_card == {
        child: [(AppointmentStatus.CHECKED_IN, CheckInCredential.ID_CARD)],
        mother: [
            (AppointmentStatus.CANCELLED, None),
            (AppointmentStatus.CHECKED_IN, CheckInCredential.QR),
        ],
    }
    assert pediatrics.booked == 2


def test_the_internal_medicine_session(app: HealthCardApp) -> None:
    internal = sessions(app)["internal-medicine"]
    assert internal.capacity == 5
    father = card_named(app, "张伟").id
    assert [(a.card_id, a.status) for a in internal.appointments.values()] == [
        (father, AppointmentStatus.BOOKED)
    ]
    assert internal.day > sessions(app)["pediatrics"].day


def test_the_qr_check_in_and_the_card_use(app: HealthCardApp) -> None:
    mother = card_named(app, "王芳").id
    child = card_named(app, "张小明").id
    mother_account = app.account(MOTHER_PHONE).id
    (accepted,) = events_of(app, "healthcard.card.TokenAccepted")
    assert accepted.originator_id == mother
    assert accepted.account_id == mother_account  # type: ignore[attr-defined]
    (used,) = events_of(app, "healthcard.card.Used")
    assert used.originator_id == child
    assert used.account_id == mother_account  # type: ignore[attr-defined]
    assert str(used.step) == "010102"  # type: ignore[attr-defined]
    assert used.audit.channel is Channel.DOCTOR_WORKSTATION


SEALED_SINCE_V2 = ("Bound", "Unbound", "TokenAccepted", "Used", "CardAdded", "CardRemoved")


def test_references_stored_in_clear_by_version_1_read_as_they_were(app: HealthCardApp) -> None:
    """0.1.0 stored the account a card event names, and the card an account event
    names, in clear (class version 1); version 2 seals them. Each old record still
    decodes (upcast to version 2) to the id it stored."""
    by_position = dict(enumerate(decoded(app)))
    checked = 0
    for position, row in enumerate(ROWS):
        if row["topic"].rsplit(".", 1)[1] not in SEALED_SINCE_V2:
            continue
        assert row["state"]["class_version"] == 1
        assert type(by_position[position]).class_version == 2
        name = "card_id" if row["topic"].startswith("healthcard.account") else "account_id"
        assert getattr(by_position[position], name) == UUID(row["state"][name])
        checked += 1
    assert checked == 15  # every such record of the file


def test_an_upgraded_deployment_still_keeps_one_card_per_document(tmp_path: Path) -> None:
    """With locators, a document claimed in the old log is still found by its keyed-hash
    claim: registering it again is refused, and its holder is found at the desk."""
    application = golden_app(memory_env(), UpgradedKeys())
    try:
        mother = card_named(application, "王芳")
        assert application.find_card_by_document(MOTHER_DOC) == mother.id
        again = application.register(RegisterCard(audit=AUDIT, name="王芳"))
        with pytest.raises(DocumentAlreadyRegistered):
            application.complete_identity(
                CompleteIdentity(
                    audit=AUDIT,
                    card_id=again,
                    document=MOTHER_DOC,
                    name="王芳",
                    sex=Sex.FEMALE,
                    birth_date=date(1990, 3, 15),
                )
            )
        application.bind(
            BindCard(audit=AUDIT, card_id=again, account=MOTHER_PHONE, relation=Relation.SPOUSE)
        )
        assert again in application.account(MOTHER_PHONE).cards  # the old account, found
    finally:
        application.close()
