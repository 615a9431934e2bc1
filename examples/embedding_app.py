"""An app that embeds ``healthcard`` as a dependency: a hospital front desk service.

What an embedding app does with the library, in about a hundred lines:

- picks persistence by configuration (eventsourcing's environment variables; here a
  SQLite file, or memory for a dry run) and injects its own clock;
- turns its own requests (plain dicts, as a web framework would hand them over) into
  the library's commands, whose validation errors name the field and never echo input;
- maps the library's stable error ``code`` to its own HTTP status and message;
- passes its own staff rules as the authoriser, asked before every command;
- shows people masked on its screens with ``healthcard.adapters.privacy.masking``;
- reads the log back with ``healthcard.analytics`` for its daily report.

Run: ``python examples/embedding_app.py [--db FILE]``.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.adapters.privacy.masking import mask_document_number, mask_name
from healthcard.analytics import compute_stats
from healthcard.application.commands import (
    BindCard,
    CheckInWithDocument,
    Command,
    CompleteIdentity,
    MakeAppointment,
    PublishSession,
    RegisterCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.errors import DocumentAlreadyRegistered, HealthCardError
from healthcard.domain.identity import DocumentType, IdentityDocument

HTTP_STATUS = {
    "invalid_input": 422,
    "identity_mismatch": 422,  # found missing by property_test_example.py
    "card_not_found": 404,
    "session_not_found": 404,
    "not_found": 404,
    "identity_incomplete": 409,
    "session_full": 409,
    "document_already_registered": 409,
    "family_cap_reached": 409,
    "not_authorised": 403,
}
"""The embedding app's own mapping from the library's stable codes to HTTP statuses."""

STAFF = {"w-01": {Channel.WINDOW}, "t-02": {Channel.TRIAGE_DESK}}
"""The hospital's staff roster (in its own identity system): who works at which desk."""


def desk_rules(command: Command, caller: Audit) -> bool:
    """The app's authoriser: a desk command only from rostered staff at their own desk."""
    if caller.channel in (Channel.WINDOW, Channel.TRIAGE_DESK):
        return caller.channel in STAFF.get(caller.actor, set())
    return True


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]


class FrontDesk:
    """The hospital's service layer over the library (one instance per process)."""

    def __init__(self, health: HealthCardApp, institution: str) -> None:
        self.health = health
        self.institution = institution

    def _audit(self, staff: str, channel: Channel) -> Audit:
        return Audit(actor=staff, channel=channel, institution=self.institution)

    def handle(self, action: str, request: dict[str, Any]) -> Response:
        """One request in, one response out; refusals are answers, not crashes."""
        try:
            return Response(200, getattr(self, action)(request))
        except HealthCardError as error:
            return Response(HTTP_STATUS.get(error.code, 400), error.to_dict())

    def register_patient(self, request: dict[str, Any]) -> dict[str, Any]:
        """Register at the window with the ID card in hand: validate the document and
        look for an existing card first, so that a refusal leaves no temporary card."""
        audit = self._audit(request["staff"], Channel.WINDOW)
        document = IdentityDocument(type=DocumentType.RESIDENT_ID, number=request["id_number"])
        existing = self.health.find_card_by_document(document)
        if existing is not None:
            raise DocumentAlreadyRegistered(existing)
        card_id = self.health.register(RegisterCard(audit=audit, name=request["name"]))
        self.health.complete_identity(
            CompleteIdentity(
                audit=audit,
                card_id=card_id,
                document=document,
                name=request["name"],
                sex=request["sex"],
                birth_date=request["birth_date"],
            )
        )
        if request.get("phone"):
            self.health.bind(
                BindCard(
                    audit=audit,
                    card_id=card_id,
                    account={"kind": "phone", "identifier": request["phone"]},
                )
            )
        card = self.health.card(card_id)
        shown = f"{mask_name(card.name or '')} {mask_document_number(document.number)}"
        return {"card_id": str(card_id), "shown_as": shown}

    def open_session(self, request: dict[str, Any]) -> dict[str, Any]:
        session_id = self.health.publish_session(
            PublishSession(audit=self._audit("scheduler", Channel.SYSTEM), **request)
        )
        return {"session_id": str(session_id)}

    def book(self, request: dict[str, Any]) -> dict[str, Any]:
        appointment = self.health.make_appointment(
            MakeAppointment(
                audit=self._audit("app", Channel.APP),
                session_id=UUID(request["session_id"]),
                card_id=UUID(request["card_id"]),
            )
        )
        return {"appointment_id": str(appointment)}

    def arrive(self, request: dict[str, Any]) -> dict[str, Any]:
        appointment = self.health.check_in_with_document(
            CheckInWithDocument(
                audit=self._audit(request["staff"], Channel.TRIAGE_DESK),
                session_id=UUID(request["session_id"]),
                document={"type": "01", "number": request["id_number"]},
            )
        )
        return {"checked_in": str(appointment)}


def main(db: Path) -> dict[str, Any]:
    """A morning at the desk; returns what happened (the example's test checks it)."""
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=CHINA_TZ))
    health = HealthCardApp(
        sqlite_env(db), clock=clock, config=HealthCardConfig(family_cap=3), authoriser=desk_rules
    )
    desk = FrontDesk(health, institution="H510107001")
    try:
        session = desk.handle(
            "open_session",
            {"department": "paediatrics", "doctor": "dr-7", "day": "2026-11-25",
             "period": "morning", "capacity": 1},
        )  # fmt: skip
        wang = desk.handle(
            "register_patient",
            {"staff": "w-01", "name": "王芳", "id_number": "11010519491231002X", "sex": "2",
             "birth_date": "1949-12-31", "phone": "138 0013 8000"},
        )  # fmt: skip
        twice = desk.handle(
            "register_patient",
            {"staff": "w-01", "name": "王芳", "id_number": "11010519491231002X", "sex": "2",
             "birth_date": "1949-12-31"},
        )  # fmt: skip
        typo = desk.handle(
            "register_patient",
            {"staff": "w-01", "name": "李雷", "id_number": "110105194912310021", "sex": "1",
             "birth_date": "1949-12-31"},
        )  # fmt: skip
        stranger = desk.handle(
            "register_patient",
            {"staff": "v-09", "name": "李雷", "id_number": "510104199003150015", "sex": "1",
             "birth_date": "1990-03-15"},
        )  # fmt: skip
        li = desk.handle(
            "register_patient",
            {"staff": "w-01", "name": "李雷", "id_number": "510104199003150015", "sex": "1",
             "birth_date": "1990-03-15"},
        )  # fmt: skip
        sid = session.body["session_id"]
        booked = desk.handle("book", {"session_id": sid, "card_id": wang.body["card_id"]})
        full = desk.handle("book", {"session_id": sid, "card_id": li.body["card_id"]})
        arrived = desk.handle(
            "arrive", {"staff": "t-02", "session_id": sid, "id_number": "11010519491231002X"}
        )
        report = compute_stats(health)
    finally:
        health.close()
    outcome = {
        "registered": wang.status,
        "shown_as": wang.body["shown_as"],
        "second_card_for_same_document": (twice.status, twice.body["code"]),
        "typo_in_id_number": (typo.status, typo.body["code"], typo.body["field"]),
        "typo_echoed": "110105194912310021" in str(typo.body),
        "unknown_staff": (stranger.status, stranger.body["code"]),
        "booked": booked.status,
        "session_full": (full.status, full.body["code"]),
        "arrived": arrived.status,
        "funnel": report.total.counts,
    }
    for key, value in outcome.items():
        print(f"{key}: {value}")
    return outcome


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        main(args.db or Path(folder) / "desk.sqlite3")
