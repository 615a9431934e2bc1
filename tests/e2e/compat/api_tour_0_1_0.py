"""The README API tour of release 0.1.0: code written against 0.1.0 (its import paths
included) must keep running. Run by tests/e2e/test_compat.py. One line differs from
0.1.0: its retried registration sent other content under the same idempotency key,
which is refused since (``idempotency_key_reused``); the retry here repeats the command."""

# ruff: noqa
from datetime import date, datetime

from healthcard import HealthCardApp
from healthcard.commands import (
    BindCard,
    CheckInWithDocument,
    CompleteIdentity,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UseCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clinic_values import CHINA_TZ, Period
from healthcard.domain.errors import HealthCardError, IdentityIncomplete, TokenRejected
from healthcard.persistence import memory_env
from healthcard.testing.clock import FakeClock

clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ))
app = HealthCardApp(memory_env(), clock=clock)  # or sqlite_env(path) / postgres_env(...)

# Every command says who issues it, through which channel, for which institution.
kiosk = Audit(actor="volunteer-desk", channel=Channel.KIOSK, institution="H510100001")
window = Audit(actor="staff-017", channel=Channel.WINDOW, institution="H510100001")

# 1. Register (temporary card). The photo is a digest and a blob reference, never bytes.
card_id = app.register(
    RegisterCard(
        audit=kiosk,
        name="张三",
        phone="138 1234 5678",
        volunteer="V042",
        photo={"sha256": "ab" * 32, "ref": "blob://photos/2026/11/25/0001"},
        idempotency_key="kiosk-7-req-0001",  # a retried request returns the same card
    )
)
assert (
    app.register(
        RegisterCard(
            audit=kiosk,
            name="张三",
            phone="138 1234 5678",
            volunteer="V042",
            photo={"sha256": "ab" * 32, "ref": "blob://photos/2026/11/25/0001"},
            idempotency_key="kiosk-7-req-0001",
        )
    )
    == card_id
)
assert app.card(card_id).kind == "temporary"

# 2. A clinic session; booking before identity is complete is refused.
session_id = app.publish_session(
    PublishSession(
        audit=window,
        department="internal-medicine",
        doctor="D0007",
        day=date(2026, 11, 25),
        period=Period.MORNING,
        capacity=20,
    )
)
try:
    app.make_appointment(MakeAppointment(audit=window, session_id=session_id, card_id=card_id))
except IdentityIncomplete as error:
    assert error.code == "identity_incomplete"
else:
    raise AssertionError("booked with a temporary card")

# 3. Identity completed and verified by the institution: the card becomes formal and
#    gets its national EHC ID (SM4, 64 hex characters).
ehc_id = app.complete_identity(
    CompleteIdentity(
        audit=window,
        card_id=card_id,
        document={"type": "01", "number": "11010519491231002X"},
        name="张三",
        sex="2",
        birth_date=date(1949, 12, 31),
    )
)
assert len(ehc_id) == 64 and app.card(card_id).is_formal

# 4. Bind to a phone account (a family account holds up to 5 cards by default).
account_id = app.bind(
    BindCard(
        audit=window,
        card_id=card_id,
        account={"kind": "phone", "identifier": "13812345678"},
        relation="01",
    )
)

# 5. Book, then report to the triage desk with the ID card.
appointment_id = app.make_appointment(
    MakeAppointment(audit=window, session_id=session_id, card_id=card_id)
)
clock.advance(hours=1)
triage = Audit(actor="nurse-003", channel=Channel.TRIAGE_DESK, institution="H510100001")
assert (
    app.check_in_with_document(
        CheckInWithDocument(
            audit=triage,
            session_id=session_id,
            document={"type": "01", "number": "11010519491231002x"},
        )
    )
    == appointment_id
)

# 6. At the doctor: the bound phone shows a signed QR token (about a minute long, accepted
#    once); the doctor workstation verifies it and records the use with a national step code.
patient_app = Audit(actor="patient-app", channel=Channel.APP, institution="H510100001")
token = app.issue_token(
    IssueToken(
        audit=patient_app,
        card_id=card_id,
        account={"kind": "phone", "identifier": "13812345678"},
        use="diagnosis",
    )
)
assert token.startswith("EH1:")
doctor = Audit(actor="D0007", channel=Channel.DOCTOR_WORKSTATION, institution="H510100001")
app.use_card(UseCard(audit=doctor, token=token, step="010102"))  # 010102 diagnosis
try:
    app.use_card(UseCard(audit=doctor, token=token, step="010102"))
except TokenRejected as error:
    assert error.reason == "replayed"
else:
    raise AssertionError("a replayed token was accepted")

# Bad input is a typed error naming the field, never echoing the value; nothing is written.
try:
    RegisterCard(audit=kiosk, name="李四", phone="12345")
except HealthCardError as error:
    assert (error.code, error.field) == ("invalid_input", "phone")
    assert "12345" not in str(error)
else:
    raise AssertionError("a bad phone number was accepted")

# Every step is an event in one ordered log.
topics = [n.topic for n in app.recorder.select_notifications(start=1, limit=100)]
assert topics[:2] == ["healthcard.card.Registered", "healthcard.session.Published"]
app.close()
