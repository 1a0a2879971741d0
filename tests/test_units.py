"""Every amount of the balance document carries its unit, and pending years are in the unit of
their document: a year computed in hours and pending as of a day from 2019-01-01 shows converted
at 15 EUR/h; a year pending as of a day before 2019 shows in hours. The same on the in-process
reader (both backends) and on the PostgreSQL tables reader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import Ledger
from projections.reader import Reader
from projections.runner import Runner, live_names
from projections.tables import TableReader
from tests.backends import Ledgers
from tests.support import Feed, identifier, ingest

EUR_PER_HOUR = Decimal(15)


@pytest.fixture
def ledger(ledgers: Ledgers) -> Iterator[Ledger]:
    """A person with hours years 2017 and 2018 and euro year 2019, none of them closed."""
    ledger = ledgers.new()
    feed = Feed(prefix="units-")
    ingest(ledger, [feed.employment(2017, "800"), feed.employment(2018, "800"),
                    feed.employment(2019, "800")])
    try:
        yield ledger
    finally:
        ledger.close()


def _readers(ledger: Ledger, kind: str) -> list[Any]:
    readers: list[Any] = [Reader(ledger)]
    if kind == "postgres":
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        runner.catch_up()
        readers.append(TableReader(ledger))
    return readers


def _pending(document: dict[str, Any]) -> dict[int, tuple[Decimal, str]]:
    return {row["year"]: (Decimal(row["cpf"]), row["unit"]) for row in document["pending"]}


def test_pending_before_2019_is_in_hours(ledger: Ledger, ledgers: Ledgers) -> None:
    for reader in _readers(ledger, ledgers.kind):
        document = reader.balance(identifier("A"), dt.date(2018, 6, 30))
        assert document["accounts"]["cpf"]["unit"] == "hours"
        pending = _pending(document)
        assert set(pending) == {2017, 2018}, type(reader)
        assert {unit for _, unit in pending.values()} == {"hours"}, type(reader)
        # 2018 closes after the switch (its credit is posted in euros): shown in its hours.
        in_euros = _pending(reader.balance(identifier("A"), dt.date(2019, 1, 2)))
        assert pending[2018][0] * EUR_PER_HOUR == in_euros[2018][0], type(reader)


def test_pending_hours_years_convert_from_2019(ledger: Ledger, ledgers: Ledgers) -> None:
    for reader in _readers(ledger, ledgers.kind):
        hours = _pending(reader.balance(identifier("A"), dt.date(2018, 12, 31)))
        document = reader.balance(identifier("A"), dt.date(2019, 6, 30))
        assert document["accounts"]["cpf"]["unit"] == "EUR"
        pending = _pending(document)
        assert set(pending) == {2017, 2018, 2019}, type(reader)
        assert {unit for _, unit in pending.values()} == {"EUR"}, type(reader)
        assert pending[2017][0] == hours[2017][0] * EUR_PER_HOUR, type(reader)


def test_every_amount_of_the_document_has_its_unit(ledger: Ledger, ledgers: Ledgers) -> None:
    for reader in _readers(ledger, ledgers.kind):
        for as_of in (dt.date(2018, 6, 30), dt.date(2019, 6, 30)):
            document = reader.balance(identifier("A"), as_of)
            unit = document["accounts"]["cpf"]["unit"]
            assert document["unit"] == unit  # of `held` and `available`
            assert all(account["unit"] for account in document["accounts"].values())
            assert all(row["unit"] == unit for row in document["pending"])


def test_a_closed_year_in_hours_known_later_is_pending_in_euros(ledgers: Ledgers) -> None:
    """The issue's case: the close of 2017 is recorded, but as known before it was, 2017 is
    pending; as of a day in 2019 it shows in euros."""
    ledger = ledgers.new()
    try:
        feed = Feed(prefix="known-")
        ingest(ledger, [feed.employment(2017, "800")])
        before_close = dt.datetime.now(dt.UTC)
        ingest(ledger, [feed.close(2017, "2018-04-15")])
        for reader in _readers(ledger, ledgers.kind):
            now = reader.balance(identifier("A"), dt.date(2019, 6, 30))
            assert now["pending"] == []
            then = reader.balance(identifier("A"), dt.date(2019, 6, 30), before_close)
            credited = Decimal(now["accounts"]["cpf"]["balance"])
            assert then["pending"] == [{"year": 2017, "cpf": f"{credited:.2f}", "unit": "EUR"}]
    finally:
        ledger.close()
