"""The write side of the view stores (SQLite and PostgreSQL): versions and batches.

Why one batch is one transaction that also checks and moves the tracking
position: that is what makes processing exactly-once. ``apply_batch`` locks the
version's tracking row, checks it still says ``start`` (another worker, or an
earlier run killed after its commit, would have moved it), loads the rows the
batch touches, folds, writes them back and records ``end`` — all or nothing. A
batch applied twice is impossible; a batch lost to a crash is simply re-read.

SQL text is composed only from ``schema.py``'s table names and integer versions
(hence the ``noqa: S608`` marks); every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking

from healthcard.readmodels import fold
from healthcard.readmodels.builders import Builder
from healthcard.readmodels.decode import ViewEvent
from healthcard.readmodels.model import (
    AppointmentRow,
    CounterKey,
    CounterRow,
    Needs,
    SessionRow,
    Tables,
    TriageRow,
)
from healthcard.readmodels.queries import ViewQueries
from healthcard.readmodels.schema import (
    APPOINTMENTS,
    CARDS,
    COUNTERS,
    CURRENT_VERSION,
    FOLD_INDEXES,
    LAST_VERSION,
    META_TABLE,
    QUERY_INDEXES,
    SESSIONS,
    TABLES,
    TRIAGE,
    VERSIONS_TABLE,
    Index,
    Table,
    table_name,
    version_of_table,
)
from healthcard.readmodels.sql_dialect import Cursor

BUILDING = "building"
LIVE = "live"
RETIRED = "retired"


class VersionChanged(RuntimeError):
    """The live version was swapped while a batch for the old one was prepared."""


class PositionMoved(RuntimeError):
    """The tracking position is not where the batch started: re-read and retry."""


BUILDER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("builder_host", "text"),
    ("builder_pid", "int"),
    ("builder_start", "text"),
    ("heartbeat_at", "text"),
)
"""Columns of ``views_versions`` that record a build's builder and its heartbeat;
added to a table made before they existed (``_create_meta``)."""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    state: str
    """As stored: building, live or retired (see ``hygiene.version_state`` for
    what a version is: live, building, stale or old)."""
    position: int
    applied: int
    """Events folded into this version (each exactly once)."""
    created_at: str
    builder: Builder | None = None
    """Who builds (or built) it; None for versions made by a catch-up, or recorded by
    a release that did not say."""
    heartbeat_at: str | None = None
    """The builder's last heartbeat (UTC, the database's clock)."""
    heartbeat_age: float | None = None
    """Seconds since that heartbeat (or, without one, since the version was created),
    by the database's clock when the versions were read."""


@dataclass(frozen=True, slots=True)
class Dropped:
    """What ``SqlViewStore.drop_versions`` removed."""

    versions: tuple[int, ...]
    tables: tuple[str, ...]
    """Every table dropped, the versions' own and any left by no version."""


class BatchTransaction:
    """The open transaction of ``SqlViewStore.transaction``: fold chunks, then finish.

    The rows the chunks load or create stay in memory until the transaction ends and
    are written once then, so a rebuild can make one transaction span many read
    batches: a row changed by several of them (a check-in, then its "seen") is read
    once and written once, and each index page is written once per commit.
    """

    def __init__(self, store: SqlViewStore, c: Cursor, version: int, start: int) -> None:
        self._store = store
        self._c = c
        self._version = version
        self.tables = Tables(counter_loader=store._counter_loader(c, version))
        self.applied = 0
        self.end: int | None = None
        self.swap = False
        self.start = start

    def fold(self, events: Sequence[ViewEvent], needs: Needs | None = None) -> None:
        """Load what ``events`` refer to (``needs``, if already known) and fold them;
        the changed rows are written when the transaction ends."""
        if not events:
            return
        tables = self.tables
        self._store._load_into(
            self._c, self._version, tables, fold.needs(events) if needs is None else needs
        )
        fold.apply(tables, events)
        self.applied += len(events)

    def finish(self, end: int, *, swap: bool = False) -> None:
        """The position the folded chunks reach; ``swap``: serve this version from now."""
        if end < self.start:
            raise ValueError("a position never moves back")
        self.end = end
        self.swap = swap


