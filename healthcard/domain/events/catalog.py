"""Import every event module so that all topics are registered.

Why: decoding resolves topics through the registry, so a process that reads the
log (an analyst's replay, a projection worker) must have every class loaded even
if it never imports the aggregates.
"""

from __future__ import annotations

from healthcard.domain.events import account, card, document, session
from healthcard.domain.events.base import registered_topics

__all__ = ["account", "card", "document", "registered_topics", "session"]
