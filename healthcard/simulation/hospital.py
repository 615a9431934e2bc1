"""The simulated hospital: its codes, departments and the day's clinic sessions.

Why capacities come from the planned demand: the demo must show a full session on
every seed, so each department with two or more patients gets fewer places than
patients (about 80 %), spread over small morning and afternoon sessions.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime

from healthcard.domain.clinic_values import Period
from healthcard.domain.clock import CHINA_TZ
from healthcard.domain.identity import Sex
from healthcard.simulation.people import Resident

DAY_START = datetime(2026, 11, 25, 7, 30, tzinfo=CHINA_TZ)
"""When the simulated day starts (the sessions are published then)."""

HOSPITAL = "H510107001"
"""Institution code of the simulated hospital (a made-up Chengdu Wuhou code)."""

PRIMARY_INSTITUTIONS = ("C510107012", "C510104003", "C510108021", "C510105007")
"""Community health centres that verify identity documents (Measures, Art. 13)."""

MAX_SESSION_CAPACITY = 12


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    label: str
    abbreviation: str


INTERNAL_MEDICINE = Department("internal_medicine", "内科 internal", "im")
PAEDIATRICS = Department("paediatrics", "儿科 paediatrics", "pd")
OBSTETRICS = Department("obstetrics", "产科 obstetrics", "ob")
CARDIOLOGY = Department("cardiology", "心内科 cardiology", "cd")
DEPARTMENTS = (INTERNAL_MEDICINE, PAEDIATRICS, OBSTETRICS, CARDIOLOGY)
DEPARTMENT_LABELS = {department.code: department.label for department in DEPARTMENTS}


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """A clinic session to publish: one doctor's half-day with a few places."""

    department: str
    doctor: str
    period: Period
    capacity: int


def age_on(resident: Resident, day: date) -> int:
    born = resident.birth_date
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def preferred_department(resident: Resident, day: date, rng: random.Random) -> Department:
    """Where this person would book: children to paediatrics, and so on."""
    age = age_on(resident, day)
    if age < 14:
        return PAEDIATRICS
    if resident.sex is Sex.FEMALE and 20 <= age <= 42 and rng.random() < 0.5:
        return OBSTETRICS
    if age >= 55 and rng.random() < 0.6:
        return CARDIOLOGY
    return INTERNAL_MEDICINE


def plan_sessions(demand: dict[str, int], rng: random.Random) -> list[SessionPlan]:
    """Sessions per department with fewer places than the planned patients.

    A department with ``d >= 2`` patients gets ``d - max(1, d // 5)`` places, so at
    least one of its patients meets a full session; each doctor holds a morning and
    an afternoon session of at most ``MAX_SESSION_CAPACITY`` places (a department
    with a single place gets one morning session).
    """
    sessions: list[SessionPlan] = []
    for department in DEPARTMENTS:
        wanted = demand.get(department.code, 0)
        places = max(1, wanted - max(1, wanted // 5)) if wanted else 2
        count = 1 if places == 1 else 2 * math.ceil(places / (2 * MAX_SESSION_CAPACITY))
        capacities = [places // count] * count
        for index in rng.sample(range(count), places % count):
            capacities[index] += 1
        for index, capacity in enumerate(capacities):
            sessions.append(
                SessionPlan(
                    department=department.code,
                    doctor=f"dr-{department.abbreviation}-{index // 2 + 1:02d}",
                    period=Period.MORNING if index % 2 == 0 else Period.AFTERNOON,
                    capacity=capacity,
                )
            )
    return sessions
