"""Helpers for the privacy tests: a person, their data in every encoding we store."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from uuid import UUID

from healthcard import HealthCardApp
from healthcard.application.commands import BindCard, CompleteIdentity, RegisterCard
from healthcard.domain.audit import Audit

NAME = "欧阳娜娜"
DOCUMENT = "11010519491231002X"
PHONE = "13912345678"


def encodings(*values: str) -> list[bytes]:
    """Each value as UTF-8, as JSON-escaped ASCII, and in the phone's E.164 form."""
    out: list[bytes] = []
    for value in values:
        out.append(value.encode())
        out.append(json.dumps(value).strip('"').encode())  # \\uXXXX escapes
        out.append(value.lower().encode())
        out.append(value.encode("utf-16-le"))
    out.append(f"+86{PHONE}".encode())
    return [b for b in out if b]


def personal_hits(blob: bytes) -> list[bytes]:
    return [needle for needle in encodings(NAME, DOCUMENT, PHONE) if needle in blob]


def sqlite_bytes(path: Path) -> bytes:
    """The database file and its WAL and shared-memory files, as they lie on disk."""
    blob = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            blob += candidate.read_bytes()
    return blob


def pg_dump(dbname: str, schema: str, host: str, port: int, user: str) -> bytes:
    return subprocess.run(  # noqa: S603
        ["pg_dump", "-h", host, "-p", str(port), "-U", user, "-n", schema, dbname],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout


def register_person(app: HealthCardApp, audit: Audit) -> UUID:
    """Register, complete identity and bind the person's own phone account."""
    card_id = app.register(RegisterCard(audit=audit, name=NAME, phone=PHONE))
    app.complete_identity(
        CompleteIdentity(
            audit=audit,
            card_id=card_id,
            document={"type": "01", "number": DOCUMENT},
            name=NAME,
            sex="2",
            birth_date=date(1949, 12, 31),
        )
    )
    app.bind(
        BindCard(
            audit=audit,
            card_id=card_id,
            account={"kind": "phone", "identifier": PHONE},
            relation="01",
        )
    )
    return card_id
