"""Analysts' replay of the event log: streaming reads, a card's history and its state
as of a time, the audit trail, funnel figures, and exports (JSONL, CSV, Parquet).

Everything here only reads: it opens the same application (same persistence, keys
and mapper) an embedding app writes with, and never saves. It reads through the one
log reader (``healthcard.adapters.log_reader``) and the mapper's one decode pipeline.
The card at a *version* is ``HealthCardApp.card_as_of(card_id, version)``.

- :mod:`~healthcard.analytics.log` -- ``LogReader``, ``LogFilter``, ``iter_events``
- :mod:`~healthcard.analytics.history` -- ``card_history``, ``card_as_of_time``,
  ``version_at``, ``describe_card``
- :mod:`~healthcard.analytics.audit_trail` -- ``audit_trail``: who did what to a card
- :mod:`~healthcard.analytics.funnel` -- ``compute_stats`` (funnel, channel mix, no-shows)
- :mod:`~healthcard.analytics.export` -- ``export_log`` (masked by the export's k rules
  unless ``clear=True``; ids pseudonymised on request), ``load_salt``

Masking of event states is :func:`healthcard.adapters.privacy.masking.mask_state`.
"""

from __future__ import annotations

from healthcard.analytics.export import ExportFormat, ExportSummary, export_log
from healthcard.analytics.funnel import STAGES, GroupBy, Stats, compute_stats
from healthcard.analytics.history import (
    HistoryEntry,
    card_as_of_time,
    card_history,
    describe_card,
    version_at,
)
from healthcard.analytics.history import (
    card_as_of_version as card_as_of_version,  # deprecated: HealthCardApp.card_as_of
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
    "card_history",
    "compute_stats",
    "describe_card",
    "export_log",
    "iter_events",
    "resolve_event_types",
    "version_at",
]
