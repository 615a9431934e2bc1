"""An aggregate recognises its latest commands by the ``command_id`` in their events.

This is what lets a retried command find its first attempt (``Aggregate.took``): the
memory is rebuilt by replay exactly as it was built live, bounded, and shared by the
copies the repository's cache hands out.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from healthcard.domain.account import Account
from healthcard.domain.aggregate import REMEMBERED_COMMANDS
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind
from healthcard.domain.errors import CommandIdReused
from healthcard.domain.events.account import AccountOpened, CardAdded, CardRemoved
from healthcard.domain.relation import Relation

AT = datetime(2026, 12, 1, 8, tzinfo=UTC)


def audit(command_id: UUID | None) -> Audit:
    return Audit(
        actor="staff-001", channel=Channel.APP, institution="H510100001", command_id=command_id
    )


def opened(command_id: UUID | None = None) -> Account:
    account = Account.open(
        uuid4(), kind=AccountKind.PHONE, identifier="13800138000", audit=audit(command_id), at=AT
    )
    account.collect_events()
    return account


def bind_and_unbind(account: Account, times: int) -> list[UUID]:
    """``times`` commands that add a card, each followed by one that removes it."""
    ids = []
    for _ in range(times):
        card, add, remove = uuid4(), uuid4(), uuid4()
        account.add_card(card, Relation.SELF, cap=5, audit=audit(add), at=AT)
        account.remove_card(card, audit=audit(remove), at=AT)
        ids += [add, remove]
    return ids


def test_the_commands_it_took_are_recognised_with_their_first_event() -> None:
    open_id = uuid4()
    account = opened(open_id)
    add, remove = bind_and_unbind(account, 1)
    assert account.took(open_id, AccountOpened)
    assert account.took(add, CardAdded)
    assert account.took(remove, CardRemoved)
    assert not account.took(uuid4(), CardAdded)


def test_another_kind_of_event_under_a_taken_id_is_a_reused_id() -> None:
    account = opened()
    add, _ = bind_and_unbind(account, 1)
    with pytest.raises(CommandIdReused) as excinfo:
        account.took(add, CardRemoved)
    assert excinfo.value.field == "command_id"


def test_only_the_latest_commands_are_remembered() -> None:
    open_id = uuid4()
    account = opened(open_id)
    ids = bind_and_unbind(account, REMEMBERED_COMMANDS // 2)
    assert not account.took(open_id, AccountOpened)  # one too many since
    assert account.took(ids[0], CardAdded)
    assert len(account._recent_commands) == REMEMBERED_COMMANDS


def test_events_without_a_command_id_are_not_remembered() -> None:
    """Events written before command ids existed read theirs as None."""
    account = opened(None)
    assert account._recent_commands == ()


def test_one_command_writing_several_events_is_remembered_once_by_its_first() -> None:
    account = opened()
    command = uuid4()
    for _ in range(2):
        account.add_card(uuid4(), Relation.SON, cap=5, audit=audit(command), at=AT)
    assert [c for c, _ in account._recent_commands].count(command) == 1
    assert account.took(command, CardAdded)


def test_replay_remembers_what_the_live_aggregate_remembered() -> None:
    account = Account.open(
        uuid4(), kind=AccountKind.WECHAT, identifier="o6_bmjrPTlm6", audit=audit(uuid4()), at=AT
    )
    bind_and_unbind(account, REMEMBERED_COMMANDS)
    replayed = Account.project(None, account.collect_events())
    assert replayed is not None
    assert replayed._recent_commands == account._recent_commands


def test_cached_copies_share_the_memory_and_cannot_change_each_other() -> None:
    account = opened(uuid4())
    clone = copy.deepcopy(account)
    assert clone._recent_commands is account._recent_commands  # nothing copied per get
    later = bind_and_unbind(clone, 1)
    assert clone.took(later[0], CardAdded)
    assert not account.took(later[0], CardAdded)
