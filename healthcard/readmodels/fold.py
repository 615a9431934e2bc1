"""Fold a batch of events into a working set: dispatch by topic to both read models.

``needs`` says which existing rows a batch refers to (the store loads them first);
``apply`` then runs the pure handlers of ``booking`` and ``triage`` in log order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from healthcard.readmodels import booking, triage
from healthcard.readmodels.decode import Topic, ViewEvent
from healthcard.readmodels.model import DIAGNOSIS_STEP, Needs, Tables

Handler = Callable[[Tables, ViewEvent], None]


HANDLERS: dict[str, Handler] = {
    Topic.IDENTITY_COMPLETED: booking.on_identity_completed,
    Topic.PERSONAL_DATA_ERASED: booking.on_personal_data_erased,
    Topic.CARD_USED: triage.on_card_used,
    Topic.SESSION_PUBLISHED: booking.on_published,
    Topic.APPOINTMENT_MADE: booking.on_appointment_made,
    Topic.APPOINTMENT_CANCELLED: booking.on_appointment_cancelled,
    Topic.CHECKED_IN: triage.on_checked_in,
}


def needs(events: Sequence[ViewEvent]) -> Needs:
    """Rows of earlier batches the batch refers to (rows it creates itself are skipped)."""
    result = Needs()
    sessions = result.session_ids
    appointments = result.appointment_ids
    published: set[str] = set()
    made: set[str] = set()
    for event in events:
        topic = event.topic
        if topic == Topic.APPOINTMENT_MADE:
            if event.originator_id not in published:
                sessions.add(event.originator_id)
            made.add(event.state["appointment_id"])
        elif topic == Topic.CHECKED_IN:
            if event.originator_id not in published:
                sessions.add(event.originator_id)
        elif topic == Topic.APPOINTMENT_CANCELLED:
            if event.originator_id not in published:
                sessions.add(event.originator_id)
            appointment_id = event.state["appointment_id"]
            if appointment_id not in made:
                appointments.add(appointment_id)
        elif topic == Topic.SESSION_PUBLISHED:
            published.add(event.originator_id)
        elif topic == Topic.CARD_USED and event.state.get("step") == DIAGNOSIS_STEP:
            result.used_card_ids.add(event.originator_id)
    return result


def apply(tables: Tables, events: Sequence[ViewEvent]) -> None:
    """Fold ``events`` (in log order) into ``tables``."""
    handlers = HANDLERS
    for event in events:
        handlers[event.topic](tables, event)
