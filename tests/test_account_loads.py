"""Loading persons past the account cache: what a batch loads, how much it replays, and that
the loaded states go when the cache lets them go (the collector's thresholds rely on it)."""

from __future__ import annotations

import gc
import uuid
from pathlib import Path

import pytest

from ledger import collector, limits
from ledger.application import Ledger
from ledger.domain import CALENDAR_ID
from ledger.identity import with_key
from ledger.state import PersonState
from tests.backends import Ledgers
from tests.support import Feed, ingest, ledger_at

PERSONS = 12
CACHE_SMALLER_THAN_THE_BATCH = 3


def _people() -> list[str]:
    return [with_key(f"18403751{number:05d}") for number in range(PERSONS)]


def _first_and_second(feed: Feed) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    first = [feed.employment(2019, "800", person=person) for person in _people()]
    second = [feed.employment(2020, "900", person=person) for person in _people()]
    return first, second


@pytest.mark.postgres
def test_a_batch_keeps_the_accounts_it_prefetched_when_the_cache_is_smaller(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = Ledgers("postgres", postgres_url).url()
    first, second = _first_and_second(Feed())
    with ledger_at(url) as writer:
        ingest(writer, first)
    monkeypatch.setattr(limits, "PERSON_CACHE_SIZE_MAX", CACHE_SMALLER_THAN_THE_BATCH)
    with ledger_at(url) as ledger:
        asked_one_by_one = _count_single_reads(ledger)
        results = ingest(ledger, second)
        assert {result.outcome.value for result in results} == {"accepted"}
        # Every person loaded once, by the batch's prefetch, none again one by one.
        assert ledger.loads.loaded == PERSONS
        assert ledger.loads.cached == 0
        assert asked_one_by_one == [0]


# A cache that holds two thirds of the persons: a batch finds some of its persons there, the
# least recent ones, and loads the others.
CACHE_OF_TWO_THIRDS = 8
HALF_A_BATCH = 4


@pytest.mark.postgres
def test_a_batch_keeps_its_cached_accounts_while_it_loads_the_others(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = Ledgers("postgres", postgres_url).url()
    feed = Feed()
    first, second = _first_and_second(feed)
    people = _people()
    with ledger_at(url) as writer:
        ingest(writer, first)
    monkeypatch.setattr(limits, "PERSON_CACHE_SIZE_MAX", CACHE_OF_TWO_THIRDS)
    with ledger_at(url) as ledger:
        ingest(ledger, second[:CACHE_OF_TWO_THIRDS])  # held, the first persons the least recent
        asked_one_by_one = _count_single_reads(ledger)
        third = [feed.employment(2021, "900", person=person)
                 for person in people[:HALF_A_BATCH] + people[CACHE_OF_TWO_THIRDS:]]
        results = ingest(ledger, third)
        assert {result.outcome.value for result in results} == {"accepted"}
        assert ledger.loads.cached == HALF_A_BATCH
        assert asked_one_by_one == [0]


@pytest.mark.postgres
def test_a_batch_prefetches_the_survivors_of_merged_identifiers(postgres_url: str) -> None:
    url = Ledgers("postgres", postgres_url).url()
    feed = Feed("merges")
    people = _people()
    survivors, absorbed = people[: PERSONS // 2], people[PERSONS // 2:]
    with ledger_at(url) as writer:
        ingest(writer, [feed.employment(2019, "800", person=person) for person in people])
        ingest(writer, [feed.message("person.merged", {"absorbed": gone, "merged_on": "2020-02-01"},
                                     person=survivor, published="2020-02-01")
                        for survivor, gone in zip(survivors, absorbed, strict=True)])
    with ledger_at(url) as ledger:
        asked_one_by_one = _count_single_reads(ledger)
        results = ingest(ledger, [feed.employment(2020, "900", person=gone) for gone in absorbed])
        assert {result.outcome.value for result in results} == {"accepted"}
        # The absorbed identifiers' accounts, then their survivors', each in one prefetch.
        assert ledger.loads.loaded == PERSONS
        assert asked_one_by_one == [0]


def _count_single_reads(ledger: Ledger) -> list[int]:
    """The count, kept up to date, of the ledger's reads of one person's account at a time
    (`repository.get`; the calendar of closed years is read so on every batch)."""
    calls = [0]
    get = ledger.app.repository.get

    def counted(aggregate_id: uuid.UUID, **options: object) -> object:
        if aggregate_id != CALENDAR_ID:
            calls[0] += 1
        return get(aggregate_id, **options)  # type: ignore[arg-type]

    ledger.app.repository.get = counted  # type: ignore[method-assign,assignment]
    return calls


@pytest.mark.postgres
def test_a_load_replays_fewer_events_than_the_snapshot_interval(postgres_url: str) -> None:
    url = Ledgers("postgres", postgres_url).url()
    feed = Feed()
    with ledger_at(url) as writer:
        for hours in range(1, 3 * limits.SNAPSHOT_INTERVAL_EVENTS + 5):
            ingest(writer, [feed.employment(2019, str(hours))])  # one batch, one event each
    with ledger_at(url) as ledger:
        ingest(ledger, [feed.employment(2019, "1")])
        assert ledger.loads.loaded == 1
        assert ledger.loads.snapshots == 1
        assert ledger.loads.replayed_events < limits.SNAPSHOT_INTERVAL_EVENTS


def test_loaded_states_are_freed_without_the_collector(ledgers: Ledgers, tmp_path: Path) -> None:
    """Person states hold no reference cycles: dropping the cache frees them at once, so the
    rare full collections of `ledger.collector` keep no dead state in memory."""
    url = ledgers.shared_url(tmp_path)
    first, second = _first_and_second(Feed())
    _record(url, first)
    gc.collect()  # the writer's ledger and its cache are gone
    gc.disable()
    try:
        with ledger_at(url) as ledger:
            ingest(ledger, second)
            assert _states() >= PERSONS
            ledger.forget_accounts()
            assert _states() == 0
    finally:
        gc.enable()


def _record(url: str, messages: list[dict[str, object]]) -> None:
    with ledger_at(url) as writer:
        ingest(writer, messages)


def _states() -> int:
    return sum(isinstance(thing, PersonState) for thing in gc.get_objects())


def test_tune_sets_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        collector.tune()
        assert gc.get_threshold() == (collector.YOUNG_ALLOCATIONS, collector.MIDDLE_COLLECTIONS,
                                      collector.OLD_COLLECTIONS)
    finally:
        gc.set_threshold(*before)
