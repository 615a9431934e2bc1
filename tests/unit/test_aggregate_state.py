"""Aggregate state is immutable values, directly or in flat containers.

``Aggregate.__deepcopy__`` relies on it: the repository's cache copies an aggregate on
every ``get`` by copying its dicts, lists and sets only, so a session of 10,000
appointments is copied in microseconds. A mutable record, or a container inside a
container, would be shared between the cache and a command's copy; this test walks
the state of every kind of aggregate, taken through every writing command, and fails
on the first such value.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from healthcard import HealthCardApp
from healthcard.adapters.persistence import memory_env
from healthcard.domain.account import Account
from healthcard.domain.aggregate import CONTAINERS, Aggregate, WrongAggregateType
from healthcard.domain.card import HealthCard
from healthcard.domain.clinic_session import ClinicSession
from healthcard.domain.document_claim import DocumentClaim
from healthcard.testing import FakeClock
from healthcard.testing.retries import RETRIED
from healthcard.testing.world import Driver

SCALARS = (str, int, float, bool, bytes, UUID, Enum, date, datetime, timedelta, type, type(None))


def immutable(value: Any) -> bool:
    if isinstance(value, SCALARS):
        return True
    if isinstance(value, tuple | frozenset):
        return all(immutable(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        frozen = type(value).__dataclass_params__.frozen  # type: ignore[attr-defined]
        return frozen and all(immutable(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, BaseModel):
        return bool(value.model_config.get("frozen")) and all(
            immutable(item) for item in value.__dict__.values()
        )
    return False


def allowed(value: Any) -> bool:
    if isinstance(value, dict):
        return all(immutable(k) and immutable(v) for k, v in value.items())
    if isinstance(value, CONTAINERS):
        return all(immutable(item) for item in value)
    return immutable(value)


def every_aggregate() -> list[Aggregate]:
    """One of each kind of aggregate after every writing command has run."""
    app = HealthCardApp(memory_env(), clock=FakeClock())
    try:
        driver = Driver(app)
        for setup in RETRIED.values():
            retried = setup(driver)
            retried.run(retried.command)
        ids = {n.originator_id for n in app.recorder.select_notifications(1, 1_000_000)}
        kinds = (HealthCard, ClinicSession, Account, DocumentClaim)
        found = []
        for aggregate_id in ids:
            for kind in kinds:
                try:
                    found.append(app.repository.get(aggregate_id, projector_func=kind.project))
                    break
                except WrongAggregateType:  # not this kind: try the next
                    continue
        return found
    finally:
        app.close()


AGGREGATES = every_aggregate()


def test_every_kind_of_aggregate_is_walked() -> None:
    assert {type(a) for a in AGGREGATES} == {HealthCard, ClinicSession, Account, DocumentClaim}


def test_state_holds_only_immutable_values_or_flat_containers_of_them() -> None:
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            assert allowed(value), f"{type(aggregate).__name__}.{name} = {value!r}"


def test_a_copy_shares_no_container() -> None:
    for aggregate in AGGREGATES:
        clone = copy.deepcopy(aggregate)
        for name, value in vars(aggregate).items():
            if isinstance(value, CONTAINERS):
                assert getattr(clone, name) is not value, name
                assert getattr(clone, name) == value, name
