"""Write the golden event log of release 0.1.0 (kept for the record: never re-run it).

Why: the design promises that a log written by the first release replays in every
later one. This script ran the fixed scenario below once, through ``HealthCardApp``
on in-memory persistence with a ``FakeClock``, and dumped every notification as one
JSON object per line (``id``, ``originator_id``, ``originator_version``, ``topic``,
``state``). ``tests/test_golden_log.py`` replays the file. A later release that
adds events writes a *new* golden file with its own script; this one, and the file
it wrote, stay as they are.

Personal fields are sealed per person (the privacy layer), so the per-subject test
keys are written beside the log (``v0.1.0-keys.json``). They are derived from a
public test secret: the file holds synthetic people only.

Usage: ``python tests/golden/make_golden_log.py [--out DIR]``. It refuses to
overwrite existing files.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import orjson

from healthcard import HealthCardApp, __version__
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
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
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import IssuerMode, PhotoRef
from healthcard.domain.clinic_values import Period
from healthcard.domain.events import catalog
from healthcard.domain.identity import IdentityDocument, Sex
from healthcard.domain.relation import Relation
from healthcard.domain.usage import TokenUse, UsageStep

RELEASE = "v0.1.0"
HERE = Path(__file__).resolve().parent
KEY_SECRET = b"healthcard golden log v0.1.0: public test secret"
NAMESPACE = UUID("c3d0a3f4-1b8e-4f47-9a57-3b9c2e7d6a10")
INSTITUTION = "H510104001"

MOTHER_PHONE = AccountRef(kind="phone", identifier="13800138000")
FATHER_WECHAT = AccountRef(kind="wechat", identifier="o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
CHEN_PHONE = AccountRef(kind="phone", identifier="13900139000")

MOTHER_DOC = IdentityDocument(type="01", number="510104199003150023")  # 王芳, F, 1990-03-15
CHILD_DOC = IdentityDocument(type="01", number="510104201806010032")  # 张小明, M, 2018-06-01
FATHER_DOC = IdentityDocument(type="01", number="51010419880720001X")  # 张伟, M, 1988-07-20
CHEN_DOC = IdentityDocument(type="01", number="510104197511110045")  # 陈静, F, 1975-11-11


class GoldenKeyStore:
    """Per-subject keys derived from a public test secret, so the log can be replayed.

    Implements the ``healthcard.privacy.keystore.KeyStore`` protocol.
    """

    def __init__(self) -> None:
        self.keys: dict[UUID, bytes] = {}
        self.erased: set[UUID] = set()

    def key_for_writing(self, subject: UUID) -> bytes:
        if subject in self.erased:
            raise LookupError(f"{subject} was erased")
        return self.keys.setdefault(
            subject, hmac.new(KEY_SECRET, subject.bytes, hashlib.sha256).digest()
        )

    def key_for_reading(self, subject: UUID) -> bytes | None:
        return self.keys.get(subject)

    def erase(self, subject: UUID) -> bool:
        self.erased.add(subject)
        return self.keys.pop(subject, None) is not None

    def is_erased(self, subject: UUID) -> bool:
        return subject in self.erased

    def close(self) -> None:
        return None


def audit(step: str, channel: Channel = Channel.WINDOW, actor: str = "staff-001") -> Audit:
    """An audit with a correlation id that names the scenario step (deterministic)."""
    return Audit(
        actor=actor,
        channel=channel,
        institution=INSTITUTION,
        correlation_id=uuid5(NAMESPACE, step),
    )


def run_scenario(app: HealthCardApp, clock: FakeClock) -> None:
    """The fixed scenario: a family, a grandmother's temporary card, an erasure."""
    today = clock.now.date()

    def later(minutes: int = 5) -> None:
        clock.advance(minutes=minutes)

    # 1. Registration through each channel (the child's at a kiosk, with a volunteer).
    mother = app.register(
        RegisterCard(
            audit=audit("register-mother", Channel.WECHAT_OFFICIAL_ACCOUNT, "self"),
            name="王芳",
            phone="13800138000",
            photo=PhotoRef(sha256=hashlib.sha256(b"mother photo").hexdigest(), ref="blob:p/1"),
            idempotency_key="golden-mother",
        )
    )
    later()
    child = app.register(
        RegisterCard(
            audit=audit("register-child", Channel.KIOSK, "kiosk-07"),
            name="张小明",
            volunteer="vol-007",
            idempotency_key="golden-child",
        )
    )
    later()
    father = app.register(
        RegisterCard(audit=audit("register-father"), name="张伟", idempotency_key="golden-father")
    )
    later()
    grandmother = app.register(
        RegisterCard(
            audit=audit("register-grandmother", Channel.APP, "self"),
            name="李秀英",
            idempotency_key="golden-grandmother",
        )
    )
    later()
    test_card = app.register(
        RegisterCard(
            audit=audit("register-test-card"),
            name="测试",
            issuer_mode=IssuerMode.TEST,
            idempotency_key="golden-test-card",
        )
    )

    # 2. Identity verified at the primary institution (Art. 13): three formal cards.
    for step, card, doc, name, sex, born in (
        ("identity-mother", mother, MOTHER_DOC, "王芳", Sex.FEMALE, date(1990, 3, 15)),
        ("identity-child", child, CHILD_DOC, "张小明", Sex.MALE, date(2018, 6, 1)),
        ("identity-father", father, FATHER_DOC, "张伟", Sex.MALE, date(1988, 7, 20)),
    ):
        later()
        app.complete_identity(
            CompleteIdentity(
                audit=audit(step), card_id=card, document=doc, name=name, sex=sex, birth_date=born
            )
        )

    # 3. Family bindings; the child is bound to both parents, then unbound from one.
    for step, card, account, relation in (
        ("bind-mother", mother, MOTHER_PHONE, Relation.SELF),
        ("bind-child-mother", child, MOTHER_PHONE, Relation.SON),
        ("bind-father", father, FATHER_WECHAT, Relation.SELF),
        ("bind-child-father", child, FATHER_WECHAT, Relation.SON),
    ):
        later()
        app.bind(
            BindCard(
                audit=audit(step, Channel.WECHAT_OFFICIAL_ACCOUNT, "self"),
                card_id=card,
                account=account,
                relation=relation,
            )
        )
    later()
    app.unbind(
        UnbindCard(
            audit=audit("unbind-child-father", Channel.APP, "self"),
            card_id=child,
            account=FATHER_WECHAT,
        )
    )

    # 4. Sessions, bookings, a cancellation, check-ins by ID card and by QR, a card use.
    later()
    pediatrics = app.publish_session(
        PublishSession(
            audit=audit("publish-pediatrics", actor="scheduler"),
            department="pediatrics",
            doctor="dr-li-01",
            day=today,
            period=Period.AFTERNOON,
            capacity=2,
        )
    )
    later()
    internal = app.publish_session(
        PublishSession(
            audit=audit("publish-internal", actor="scheduler"),
            department="internal-medicine",
            doctor="dr-wang-02",
            day=today + timedelta(days=1),
            period=Period.MORNING,
            capacity=5,
        )
    )
    bookings = (
        ("book-child", pediatrics, child),
        ("book-mother-1", pediatrics, mother),
        ("book-father", internal, father),
    )
    appointments: dict[str, UUID] = {}
    for step, session, card in bookings:
        later()
        appointments[step] = app.make_appointment(
            MakeAppointment(
                audit=audit(step, Channel.WECHAT_OFFICIAL_ACCOUNT, "self"),
                session_id=session,
                card_id=card,
                idempotency_key=f"golden-{step}",
            )
        )
    later()
    app.cancel_appointment(
        CancelAppointment(
            audit=audit("cancel-mother-1", Channel.APP, "self"),
            session_id=pediatrics,
            appointment_id=appointments["book-mother-1"],
            reason="patient_request",
        )
    )
    later()
    app.make_appointment(
        MakeAppointment(
            audit=audit("book-mother-2", Channel.APP, "self"),
            session_id=pediatrics,
            card_id=mother,
            idempotency_key="golden-book-mother-2",
        )
    )
    clock.advance(hours=4)  # the afternoon session
    app.check_in_with_document(
        CheckInWithDocument(
            audit=audit("check-in-child", Channel.TRIAGE_DESK, "nurse-03"),
            session_id=pediatrics,
            document=CHILD_DOC,
        )
    )
    later(2)
    token = app.issue_token(
        IssueToken(
            audit=audit("token-mother", Channel.WECHAT_OFFICIAL_ACCOUNT, "self"),
            card_id=mother,
            account=MOTHER_PHONE,
            use=TokenUse.TRIAGE,
        )
    )
    app.check_in_with_qr(
        CheckInWithQr(
            audit=audit("check-in-mother", Channel.TRIAGE_DESK, "nurse-03"),
            session_id=pediatrics,
            token=token,
        )
    )
    later(30)
    token = app.issue_token(
        IssueToken(
            audit=audit("token-child", Channel.WECHAT_OFFICIAL_ACCOUNT, "self"),
            card_id=child,
            account=MOTHER_PHONE,
            use=TokenUse.DIAGNOSIS,
        )
    )
    app.use_card(
        UseCard(
            audit=audit("use-child", Channel.DOCTOR_WORKSTATION, "dr-li-01"),
            token=token,
            step=UsageStep.DIAGNOSIS,
        )
    )

    # 5. Status: the father's card frozen (lost phone) and unfrozen; the grandmother's
    #    temporary card and the test card cancelled.
    later()
    app.freeze(FreezeCard(audit=audit("freeze-father"), card_id=father, reason="lost_phone"))
    later()
    app.unfreeze(UnfreezeCard(audit=audit("unfreeze-father"), card_id=father))
    later()
    app.cancel_card(
        CancelCard(audit=audit("cancel-grandmother"), card_id=grandmother, reason="duplicate")
    )
    later()
    app.cancel_card(CancelCard(audit=audit("cancel-test-card"), card_id=test_card, reason="audit"))

    # 6. 陈静: a formal card bound to her own phone, erased on request (PIPL Art. 47),
    #    then registered again with the same document (the claim is free again).
    later()
    chen = app.register(
        RegisterCard(
            audit=audit("register-chen", Channel.APP, "self"),
            name="陈静",
            phone="13900139000",
            idempotency_key="golden-chen-1",
        )
    )
    later()
    app.complete_identity(
        CompleteIdentity(
            audit=audit("identity-chen"),
            card_id=chen,
            document=CHEN_DOC,
            name="陈静",
            sex=Sex.FEMALE,
            birth_date=date(1975, 11, 11),
        )
    )
    later()
    app.bind(
        BindCard(
            audit=audit("bind-chen", Channel.APP, "self"),
            card_id=chen,
            account=CHEN_PHONE,
            relation=Relation.SELF,
        )
    )
    clock.advance(days=1)
    app.erase_personal_data(
        ErasePersonalData(audit=audit("erase-chen", actor="dpo-01"), card_id=chen)
    )
    later()
    chen_again = app.register(
        RegisterCard(
            audit=audit("register-chen-again"), name="陈静", idempotency_key="golden-chen-2"
        )
    )
    later()
    app.complete_identity(
        CompleteIdentity(
            audit=audit("identity-chen-again"),
            card_id=chen_again,
            document=CHEN_DOC,
            name="陈静",
            sex=Sex.FEMALE,
            birth_date=date(1975, 11, 11),
        )
    )


