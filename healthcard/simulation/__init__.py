"""A deterministic simulated day at a Sichuan hospital (``healthcard demo``).

Synthetic residents (valid resident IDs, mobiles and names, none real) register,
complete their identity, bind family cards, book clinic sessions and check in,
through the public application API on an injected fake clock. One seed gives the
same event log every time, which makes the demo a reproducible fixture too.
"""

from __future__ import annotations

from healthcard.simulation.day import HospitalDay, simulate_day
from healthcard.simulation.hospital import DAY_START, DEPARTMENT_LABELS, DEPARTMENTS
from healthcard.simulation.plan import MIN_CARDS, DayPlan, plan_day
from healthcard.simulation.report import DayReport, events_by_topic

__all__ = [
    "DAY_START",
    "DEPARTMENTS",
    "DEPARTMENT_LABELS",
    "MIN_CARDS",
    "DayPlan",
    "DayReport",
    "HospitalDay",
    "events_by_topic",
    "plan_day",
    "simulate_day",
]
