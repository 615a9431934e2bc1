"""Which stream an optimistic-concurrency conflict was on, when the database says.

Why: a group commit (``application.group_commit``) writes many commands' events in one
transaction; when one of them conflicts, the whole transaction is refused. PostgreSQL
names the key that was taken (``Key (originator_id, originator_version)=(…, 7)
already exists``), so the group can drop that command alone and write the others in
one more transaction, instead of writing every member on its own. SQLite does not name
the key: ``None``, and the group writes its members one by one.
"""

from __future__ import annotations

import re
from typing import Final
from uuid import UUID

TAKEN_KEY: Final = re.compile(
    r"\(originator_id, originator_version\)=\("
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}), [0-9]+\)"
)


def conflicting_stream(error: BaseException) -> UUID | None:
    """The stream whose version was already taken, named by the driver's error that
    caused ``error`` (eventsourcing's ``IntegrityError``), else None."""
    detail = getattr(getattr(error.__cause__, "diag", None), "message_detail", None)
    if not isinstance(detail, str):
        return None
    found = TAKEN_KEY.search(detail)
    return UUID(found.group(1)) if found else None


__all__ = ["conflicting_stream"]
