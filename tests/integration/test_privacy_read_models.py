"""Read models after an erasure: erased after catch-up, never resurrected by a rebuild,
and the views file never holds a name, document number or phone in clear."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import sqlite_env
from healthcard.adapters.privacy.masking import mask_name
from healthcard.application.commands import ErasePersonalData, MakeAppointment, PublishSession
from healthcard.domain.audit import Audit
from healthcard.domain.clinic_values import Period
from healthcard.readmodels import catch_up_all, open_projections, views_path_for
from healthcard.readmodels.rebuild import rebuild
from healthcard.testing.leaks import Persona, sqlite_bytes

PERSON = Persona()
NAME, DOCUMENT, PHONE = PERSON.name, PERSON.document, PERSON.phone
personal_hits = PERSON.hits
register_person = PERSON.register


def _cards_rows(db: Path) -> list[tuple[object, ...]]:
    with open_projections(sqlite_env(db)) as projections:
        dump = projections.store.dump()
    return [row for table, rows in dump.items() if "card" in table for row in rows]


def test_erasure_reaches_the_read_models_and_a_rebuild_keeps_it(
    tmp_path: Path, audit: Audit
) -> None:
    db = tmp_path / "events.sqlite3"
    app = HealthCardApp(sqlite_env(db), clock=FakeClock())
    card_id = register_person(app, audit)
    session_id = app.publish_session(
        PublishSession(
            audit=audit,
            department="obstetrics",
            doctor="D01",
            day=date(2026, 11, 25),
            period=Period.AFTERNOON,
            capacity=2,
        )
    )
    app.make_appointment(MakeAppointment(audit=audit, session_id=session_id, card_id=card_id))
    catch_up_all(db)
    before = _cards_rows(db)
    assert any(mask_name(NAME) in row for row in before)  # masked, as shown at triage
    views = views_path_for(db)
    assert personal_hits(sqlite_bytes(views)) == []

    app.erase_personal_data(ErasePersonalData(audit=audit, card_id=card_id))
    catch_up_all(db)
    after = _cards_rows(db)
    assert not any(mask_name(NAME) in row for row in after)
    assert personal_hits(sqlite_bytes(views)) == []

    with open_projections(sqlite_env(db)) as projections:
        rebuild(projections.app, projections.store, readers=0)
    rebuilt = _cards_rows(db)
    assert not any(mask_name(NAME) in row for row in rebuilt)
    assert len(rebuilt) == len(after)  # the card's row (pseudonymous) is still there
    assert personal_hits(sqlite_bytes(views)) == []
    app.close()
