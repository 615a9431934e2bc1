"""``healthcard privacy status|complete-erasures``: the operator's side of erasure.

``status`` lists the erasures recorded in the log whose keys still exist (ids only)
and the key store's state (how many keys, wrapped or not, the key-encryption key's
generations). ``complete-erasures`` finishes those erasures, flushes the store and
rotates the key-encryption key, destroying retired generations older than
``HEALTHCARD_BACKUP_RETENTION_DAYS``: run it after erasures and on a schedule
(``docs/privacy.md`` says when). Nothing personal is printed. ``status`` opens the log
read-only and changes nothing; ``complete-erasures`` writes.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from healthcard.adapters.privacy.keystore import ManagedKeyStore
from healthcard.cli.errors import new_app
from healthcard.cli.options import DbOption, JsonOption, console, open_log, print_json

app = new_app()
privacy_app = new_app(
    name="privacy", help="Erasures and the key-encryption key: status, complete-erasures."
)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("status")
def status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Pending erasures (ids only) and the key store's keys and KEK generations.

    Only reads: the log is opened read-only and left exactly as it was.
    """
    with open_log(db, read_only=True) as health:
        pending = health.pending_erasures()
        store = health.keystore
        described: dict[str, Any] = (
            asdict(store.status()) if isinstance(store, ManagedKeyStore) else {"kind": "custom"}
        )
        retention = health.config.backup_retention_days
    state: dict[str, Any] = {
        "pending_erasures": [str(subject) for subject in pending],
        "key_store": described,
        "backup_retention_days": retention,
    }
    if as_json:
        print_json(state)
        return
    shown = console()
    shown.print(f"pending erasures: {len(pending)}")
    for subject in pending:
        shown.print(f"  {subject}")
    shown.print(
        f"key store ({described.get('kind')}): {described.get('live_keys', '?')} live keys, "
        f"{described.get('unwrapped_keys', '?')} not wrapped, {described.get('erased', '?')} erased"
    )
    generations: list[dict[str, str | None]] = list(described.get("generations") or ())
    for generation in generations:
        when = generation["destroyed_at"] or generation["retired_at"] or generation["created_at"]
        shown.print(f"  KEK {generation['generation']}: {generation['state']} (since {when})")
    shown.print(f"backup retention: {retention} days")


@privacy_app.command("complete-erasures")
def complete_erasures(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Finish pending erasures, flush the key store, rotate the key-encryption key."""
    with open_log(db) as health:
        report = health.complete_erasures()
    result = {
        "completed": [str(subject) for subject in report.completed],
        "generation": report.rotation.generation,
        "rewrapped": report.rotation.rewrapped,
        "destroyed": list(report.rotation.destroyed),
        "kept": list(report.rotation.kept),
    }
    if as_json:
        print_json(result)
        return
    shown = console()
    shown.print(f"erasures completed now: {len(report.completed)}")
    if report.rotation.generation is None:
        shown.print("keys are not wrapped (test mode or an external key store): no rotation")
        return
    shown.print(
        f"KEK {report.rotation.generation} is current; {report.rotation.rewrapped} keys "
        f"re-wrapped; destroyed: {', '.join(report.rotation.destroyed) or 'none'}; "
        f"kept for the backup window: {', '.join(report.rotation.kept) or 'none'}"
    )
