"""Triage read model: per department and day, the check-in queue and who was seen.

Pure functions of (working set, event). A check-in takes the next queue number of
its department's desk that day (arrival order is log order). When a card is used
for diagnosis (national step 010102) on a day it has a waiting entry, the entry
becomes ``seen``; if the card waits in two departments that day, the earlier
arrival is the one seen (the usage event does not name a department).
"""

from __future__ import annotations

from healthcard.readmodels.booking import session_of
from healthcard.readmodels.decode import ViewEvent
from healthcard.readmodels.model import DIAGNOSIS_STEP, SEEN, WAITING, Tables, TriageRow


def on_checked_in(tables: Tables, event: ViewEvent) -> None:
    session = session_of(tables, event)
    counter = tables.counter((session.department, session.day))
    counter.last_queue_no += 1
    tables.dirty_counters.add((counter.department, counter.day))
    state = event.state
    row = TriageRow(
        state["appointment_id"],
        session.department,
        session.day,
        session.session_id,
        state["card_id"],
        counter.last_queue_no,
        state["credential"],
        state["timestamp"],
        WAITING,
        None,
    )
    tables.add_triage(row)
    tables.dirty_triage.add(row.appointment_id)


def on_card_used(tables: Tables, event: ViewEvent) -> None:
    state = event.state
    if state.get("step") != DIAGNOSIS_STEP:
        return
    waiting = tables.waiting_by_card.get(event.originator_id)
    if not waiting:
        return
    at = state["timestamp"]
    day = at[:10]
    chosen: TriageRow | None = None
    for appointment_id in waiting:
        row = tables.triage[appointment_id]
        if row.day == day and (
            chosen is None
            or (row.checked_in_at, row.queue_no) < (chosen.checked_in_at, chosen.queue_no)
        ):
            chosen = row
    if chosen is None:
        return
    chosen.status = SEEN
    chosen.seen_at = at
    waiting.remove(chosen.appointment_id)
    tables.dirty_triage.add(chosen.appointment_id)
