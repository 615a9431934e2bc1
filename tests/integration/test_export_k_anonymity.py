"""The k guarantee of a masked export, measured on a demo day of 10,000 residents.

The attacker knows everything about a person that their ID card and phone say (area,
birth date, sex, name, number) and how and when they registered (channel, day), and
reads a masked export. The card's *person rows* (``Registered``, ``IdentityCompleted``)
are what they match against: every column of those rows counts, failing closed, except
the ones listed in :data:`NOT_KNOWN` with the reason the attacker cannot know them. The
card's other rows (bindings, appointments, check-ins, uses) are what happened to the
card, the payload the export is for; the one field among them that describes the
person (``relation``) must be starred. Each card is one group key; the smallest group
must hold at least ``EXPORT_K`` cards.

The privacy doc's section on masked exports also says what the national QR gives away
with the public test keys; the last test keeps that true.

The population is the demo's: ``simulate_day`` with seed 0 and 10,000 cards, every
command through the application, its households, channels, ages, sexes and areas drawn
by the demo's generator. One thing differs from ``healthcard demo --cards 10000``: the
waits the simulation adds between steps (20-90 s per identity check, ...) are shrunk a
thousandfold, so that the day stays one day, as the demo means it (10,000 people times
a minute each would run the log over six days).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthcard import HealthCardApp, HealthCardConfig
from healthcard.adapters.clock import FakeClock
from healthcard.adapters.national_ids import NationalKeys, ehc_id, main_index_id
from healthcard.adapters.persistence import memory_env
from healthcard.adapters.privacy.masking import EXPORT_AREA_DIGITS, EXPORT_K, MASK
from healthcard.analytics.export import export_log
from healthcard.domain.clock import china_date
from healthcard.domain.identity import Sex, with_check_character
from healthcard.qr import national_qr
from healthcard.simulation import DAY_START, simulate_day
from healthcard.testing.world import Driver

PEOPLE = 10_000
SEED = 0
PERSON_ROWS = ("Registered", "IdentityCompleted")
NOT_KNOWN = {
    "position": "the order of the log, no fact about a person",
    "topic": "the event type again",
    "originator_id": "an id: it joins a card's rows, it says nothing of the person",
    "originator_version": "how many events the card had before",
    "card_id": "an id, as originator_id",
    "correlation_id": "an id of the request",
    "actor": "the code of the clerk, kiosk or service that served the person",
    "institution": "the code of the place that served the person",
    "volunteer": "the code of the volunteer who helped at the kiosk",
    "verified_by": "the code of the community centre that checked the document",
    "timestamp": "counted as its China date: times within the day are not known",
}
DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"
SECTION = "## Masked exports and the k guarantee"

Row = dict[str, Any]


class OneDayClock(FakeClock):
    """The demo's fake clock with every wait shrunk a thousandfold (the times it is set
    to, such as the arrival slots between 07:35 and 08:45, are kept)."""

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta) / 1000
        return self.now


def read(path: Path) -> list[Row]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Row], list[Row]]]:
    """The masked and the clear export of the demo day, row by row in log order."""
    clock = OneDayClock(DAY_START)
    app = HealthCardApp(memory_env(), clock=clock, config=HealthCardConfig())
    try:
        simulate_day(app, clock, seed=SEED, cards=PEOPLE)
        folder = tmp_path_factory.mktemp("k")
        export_log(app, folder / "masked.jsonl")
        export_log(app, folder / "clear.jsonl", clear=True)
        yield read(folder / "masked.jsonl"), read(folder / "clear.jsonl")
    finally:
        app.close()


def day_of(row: Row) -> date:
    return china_date(datetime.fromisoformat(row["timestamp"]))


def person_key(row: Row) -> tuple[Any, ...]:
    """What an attacker can match in one person row: every column but the unknown ones
    (the timestamp as its day), the data fields likewise."""
    columns = {
        name: value for name, value in row.items() if name not in NOT_KNOWN and name != "data"
    }
    data = {name: value for name, value in row["data"].items() if name not in NOT_KNOWN}
    return (
        day_of(row).isoformat(),
        orjson.dumps(columns, option=orjson.OPT_SORT_KEYS),
        orjson.dumps(data, option=orjson.OPT_SORT_KEYS),
    )


def groups(rows: list[Row]) -> Counter[tuple[Any, ...]]:
    """Cards per quasi-identifier key: each card's person rows, in a fixed order."""
    keys: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        if row["event_type"] in PERSON_ROWS and row["card_id"] is not None:
            keys.setdefault(row["card_id"], []).append(person_key(row))
    return Counter(tuple(sorted(key)) for key in keys.values())


def smallest(rows: list[Row]) -> int:
    return min(groups(rows).values())


