"""The lifecycle machine, also checking the booking read models against the reference.

Why a subclass: the read models (``healthcard.readmodels``) live in a SQLite file of
their own and are caught up after every step, which costs more than checking the
aggregates; embedders who serve those views run this machine, others the base one.

After every step the projector folds the new events, then for every session of the
model the views must list the same appointments, for the same cards, with the status
the model implies as of the machine's today (booked, cancelled, checked in, or
no-show once the session's day is past; a checked-in appointment may show as seen),
and the session's booked count must equal the places the model says are taken.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

from healthcard.readmodels import Projector, open_projections
from healthcard.testing.reference import APPOINTMENT_CANCELLED, BOOKED, CHECKED_IN
from healthcard.testing.state_machine import HealthCardMachine, ModelMismatch

ACCEPTED_VIEW_STATUSES: dict[str, frozenset[str]] = {
    BOOKED: frozenset({"booked"}),
    APPOINTMENT_CANCELLED: frozenset({"cancelled"}),
    CHECKED_IN: frozenset({"checked_in", "seen"}),
}


class ReadModelMachine(HealthCardMachine):
    """:class:`HealthCardMachine` plus the booking read models, caught up each step."""

    views_folder: ClassVar[Path | None] = None
    """Where the views files go (default: a temporary folder per example)."""

    def __init__(self) -> None:
        super().__init__()
        self._folder = Path(tempfile.mkdtemp(prefix="healthcard-views-", dir=self.views_folder))
        self.projections = open_projections(app=self.app, views_path=self._folder / "views.sqlite3")
        self.projector = Projector(self.app, self.projections.store)

    def teardown(self) -> None:
        try:
            self.projections.close()
        finally:
            super().teardown()
            shutil.rmtree(self._folder, ignore_errors=True)

    def check_extra(self) -> None:
        super().check_extra()
        self.projector.catch_up()
        store = self.projections.store
        today = self.model.today
        for session_id, ref in self.model.sessions.items():
            views = {v.appointment_id: v for v in store.session_appointments(session_id, today)}
            if set(views) != set(ref.appointments):
                raise ModelMismatch(f"read model: session {session_id} lists other appointments")
            for appointment_id, appointment in ref.appointments.items():
                view = views[appointment_id]
                accepted = ACCEPTED_VIEW_STATUSES[appointment.status]
                if appointment.status == BOOKED and ref.day < today:
                    accepted = frozenset({"no_show"})
                if view.card_id != appointment.card_id or view.status not in accepted:
                    raise ModelMismatch(
                        f"read model: appointment {appointment_id} shows {view.status}, "
                        f"the model says {appointment.status}"
                    )
            department, _, day, _ = ref.slot
            listed = [s for s in store.sessions(department, day) if s.session_id == session_id]
            if len(listed) != 1 or listed[0].booked != ref.taken:
                raise ModelMismatch(f"read model: session {session_id} booked count differs")
            if listed[0].capacity != ref.capacity:
                raise ModelMismatch(f"read model: session {session_id} capacity differs")


__all__ = ["ACCEPTED_VIEW_STATUSES", "ReadModelMachine"]