class SqlViewStore(ViewQueries):
    """Versioned view tables plus tracking, in one database (mixed into a
    ``TrackingRecorder`` subclass of each backend)."""

    app_name: str = "HealthCard"
    """Upstream application whose log the views follow (the tracking key's stem)."""
    share_lock: str = ""
    update_lock: str = ""

    def bulk_load(self) -> AbstractContextManager[None]:
        """Settings for a rebuild's bulk writes (none by default)."""
        return nullcontext()

    # -- set-up and versions -----------------------------------------------------------

    def tracking_name(self, version: int) -> str:
        return f"{self.app_name}@v{version}"

    def _create_meta(self) -> None:
        with self._write() as c:
            text, big = self._ddl_type("text"), self._ddl_type("int")
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._name(META_TABLE)} "
                f"(name {text} PRIMARY KEY, value {big})"
            )
            builder = ", ".join(f"{n} {self._ddl_type(k)}" for n, k in BUILDER_COLUMNS)
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._name(VERSIONS_TABLE)} (version {big} "
                f"PRIMARY KEY, state {text}, created_at {text}, applied {big}, {builder})"
            )
            # A table made by a release without builders gains their columns (empty:
            # such versions are judged by their creation time, see ``builders``).
            present = self._columns(c, VERSIONS_TABLE)
            for name, kind in BUILDER_COLUMNS:
                if name not in present:
                    c.execute(
                        f"ALTER TABLE {self._name(VERSIONS_TABLE)} "
                        f"ADD COLUMN {name} {self._ddl_type(kind)}"
                    )

    def _position(self, c: Cursor, version: int, *, lock: bool = False) -> int | None:
        c.execute(
            self._q(  # noqa: S608
                f"SELECT notification_id FROM {self._tracking_table()} WHERE application_name = ?"  # noqa: S608
            )
            + (self.update_lock if lock else ""),
            (self.tracking_name(version),),
        )
        row = c.fetchone()
        return None if row is None else int(row[0])

    def current_version(self) -> int | None:
        with self._read() as c:
            return self._current(c)

    def position(self, version: int) -> int:
        """Notification id up to which ``version`` has folded the log (0: none)."""
        with self._read() as c:
            return self._position(c, version) or 0

    def versions(self) -> list[VersionInfo]:
        """Every version with its builder and heartbeat, ages by the database's clock."""
        return self.version_table()[1]

    def version_table(self) -> tuple[int | None, list[VersionInfo]]:
        """The served version and every version (:meth:`versions`), in one snapshot.

        Reads a metadata table made by an earlier release as it is (the builder columns
        missing), since a store opened read-only must not migrate it."""
        with self._read() as c:
            current = self._current(c)
            present = self._columns(c, VERSIONS_TABLE)
            builder = ", ".join(n if n in present else "NULL" for n, _ in BUILDER_COLUMNS)
            c.execute(f"SELECT {self._now_sql()}")
            now = datetime.fromisoformat(str(c.fetchone()[0]))
            c.execute(
                f"SELECT version, state, applied, created_at, {builder} "  # noqa: S608
                f"FROM {self._name(VERSIONS_TABLE)} ORDER BY version"
            )
            rows = c.fetchall()
            return current, [
                VersionInfo(
                    int(v),
                    str(state),
                    self._position(c, int(v)) or 0,
                    int(applied),
                    str(created),
                    None if host is None else Builder(str(host), int(pid), start),
                    beat,
                    _age(now, beat or created),
                )
                for v, state, applied, created, host, pid, start, beat in rows
            ]

    def create_version(self, *, live: bool = False, builder: Builder | None = None) -> int:
        """New empty tables at position 0. ``live=True`` makes them the served version
        (with every index) unless one is already served, which is then returned.
        ``builder``: the process that will build it (its first heartbeat is now)."""
        with self._write() as c:
            self._lock_versions(c)
            if live:
                current = self._current(c, lock=True)
                if current is not None:
                    return current
            version = self._last_version(c) + 1
            self._set_meta(c, LAST_VERSION, version)
            beat = "NULL" if live else self._now_sql()  # a served version has no builder
            c.execute(
                self._q(
                    f"INSERT INTO {self._name(VERSIONS_TABLE)} "  # noqa: S608
                    "(version, state, created_at, applied, builder_host, builder_pid, "
                    f"builder_start, heartbeat_at) VALUES (?, ?, ?, 0, ?, ?, ?, {beat})"
                ),
                (
                    version,
                    LIVE if live else BUILDING,
                    datetime.now(UTC).isoformat(),
                    None if builder is None else builder.host,
                    None if builder is None else builder.pid,
                    None if builder is None else builder.start,
                ),
            )
            for table in TABLES:
                columns = ", ".join(f"{n} {self._ddl_type(k)}" for n, k in table.columns)
                c.execute(
                    f"CREATE TABLE {self._t(version, table)} ({columns}, "
                    f"PRIMARY KEY ({', '.join(table.key)}))"
                )
            for index in FOLD_INDEXES + (QUERY_INDEXES if live else ()):
                self._create_index(c, version, index)
            self._track(c, Tracking(self.tracking_name(version), 0))
            if live:
                self._set_current(c, version)
            return version

    def _create_index(self, c: Cursor, version: int, index: Index) -> None:
        where = f" WHERE {index.where}" if index.where else ""
        c.execute(
            f"CREATE INDEX IF NOT EXISTS {table_name(version, index.name)} "
            f"ON {self._t(version, _table(index.table))} ({index.columns}){where}"
        )

    def _last_version(self, c: Cursor) -> int:
        """The highest version number ever given out.

        Why remembered apart from the versions: numbers are never reused, so a build
        judged dead that is in fact alive (another host, a long pause) can never write
        into a later build of the same number: its next transaction finds no version."""
        c.execute(f"SELECT COALESCE(MAX(version), 0) FROM {self._name(VERSIONS_TABLE)}")  # noqa: S608
        highest = int(c.fetchone()[0])
        c.execute(
            self._q(f"SELECT value FROM {self._name(META_TABLE)} WHERE name = ?"),  # noqa: S608
            (LAST_VERSION,),
        )
        row = c.fetchone()
        return max(highest, 0 if row is None else int(row[0]))

    def _set_meta(self, c: Cursor, name: str, value: int) -> None:
        c.execute(
            self._q(
                f"INSERT INTO {self._name(META_TABLE)} VALUES (?, ?) "  # noqa: S608
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            ),
            (name, value),
        )

    def _set_current(self, c: Cursor, version: int) -> None:
        """Point ``current_version`` at ``version``: the swap (one row, updated in place)."""
        self._set_meta(c, CURRENT_VERSION, version)

    def drop_version(self, version: int) -> None:
        """Remove a version's tables and tracking (never the served one)."""
        self.drop_versions([version])

    def drop_versions(
        self,
        versions: Collection[int],
        *,
        orphans: bool = False,
        expect: Mapping[int, str] | None = None,
    ) -> Dropped:
        """Remove versions' tables, metadata and tracking in one transaction.

        The served version is never dropped: asking for it raises ``ValueError`` (and
        drops nothing), unless ``expect`` is given. ``expect`` (version -> stored
        state, as a caller judged it from an earlier read): drop a version only if its
        stored state is still that and it is not served, skip it otherwise. ``orphans``:
        also drop tables and tracking rows of versions that have no metadata row (left
        by hand or by a damaged file), so that no ``views_v<N>_*`` table outlives its
        version.
        """
        with self._write() as c:
            self._lock_versions(c)
            current = self._current(c, lock=True)
            if current in versions and expect is None:
                raise ValueError("the served version cannot be dropped")
            existing = self._tables(c)  # before the versions: see ``_lock_versions``
            c.execute(f"SELECT version, state FROM {self._name(VERSIONS_TABLE)}")  # noqa: S608
            stored = {int(v): str(state) for v, state in c.fetchall()}
            doomed = {
                v
                for v in versions
                if v != current and (expect is None or stored.get(v) == expect.get(v))
            }
            tables = sorted(
                name
                for name in existing
                if (of := version_of_table(name)) is not None
                and of != current
                and (of in doomed or (orphans and of not in stored))
            )
            for name in tables:
                c.execute(f"DROP TABLE IF EXISTS {self._name(name)}")
            gone = doomed | {v for v in map(version_of_table, tables) if v is not None}
            for version in sorted(gone):
                c.execute(
                    self._q(f"DELETE FROM {self._name(VERSIONS_TABLE)} WHERE version = ?"),  # noqa: S608
                    (version,),
                )
                c.execute(
                    self._q(f"DELETE FROM {self._tracking_table()} WHERE application_name = ?"),  # noqa: S608
                    (self.tracking_name(version),),
                )
            return Dropped(tuple(sorted(v for v in doomed if v in stored)), tuple(tables))

    def storage_bytes(self) -> int:
        """Bytes the views take where they are stored (see the dialects)."""
        with self._read() as c:
            return self._storage_bytes(c)

    def compact(self) -> bool:
        """Give the space of dropped tables back to the file system, where that takes
        more than dropping them; True if it was all given back (see the dialects)."""
        return True

    # -- batches ---------------------------------------------------------------------------

    def apply_batch(
        self,
        version: int,
        start: int,
        end: int,
        events: Sequence[ViewEvent],
        *,
        live: bool,
        swap: bool = False,
    ) -> int:
        """Fold ``events`` (positions in ``(start, end]``) into ``version`` and move its
        position from ``start`` to ``end``, in one transaction. ``live``: the version
        must still be the served one. ``swap``: finish the version (query indexes) and
        make it the served one in the same transaction. Returns events applied."""
        with self.transaction(version, start, live=live) as batch:
            batch.fold(events)
            batch.finish(end, swap=swap)
        return len(events)

    @contextmanager
    def transaction(self, version: int, start: int, *, live: bool) -> Iterator[BatchTransaction]:
        """One transaction that folds one or more chunks of events into ``version``,
        starting at position ``start``; commits (with the position given to
        ``finish``) when the block ends without an error."""
        with self._write() as c:
            current = self._current(c, lock=True)
            if live and current != version:
                raise VersionChanged(f"v{version} is no longer served (v{current} is)")
            position = self._position(c, version, lock=True)
            if position is None:
                raise VersionChanged(f"v{version} does not exist")
            if position != start:
                raise PositionMoved(f"v{version} is at {position}, not {start}")
            batch = BatchTransaction(self, c, version, start)
            yield batch
            if batch.end is None:
                raise RuntimeError("a batch transaction must be finished with its end position")
            self._save(c, version, batch.tables)
            if batch.applied or not live:
                # A build's every commit is also its heartbeat (see ``builders``).
                beat = "" if live else f", heartbeat_at = {self._now_sql()}"
                c.execute(
                    self._q(
                        f"UPDATE {self._name(VERSIONS_TABLE)} SET applied = applied + ?{beat} "  # noqa: S608
                        "WHERE version = ?"
                    ),
                    (batch.applied, version),
                )
            if batch.end > start:
                self._track(c, Tracking(self.tracking_name(version), batch.end))
            if batch.swap:
                for index in QUERY_INDEXES:
                    self._create_index(c, version, index)
                states = self._q(
                    f"UPDATE {self._name(VERSIONS_TABLE)} SET state = ? WHERE version = ?"  # noqa: S608
                )
                if current is not None:
                    c.execute(states, (RETIRED, current))
                c.execute(states, (LIVE, version))
                self._set_current(c, version)

    def _select_keys(
        self,
        c: Cursor,
        version: int,
        table: Table,
        column: str,
        keys: Collection[str],
        extra: str = "",
    ) -> list[Any]:
        if not keys:
            return []
        c.execute(
            self._q(
                f"SELECT {', '.join(table.column_names)} FROM {self._t(version, table)} "  # noqa: S608
                f"WHERE {self._in_keys(column)}{extra}"
            ),
            (self._keys_param(keys),),
        )
        return c.fetchall()

    def _counter_loader(self, c: Cursor, version: int) -> Callable[[CounterKey], CounterRow | None]:
        sql = self._q(
            f"SELECT department, day, last_queue_no FROM {self._t(version, COUNTERS)} "  # noqa: S608
            "WHERE department = ? AND day = ?"
        )

        def load_counter(key: CounterKey) -> CounterRow | None:
            c.execute(sql, key)
            row = c.fetchone()
            return None if row is None else CounterRow(row[0], row[1], int(row[2]))

        return load_counter

    def _load_into(self, c: Cursor, version: int, tables: Tables, needs: Needs) -> None:
        """Load the rows ``needs`` names that ``tables`` does not hold yet."""
        sessions = [k for k in needs.session_ids if k not in tables.sessions]
        for row in self._select_keys(c, version, SESSIONS, "session_id", sessions):
            tables.sessions[row[0]] = SessionRow(*row)
        appointments = [k for k in needs.appointment_ids if k not in tables.appointments]
        for row in self._select_keys(c, version, APPOINTMENTS, "appointment_id", appointments):
            tables.appointments[row[0]] = AppointmentRow(*row)
        cards = [k for k in needs.used_card_ids if k not in tables.triage_loaded_for]
        tables.triage_loaded_for.update(cards)
        for row in self._select_keys(
            c, version, TRIAGE, "card_id", cards, " AND status = 'waiting'"
        ):
            if row[0] not in tables.triage:
                tables.add_triage(TriageRow(*row))

    def _save(self, c: Cursor, version: int, tables: Tables) -> None:
        """Write the changed rows, each table's in key order (inserting sorted keys
        into the key index measured a fifth cheaper than in arrival order)."""

        def write(table: Table, rows: Mapping[Any, Any], keys: Collection[Any]) -> None:
            if keys:
                values = [rows[key].values() for key in sorted(keys)]
                c.executemany(self._upsert_sql(table, self._t(version, table)), values)

        write(SESSIONS, tables.sessions, tables.dirty_sessions)
        write(APPOINTMENTS, tables.appointments, tables.dirty_appointments)
        write(CARDS, tables.cards, tables.dirty_cards)
        write(TRIAGE, tables.triage, tables.dirty_triage)
        write(COUNTERS, tables.counters, tables.dirty_counters)
        tables.clear_dirty()


def _age(now: datetime, then: str | None) -> float | None:
    """Seconds from ``then`` (ISO text; naive is UTC) to ``now``; None if unreadable."""
    if then is None:
        return None
    try:
        moment = datetime.fromisoformat(then)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (now - moment).total_seconds()


def _table(name: str) -> Table:
    for table in TABLES:
        if table.name == name:
            return table
    raise KeyError(name)
