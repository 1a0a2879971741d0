"""Test helpers: message builders with valid envelopes, and ledgers on a throwaway store."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import schemas
from ledger.application import Item, Ledger
from ledger.batch import Result
from ledger.clock import Clock, system_clock
from ledger.config import Settings
from ledger.identity import with_key

DEFAULT_SOURCES = {
    "employment.declared": "dsn",
    "self_employment.declared": "urssaf",
    "qualification.declared": "marketplace",
    "disability.recognised": "agefiph",
    "jobseeker.registered": "france-travail",
    "dif.registered": "marketplace",
    "topup.granted": "marketplace",
    "topup.withdrawn": "marketplace",
    "civic_engagement.declared": "asp",
    "training.ordered": "marketplace",
    "training.cancelled": "marketplace",
    "training.entered": "marketplace",
    "training.refunded": "marketplace",
    "hardship.exposure.declared": "carsat",
    "hardship.points.used": "carsat",
    "person.retired": "cnav",
    "person.deceased": "insee",
    "person.merged": "operator",
    "accrual.year.closed": "operator",
    "fact.retracted": "dsn",
    "cpf.conversion.requested": "portal",
}
_ALIAS_BODIES = {
    "A": "1840375123456",
    "B": "2910569123457",
    "C": "1560213123458",
    "D": "1620475123459",
    "NIA_A": "7840375123456",
    "E": "184032A123451",
}


def identifier(alias: str) -> str:
    """A valid identifier for a test alias ("A", "B", ...) or a raw 15-character one."""
    if len(alias) == 15:
        return alias
    return with_key(_ALIAS_BODIES[alias])


class Feed:
    """Builds contract messages with unique ids and valid envelopes."""

    def __init__(self, prefix: str = "m") -> None:
        self._numbers = itertools.count(1)
        self.prefix = prefix

    def message(
        self,
        type_: str,
        data: Mapping[str, Any],
        *,
        person: str | None = "A",
        published: str = "2020-01-15",
        source: str | None = None,
        message_id: str | None = None,
        supersedes: str | None = None,
    ) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "message_id": message_id or f"{self.prefix}{next(self._numbers)}",
            "source": source or DEFAULT_SOURCES.get(type_, "dsn"),
            "type": type_,
            "version": 1,
            "published_at": f"{published}T12:00:00+01:00",
            "data": dict(data),
        }
        if person is not None and type_ != "accrual.year.closed":
            envelope["person"] = identifier(person)
        if supersedes is not None:
            envelope["supersedes"] = supersedes
        return envelope

    def employment(self, year: int, hours: str, person: str = "A", **extra: Any) -> dict[str, Any]:
        data = {"employer": "12345678901234", "period_start": f"{year}-01-01",
                "period_end": f"{year}-12-31", "hours_worked": hours, **extra}
        return self.message("employment.declared", data, person=person,
                            published=f"{year + 1}-01-10")

    def close(self, year: int, credited_on: str | None = None) -> dict[str, Any]:
        on = credited_on or f"{year + 1}-04-15"
        return self.message("accrual.year.closed", {"year": year, "credited_on": on},
                            person=None, published=on)


def validated(messages: Iterable[Mapping[str, Any]]) -> list[Item]:
    return [schemas.validate(dict(message)) for message in messages]


def memory_ledger() -> Ledger:
    return Ledger(Settings.from_environment({"CPA_DATABASE_URL": "sqlite:///:memory:"}))


def ledger_at(database_url: str, clock: Clock = system_clock) -> Ledger:
    return Ledger(Settings.from_environment({"CPA_DATABASE_URL": database_url}), clock=clock)


class ManualClock:
    """A clock that stands still until the test moves it: two moments apart without sleeping."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)) -> None:
        self.instant = start

    def __call__(self) -> dt.datetime:
        return self.instant

    def advance(self, seconds: float) -> dt.datetime:
        self.instant += dt.timedelta(seconds=seconds)
        return self.instant


def ingest(ledger: Ledger, messages: Iterable[Mapping[str, Any]]) -> list[Result]:
    return ledger.ingest(validated(messages))