def with_clear(
    masked: list[Row], clear: list[Row], change: Callable[[Row, Row], None]
) -> list[Row]:
    """The masked rows with one rule loosened from the clear row at the same position."""
    out = []
    for hidden, shown in zip(masked, clear, strict=True):
        assert hidden["position"] == shown["position"]
        copy = {**hidden, "data": dict(hidden["data"])}
        if copy["event_type"] == "IdentityCompleted":
            change(copy, shown)
        out.append(copy)
    return out


def number_digits(digits: int) -> Callable[[Row, Row], None]:
    def change(row: Row, clear: Row) -> None:
        number = clear["data"]["document"]["number"]
        row["data"]["document"] = {
            "type": "01",
            "number": number[:digits] + MASK * (len(number) - digits),
        }

    return change


def birth_year(row: Row, clear: Row) -> None:
    row["data"]["birth_date"] = clear["data"]["birth_date"][:4] + "-**-**"


def band_60(row: Row, clear: Row) -> None:
    born = date.fromisoformat(clear["data"]["birth_date"])
    on = day_of(clear)
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    row["data"]["age_band"] = "0-17" if age < 18 else "18-59" if age < 60 else "60+"


LOOSER_RULES: dict[str, Callable[[Row, Row], None]] = {
    "area code (6 digits)": number_digits(6),
    "city (4 digits)": number_digits(4),
    "birth year beside the age band": birth_year,
    "a third age band (60+)": band_60,
}


def test_every_masked_row_points_to_at_least_k_people_and_no_looser_rule_would(
    exports: tuple[list[Row], list[Row]],
) -> None:
    """One test, so that the 10,000-person day is simulated once per run, not once per
    xdist worker."""
    masked, clear = exports
    cards = {row["card_id"] for row in masked if row["event_type"] == "Registered"}
    assert len(cards) == PEOPLE
    assert {day_of(row) for row in masked} == {DAY_START.date()}, "the day must stay one day"
    found = groups(masked)
    assert sum(found.values()) == PEOPLE
    assert min(found.values()) >= EXPORT_K, sorted(found.values())[:5]
    assert len(found) > 1, "the key must tell some cards apart (sex, age band, channel)"
    # The same measure on the clear export singles people out: it sees what identifies.
    assert smallest(clear) == 1
    # Payload rows carry nothing that describes the person.
    relations = {row["data"]["relation"] for row in masked if "relation" in row["data"]}
    assert relations == {"***"}
    # Why the rules are this coarse: keeping more of the number, the birth year or a
    # third age band leaves groups under k in the same population.
    kept = {
        rule: smallest(with_clear(masked, clear, LOOSER_RULES[rule]))
        for rule in sorted(LOOSER_RULES)
    }
    assert all(k < EXPORT_K for k in kept.values()), kept


def test_the_privacy_doc_states_k_and_how_it_is_measured() -> None:
    section = DOC.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"\bk\s*(=|≥|>=)\s*{EXPORT_K}\b", section), "the documented k"
    assert f"{PEOPLE:,}" in section
    assert Path(__file__).name in section
    assert f"first {EXPORT_AREA_DIGITS} digits" in section


def guess_the_number(ehc: str, area: str, born: date, sex: Sex, keys: NationalKeys) -> list[str]:
    """An attacker holding ``keys`` who knows a holder's area code, birth date and sex:
    the order digits are all that is left (their last digit's parity is the sex) and the
    check character follows. Returns every guess tried, the hit last."""
    tried = []
    for order in range(1 if sex is Sex.MALE else 0, 1000, 2):
        number = with_check_character(f"{area}{born:%Y%m%d}{order:03d}")
        tried.append(number)
        index = main_index_id("01", number, keys.index_key)
        if ehc_id(index, keys.root_key, "01", number) == ehc:
            break
    return tried


def test_with_the_public_test_keys_the_qr_ehc_id_gives_the_number_back() -> None:
    test_mode = HealthCardApp(memory_env(), clock=FakeClock(), config=HealthCardConfig())
    production_keys = NationalKeys(os.urandom(16), os.urandom(32), "production")
    production = HealthCardApp(
        memory_env(), clock=FakeClock(), config=HealthCardConfig(national_keys=production_keys)
    )
    try:
        for app, found in ((test_mode, True), (production, False)):
            driver = Driver(app)
            card_id = driver.register()
            person = driver.complete_identity(card_id)
            card_ehc_id = app.card(card_id).ehc_id
            assert card_ehc_id is not None
            printed = national_qr.static_text(card_ehc_id).split(":")[0]  # what a scan reads
            number = person.document.number
            tried = guess_the_number(
                printed, number[:6], person.birth_date, person.sex, NationalKeys.test()
            )
            assert (tried[-1] == number) is found
            assert len(tried) <= 500
    finally:
        test_mode.close()
        production.close()
    section = DOC.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    assert "500 guesses" in section
    assert "never see real people" in section
