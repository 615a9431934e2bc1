"""Searching stored bytes for a person's data: the privacy tests' eyes.

Why in the kit: "nothing personal is readable in the database" can only be tested by
looking at what lies on disk (the SQLite file and its WAL, a ``pg_dump``) for every
form a value takes when stored (UTF-8, JSON escapes, lower case, UTF-16, the phone in
E.164). A search must also be shown to find clear data (a guard), or it proves
nothing; the tests that use this module do both.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from uuid import UUID

from healthcard.application import HealthCardApp
from healthcard.application.commands import BindCard, CompleteIdentity, RegisterCard
from healthcard.domain.audit import Audit


@dataclass(frozen=True, slots=True)
class Persona:
    """A synthetic person whose data the privacy tests look for."""

    name: str = "欧阳娜娜"
    document: str = "11010519491231002X"
    phone: str = "13912345678"
    birth_date: date = date(1949, 12, 31)
    sex: str = "2"

    def encodings(self) -> list[bytes]:
        """Every stored form of the person's name, document number and phone."""
        return encodings(self.name, self.document, self.phone, phone=self.phone)

    def hits(self, blob: bytes) -> list[bytes]:
        """The forms of the person's data found in ``blob`` (empty: none)."""
        return [needle for needle in self.encodings() if needle in blob]

    def register(self, app: HealthCardApp, audit: Audit) -> UUID:
        """Register, complete identity and bind the person's own phone account."""
        card_id = app.register(RegisterCard(audit=audit, name=self.name, phone=self.phone))
        app.complete_identity(
            CompleteIdentity(
                audit=audit,
                card_id=card_id,
                document={"type": "01", "number": self.document},
                name=self.name,
                sex=self.sex,
                birth_date=self.birth_date,
            )
        )
        app.bind(
            BindCard(
                audit=audit,
                card_id=card_id,
                account={"kind": "phone", "identifier": self.phone},
                relation="01",
            )
        )
        return card_id


def encodings(*values: str, phone: str | None = None) -> list[bytes]:
    """Each value as UTF-8, JSON-escaped ASCII, lower case and UTF-16; ``phone`` also
    in its E.164 form."""
    out: list[bytes] = []
    for value in values:
        out.append(value.encode())
        out.append(json.dumps(value).strip('"').encode())  # \\uXXXX escapes
        out.append(value.lower().encode())
        out.append(value.encode("utf-16-le"))
    if phone is not None:
        out.append(f"+86{phone}".encode())
    return [b for b in out if b]


def sqlite_bytes(path: Path) -> bytes:
    """A SQLite database file with its WAL, shared-memory and journal files, as on disk."""
    blob = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            blob += candidate.read_bytes()
    return blob


def pg_dump(dbname: str, schema: str, host: str, port: int, user: str) -> bytes:
    """``pg_dump`` of one schema (plain SQL text, as an operator would take it)."""
    return subprocess.run(  # noqa: S603
        ["pg_dump", "-h", host, "-p", str(port), "-U", user, "-n", schema, dbname],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout


__all__ = ["Persona", "encodings", "pg_dump", "sqlite_bytes"]
