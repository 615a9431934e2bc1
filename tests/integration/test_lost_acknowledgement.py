"""A commit whose reply is lost: the caller hears of its success once, as a success.

A loopback proxy in front of the test's own PostgreSQL database breaks the connection
exactly when the server's reply to ``COMMIT`` comes back: the server has committed,
the client does not know it. eventsourcing retries the insert, which now conflicts
with the events it already wrote. The command must still answer with its result
(never ``identity_already_completed``, ``already_bound``, ``duplicate_appointment`` or
``token_rejected`` for its own success), and the log must hold its events once; when
the server stays away after the commit, the caller hears ``store_unavailable`` and
its retry of the same command answers with the first attempt's result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from healthcard import HealthCardApp
from healthcard.domain.errors import StoreUnavailable
from healthcard.testing import FakeClock
from healthcard.testing.assertions import topic_counts
from healthcard.testing.postgres import PostgresServer
from healthcard.testing.proxy import CommitReplyDropper
from healthcard.testing.retries import RETRIED
from healthcard.testing.world import Driver


@dataclass
class Proxied:
    app: HealthCardApp
    proxy: CommitReplyDropper
    driver: Driver

    def topics(self) -> Counter[str]:
        return topic_counts(self.app)


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


@pytest.mark.postgres
@pytest.mark.parametrize("name", RETRIED)
def test_a_lost_commit_reply_is_answered_as_the_success_it_was(proxied: Proxied, name: str) -> None:
    retried = RETRIED[name](proxied.driver)
    before = proxied.topics()[retried.topic]
    proxied.proxy.drop_next_commit_reply()
    retried.run(retried.command)  # raises if the caller is told anything but success
    assert proxied.proxy.dropped == 1  # the guard: the reply was really lost
    assert proxied.topics()[retried.topic] == before + 1


@pytest.mark.postgres
@pytest.mark.parametrize("name", RETRIED)
def test_a_caller_retrying_after_store_unavailable_gets_the_first_result(
    proxied: Proxied, name: str
) -> None:
    """The server commits, the reply is lost and the server stays away: the caller is
    told ``store_unavailable`` (nothing else), retries the same command once the server
    is back, and gets what the first attempt made, not a second one nor a refusal."""
    retried = RETRIED[name](proxied.driver)
    before = proxied.topics()[retried.topic]
    proxied.proxy.drop_next_commit_reply(then_refuse=True)
    with pytest.raises(StoreUnavailable):
        retried.run(retried.command)
    proxied.proxy.allow()
    assert proxied.proxy.dropped == 1
    assert proxied.topics()[retried.topic] == before + 1  # the first attempt did land
    first = retried.run(retried.command)
    assert retried.run(retried.command) == first
    assert proxied.topics()[retried.topic] == before + 1
