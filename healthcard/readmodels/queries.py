"""Queries of the read models: what an app asks, answered from the served version.

Each query reads the ``current_version`` pointer and the tables in one read
transaction (one snapshot), so it sees a whole version, old or new, during a
blue/green swap; if a swap dropped the old tables in between (PostgreSQL), it
retries on the new ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import ProgrammingError

from healthcard.domain.clock import CHINA_TZ
from healthcard.readmodels.model import CANCELLED, PERIOD_ORDER
from healthcard.readmodels.schema import APPOINTMENTS, CARDS, SESSIONS, TABLES, TRIAGE
from healthcard.readmodels.sql_dialect import Cursor, SqlDialect
from healthcard.readmodels.views import (
    AppointmentView,
    SessionView,
    TriageDay,
    TriageEntry,
    appointment_status,
    hex_id,
    waiting_minutes,
)

T = TypeVar("T")


class ViewQueries(SqlDialect):
    """The read side of a view store."""

    def _query(self, body: Callable[[Cursor, int], T], empty: T) -> T:
        """Run ``body`` against the served version in one snapshot; retry if a swap
        dropped the tables between reading the version and reading them."""
        for attempt in range(3):
            with self._read() as c:
                version = self._current(c)
                if version is None:
                    return empty
                try:
                    return body(c, version)
                except (ProgrammingError, sqlite3.OperationalError) as error:
                    if attempt == 2 or not self._is_missing_table(error):
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def sessions(
        self, department: str, day: date, *, available_only: bool = False
    ) -> list[SessionView]:
        """A department's sessions on a day (only those with places left, if asked)."""

        def body(c: Cursor, v: int) -> list[SessionView]:
            c.execute(
                self._q(
                    "SELECT session_id, department, doctor, day, period, capacity, booked "  # noqa: S608
                    f"FROM {self._t(v, SESSIONS)} WHERE department = ? AND day = ?"
                    + (" AND booked < capacity" if available_only else "")
                ),
                (department, day.isoformat()),
            )
            views = [
                SessionView(UUID(sid), dept, doc, date.fromisoformat(d), p, int(cap), int(b))
                for sid, dept, doc, d, p, cap, b in c.fetchall()
            ]
            return sorted(views, key=lambda s: (PERIOD_ORDER.get(s.period, 9), s.doctor))

        return self._query(body, [])

    def departments(self, day: date) -> list[str]:
        """The departments with at least one session on ``day``, sorted (what to offer
        someone who asked for a department that has none that day)."""

        def body(c: Cursor, v: int) -> list[str]:
            c.execute(
                self._q(f"SELECT DISTINCT department FROM {self._t(v, SESSIONS)} WHERE day = ?"),  # noqa: S608
                (day.isoformat(),),
            )
            return sorted(str(row[0]) for row in c.fetchall())

        return self._query(body, [])

    def available_sessions(self, department: str, day: date) -> list[SessionView]:
        return self.sessions(department, day, available_only=True)

    def _appointments(
        self, c: Cursor, v: int, where: str, params: Sequence[Any], today: date
    ) -> list[AppointmentView]:
        c.execute(
            self._q(
                "SELECT a.appointment_id, a.session_id, a.card_id, s.department, s.doctor, "  # noqa: S608
                "s.day, s.period, a.status, a.booked_at, k.masked_name, k.masked_document, "
                "t.credential, t.queue_no, t.status "
                f"FROM {self._t(v, APPOINTMENTS)} a "
                f"JOIN {self._t(v, SESSIONS)} s ON s.session_id = a.session_id "
                f"LEFT JOIN {self._t(v, CARDS)} k ON k.card_id = a.card_id "
                f"LEFT JOIN {self._t(v, TRIAGE)} t ON t.appointment_id = a.appointment_id "
                f"WHERE {where}"
            ),
            params,
        )
        out = []
        for (
            aid,
            sid,
            cid,
            dept,
            doc,
            d,
            period,
            status,
            booked_at,
            name,
            document,
            credential,
            queue_no,
            triage_status,
        ) in c.fetchall():
            day = date.fromisoformat(d)
            out.append(
                AppointmentView(
                    UUID(aid),
                    UUID(sid),
                    UUID(cid),
                    dept,
                    doc,
                    day,
                    period,
                    appointment_status(status, triage_status, day, today),
                    datetime.fromisoformat(booked_at),
                    name,
                    document,
                    credential,
                    None if queue_no is None else int(queue_no),
                )
            )
        return out

    def card_appointments(self, card_id: UUID | str, today: date) -> list[AppointmentView]:
        """A card's upcoming appointments (from ``today``; not cancelled, not yet seen)."""

        def body(c: Cursor, v: int) -> list[AppointmentView]:
            rows = self._appointments(
                c,
                v,
                "a.card_id = ? AND s.day >= ? AND a.status <> ?",
                (hex_id(card_id), today.isoformat(), CANCELLED),
                today,
            )
            upcoming = [a for a in rows if a.status in ("booked", "checked_in")]
            return sorted(upcoming, key=lambda a: (a.day, PERIOD_ORDER.get(a.period, 9)))

        return self._query(body, [])

    def session_appointments(self, session_id: UUID | str, today: date) -> list[AppointmentView]:
        """Every appointment of a session, in booking order, statuses as of ``today``."""

        def body(c: Cursor, v: int) -> list[AppointmentView]:
            rows = self._appointments(c, v, "a.session_id = ?", (hex_id(session_id),), today)
            return sorted(rows, key=lambda a: (a.booked_at, a.appointment_id))

        return self._query(body, [])

    def triage_day(self, department: str, day: date, now: datetime) -> TriageDay:
        """The department's triage desk on ``day``, as of ``now``."""
        today = now.astimezone(CHINA_TZ).date()

        def body(c: Cursor, v: int) -> TriageDay:
            expected = self._appointments(
                c,
                v,
                "s.department = ? AND s.day = ? AND a.status <> ?",
                (department, day.isoformat(), CANCELLED),
                today,
            )
            expected.sort(key=lambda a: (PERIOD_ORDER.get(a.period, 9), a.doctor, a.booked_at))
            c.execute(
                self._q(
                    "SELECT t.queue_no, t.appointment_id, t.card_id, t.session_id, s.doctor, "  # noqa: S608
                    "s.period, k.masked_name, k.masked_document, t.credential, "
                    "t.checked_in_at, t.status, t.seen_at "
                    f"FROM {self._t(v, TRIAGE)} t "
                    f"JOIN {self._t(v, SESSIONS)} s ON s.session_id = t.session_id "
                    f"LEFT JOIN {self._t(v, CARDS)} k ON k.card_id = t.card_id "
                    "WHERE t.department = ? AND t.day = ? ORDER BY t.queue_no"
                ),
                (department, day.isoformat()),
            )
            queue = []
            for (
                no,
                aid,
                cid,
                sid,
                doc,
                period,
                name,
                document,
                credential,
                at,
                status,
                seen,
            ) in c.fetchall():
                checked_in_at = datetime.fromisoformat(at)
                seen_at = None if seen is None else datetime.fromisoformat(seen)
                queue.append(
                    TriageEntry(
                        int(no),
                        UUID(aid),
                        UUID(cid),
                        UUID(sid),
                        doc,
                        period,
                        name,
                        document,
                        credential,
                        checked_in_at,
                        status,
                        seen_at,
                        waiting_minutes(checked_in_at, seen_at, day, now),
                    )
                )
            no_shows = tuple(a for a in expected if a.status == "no_show")
            return TriageDay(department, day, tuple(expected), tuple(queue), no_shows)

        return self._query(body, TriageDay(department, day, (), (), ()))

    def dump(self, version: int | None = None) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table of a version (the served one by default), sorted:
        for tests and audits comparing versions."""
        with self._read() as c:
            v = self._current(c) if version is None else version
            if v is None:
                return {table.name: [] for table in TABLES}
            out: dict[str, list[tuple[Any, ...]]] = {}
            for table in TABLES:
                c.execute(
                    f"SELECT {', '.join(table.column_names)} FROM {self._t(v, table)} "  # noqa: S608
                    f"ORDER BY {', '.join(table.key)}"
                )
                out[table.name] = [tuple(row) for row in c.fetchall()]
            return out
