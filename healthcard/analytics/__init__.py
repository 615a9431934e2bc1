"""Analysts' replay of the event log: streaming reads, a card's history and its state
as of a time or version, funnel figures, and exports (JSONL, CSV, Parquet).

Everything here only reads: it opens the same application (same persistence, keys
and mapper) an embedding app writes with, and never saves.

- :mod:`~healthcard.analytics.log` -- ``LogReader``, ``LogFilter``, ``iter_events``
- :mod:`~healthcard.analytics.history` -- ``card_history``, ``card_as_of_time``,
  ``card_as_of_version``, ``describe_card``
- :mod:`~healthcard.analytics.funnel` -- ``compute_stats`` (funnel, channel mix, no-shows)
- :mod:`~healthcard.analytics.export` -- ``export_log`` (masked unless ``clear=True``)
- :mod:`~healthcard.analytics.redact` -- masking of personal fields in event states
"""

from __future__ import annotations

from healthcard.analytics.export import ExportFormat, ExportSummary, export_log
from healthcard.analytics.funnel import STAGES, GroupBy, Stats, compute_stats
from healthcard.analytics.history import (
    HistoryEntry,
    card_as_of_time,
    card_as_of_version,
    card_history,
    describe_card,
    version_at,
)
from healthcard.analytics.log import (
    LogFilter,
    LoggedEvent,
    LogReader,
    LogRecord,
    iter_events,
    resolve_event_types,
)

__all__ = [
    "STAGES",
    "ExportFormat",
    "ExportSummary",
    "GroupBy",
    "HistoryEntry",
    "LogFilter",
    "LogReader",
    "LogRecord",
    "LoggedEvent",
    "Stats",
    "card_as_of_time",
    "card_as_of_version",
    "card_history",
    "compute_stats",
    "describe_card",
    "export_log",
    "iter_events",
    "resolve_event_types",
    "version_at",
]
