"""Who did what through which channel: the audit metadata every event carries."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import Field, StringConstraints

from healthcard.domain.boundary import BoundaryModel

Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.:@/-]+$"),
]
"""An identifier chosen by the embedding app (staff id, institution code)."""


class Channel(StrEnum):
    """Where a command came from (registration channels and national usage channels)."""

    WECHAT_OFFICIAL_ACCOUNT = "wechat_official_account"
    KIOSK = "kiosk"
    WINDOW = "window"
    APP = "app"
    DOCTOR_WORKSTATION = "doctor_workstation"
    MINI_PROGRAM = "mini_program"
    TRIAGE_DESK = "triage_desk"
    SYSTEM = "system"


class Audit(BoundaryModel):
    """Audit metadata: the actor, the channel, the institution, and a correlation id.

    Actors and institutions are codes of the embedding app, not names of people.
    """

    actor: Code
    channel: Channel
    institution: Code
    correlation_id: UUID = Field(default_factory=uuid4)