def notifications(app: HealthCardApp) -> list[dict[str, Any]]:
    rows = []
    for n in app.recorder.select_notifications(start=None, limit=1_000_000):
        rows.append(
            {
                "id": n.id,
                "originator_id": str(n.originator_id),
                "originator_version": n.originator_version,
                "topic": n.topic,
                "state": orjson.loads(n.state),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    log_path = args.out / f"{RELEASE}-events.jsonl"
    keys_path = args.out / f"{RELEASE}-keys.json"
    for path in (log_path, keys_path):
        if path.exists():
            print(f"{path} exists: golden files are never regenerated", file=sys.stderr)
            return 1
    clock = FakeClock()
    keystore = GoldenKeyStore()
    app = HealthCardApp(memory_env(), clock=clock, keystore=keystore)
    try:
        run_scenario(app, clock)
        rows = notifications(app)
    finally:
        app.close()
    missing = set(catalog.registered_topics()) - {row["topic"] for row in rows}
    if missing:
        print(f"the scenario misses topics: {sorted(missing)}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
    keys = {
        "release": RELEASE,
        "library_version": __version__,
        "note": "test keys derived from a public secret; synthetic people only",
        "keys": {str(s): k.hex() for s, k in sorted(keystore.keys.items(), key=str)},
        "erased": sorted(str(s) for s in keystore.erased),
    }
    keys_path.write_text(json.dumps(keys, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} events to {log_path} and {len(keys['keys'])} keys to {keys_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
