"""The kit's generated people go through the real application: identity completes and
the card is found from the document (the strategies and the boundary agree)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from healthcard import HealthCardApp
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.persistence import memory_env
from healthcard.application.commands import CompleteIdentity, RegisterCard
from healthcard.domain.audit import Audit, Channel
from healthcard.testing import strategies as hs

AUDIT = Audit(actor="staff-001", channel=Channel.WINDOW, institution="H510100001")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.persons(), hs.register_card_commands())
def test_generated_people_complete_identity_in_the_application(
    person: hs.Person, register: RegisterCard
) -> None:
    app = HealthCardApp(memory_env(), clock=FakeClock())
    try:
        card_id = app.register(register)
        app.complete_identity(
            CompleteIdentity(
                audit=AUDIT,
                card_id=card_id,
                document=person.document,
                name=person.name,
                sex=person.sex,
                birth_date=person.birth_date,
            )
        )
        card = app.card(card_id)
        assert card.is_formal
        assert card.document == person.document
        assert app.find_card_by_document(person.document) == card_id
    finally:
        app.close()
