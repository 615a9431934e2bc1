"""A commit whose reply is lost: the caller hears of its success once, as a success.

A loopback proxy in front of the test's own PostgreSQL database breaks the connection
exactly when the server's reply to ``COMMIT`` comes back: the server has committed,
the client does not know it. eventsourcing retries the insert, which now conflicts
with the events it already wrote. The command must still answer with its result
(never ``identity_already_completed``, ``already_bound``, ``duplicate_appointment`` or
``token_rejected`` for its own success), and the log must hold its events once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest

from healthcard import HealthCardApp
from healthcard.application.commands import MakeAppointment, RegisterCard
from healthcard.domain.errors import StoreUnavailable
from healthcard.testing import FakeClock
from healthcard.testing.postgres import PostgresServer
from healthcard.testing.proxy import CommitReplyDropper
from healthcard.testing.world import Driver, person, phone_account


@dataclass
class Proxied:
    app: HealthCardApp
    proxy: CommitReplyDropper
    driver: Driver

    def topics(self) -> Counter[str]:
        return Counter(n.topic for n in self.app.recorder.select_notifications(1, 1_000_000))


@pytest.fixture
def proxied(pg_server: PostgresServer) -> Iterator[Proxied]:
    with pg_server.database() as name, CommitReplyDropper(pg_server.host, pg_server.port) as proxy:
        env = pg_server.env("", dbname=name)
        env["POSTGRES_PORT"] = str(proxy.port)
        app = HealthCardApp(env, clock=FakeClock())
        try:
            yield Proxied(app, proxy, Driver(app))
        finally:
            app.close()


def formal_card(p: Proxied) -> UUID:
    card = p.driver.register()
    p.driver.complete_identity(card, person(1))
    return card


Step = Callable[[Proxied], tuple[Callable[[], object], str]]
"""Set up, then the command to run with its reply lost and the topic it writes once."""


def register(p: Proxied) -> tuple[Callable[[], object], str]:
    return p.driver.register, "healthcard.card.Registered"


def register_with_key(p: Proxied) -> tuple[Callable[[], object], str]:
    command = RegisterCard(audit=p.driver.audit(), name="王芳", idempotency_key="kiosk-7-0001")
    return lambda: p.app.register(command), "healthcard.card.Registered"


def complete_identity(p: Proxied) -> tuple[Callable[[], object], str]:
    card = p.driver.register()
    return lambda: p.driver.complete_identity(card, person(2)), "healthcard.card.IdentityCompleted"


def bind(p: Proxied) -> tuple[Callable[[], object], str]:
    card = formal_card(p)
    return lambda: p.driver.bind(card, phone_account(3)), "healthcard.card.Bound"


def book(p: Proxied) -> tuple[Callable[[], object], str]:
    card, session = formal_card(p), p.driver.publish()
    return lambda: p.driver.book(session, card), "healthcard.session.AppointmentMade"


def use_card(p: Proxied) -> tuple[Callable[[], object], str]:
    card = formal_card(p)
    account = p.driver.bind(card, phone_account(4))
    return lambda: p.driver.use(card, account), "healthcard.card.Used"


STEPS: dict[str, Step] = {
    "register": register,
    "register with idempotency key": register_with_key,
    "complete identity": complete_identity,
    "bind": bind,
    "book": book,
    "use card": use_card,
}


@pytest.mark.postgres
@pytest.mark.parametrize("step", STEPS.values(), ids=STEPS.keys())
def test_a_lost_commit_reply_is_answered_as_the_success_it_was(
    proxied: Proxied, step: Step
) -> None:
    command, topic = step(proxied)
    before = proxied.topics()[topic]
    proxied.proxy.drop_next_commit_reply()
    command()  # raises if the caller is told anything but success
    assert proxied.proxy.dropped == 1  # the guard: the reply was really lost
    assert proxied.topics()[topic] == before + 1


RETRIED = {
    "register": lambda p: (
        RegisterCard(audit=p.driver.audit(), name="王芳"),
        p.app.register,
        "healthcard.card.Registered",
    ),
    "book": lambda p: (
        MakeAppointment(
            audit=p.driver.audit(), session_id=p.driver.publish(), card_id=formal_card(p)
        ),
        p.app.make_appointment,
        "healthcard.session.AppointmentMade",
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("name", RETRIED)
def test_a_caller_retrying_after_store_unavailable_gets_the_first_result(
    proxied: Proxied, name: str
) -> None:
    """The server commits, the reply is lost and the server stays away: the caller is
    told ``store_unavailable`` (nothing else), retries the same command once the server
    is back, and gets what the first attempt made, not a second one."""
    command, run, topic = RETRIED[name](proxied)
    before = proxied.topics()[topic]
    proxied.proxy.drop_next_commit_reply(then_refuse=True)
    with pytest.raises(StoreUnavailable):
        run(command)
    proxied.proxy.allow()
    assert proxied.proxy.dropped == 1
    assert proxied.topics()[topic] == before + 1  # the first attempt did land
    first = run(command)
    assert run(command) == first
    assert proxied.topics()[topic] == before + 1
