"""Who did what through which channel: the audit metadata every event carries."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID, uuid4

from pydantic import Field

from healthcard.domain.boundary import BoundaryModel
from healthcard.domain.text import Code

__all__ = ["Audit", "Channel", "Code"]


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
    """Audit metadata: the actor, the channel, the institution, a correlation id, and
    the id of the command whose events these are.

    Actors and institutions are codes of the embedding app, not names of people.
    ``command_id`` is written by the service (from the command's own ``command_id``),
    not by callers: it is how a command retried after an ambiguous commit recognises
    that its first attempt was saved (``Aggregate.took``). Events written before it
    existed read it as None.
    """

    actor: Code
    channel: Channel
    institution: Code
    correlation_id: UUID = Field(default_factory=uuid4)
    command_id: UUID | None = None
