"""The cache of today's balance documents on a real PostgreSQL (`projections.documents`): a hit
is exactly what the tables answer, every projected change invalidates it, a document computed
before a change is never stored after it, and merged or unknown identifiers are not stored."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import orjson
import pytest

from ledger.application import Ledger
from ledger.http.readpool import ReadPool
from projections.documents import TABLE, DocumentCache
from projections.operations import rebuild
from projections.runner import Runner, live_names
from projections.tables import TableReader
from tests.backends import Ledgers
from tests.http import feeds
from tests.support import Feed, identifier, ingest

pytestmark = pytest.mark.postgres

TODAY = dt.date.today()
PERSON = identifier("A")
ABSORBED = identifier("NIA_A")


@pytest.fixture
def ledger(postgres_url: str) -> Iterator[Ledger]:
    opened = Ledgers("postgres", postgres_url).new()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def cache(ledger: Ledger) -> Iterator[DocumentCache]:
    pool = ReadPool(ledger.settings.database_url)
    try:
        yield DocumentCache(ledger, live_names(ledger), pool.pool)
    finally:
        pool.close()


def _project(ledger: Ledger) -> None:
    runner = Runner(ledger, live_names(ledger))
    runner.create()
    runner.catch_up()


def _computed(ledger: Ledger, person: str) -> bytes:
    return orjson.dumps(TableReader(ledger).balance(person, TODAY))


def _stored(ledger: Ledger, person: str) -> bytes | None:
    names = live_names(ledger)
    with ledger.app.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        curs.execute(f'SELECT body FROM "{names.schema}"."{TABLE}" WHERE person_key = %s',
                     (ledger.person_key(person),))
        row = curs.fetchone()
    return None if row is None or row["body"] is None else bytes(row["body"])


def test_a_hit_is_what_the_tables_answer_and_every_change_invalidates_it(
        ledger: Ledger, cache: DocumentCache) -> None:
    feed = Feed("cache")
    ingest(ledger, [*feeds.career(feed, PERSON, range(2015, 2020)),
                    *feeds.closes(feed, range(2015, 2019))])
    _project(ledger)
    assert cache.cached(PERSON, TODAY) is None
    body = cache.fill(PERSON, TODAY)
    assert body == _computed(ledger, PERSON)
    assert cache.cached(PERSON, TODAY) == body
    assert cache.cached(PERSON, TODAY + dt.timedelta(days=1)) is None  # a body answers one day

    ingest(ledger, [feeds.topup(feed, PERSON, 1)])
    assert cache.cached(PERSON, TODAY) == body  # not projected yet: the tables say the same
    _project(ledger)
    assert cache.cached(PERSON, TODAY) is None
    changed = cache.fill(PERSON, TODAY)
    assert changed != body and changed == _computed(ledger, PERSON)
    assert orjson.loads(changed)["accounts"]["topups"]["balance"] == "10.00"


def test_a_document_computed_before_a_change_is_never_stored_after_it(
        ledger: Ledger, cache: DocumentCache) -> None:
    feed = Feed("race")
    ingest(ledger, feeds.career(feed, PERSON, range(2015, 2018)))
    _project(ledger)
    key = ledger.person_key(PERSON)
    with cache.pool.connection() as connection:
        stale, version, storable = cache._compute(connection, PERSON, key, TODAY)
    assert storable and version is not None
    ingest(ledger, [feeds.topup(feed, PERSON, 1)])
    _project(ledger)  # the projector commits between the read and the store
    with cache.pool.connection() as connection:
        cache._store(connection, key, version, TODAY, stale)
    assert _stored(ledger, PERSON) is None
    assert cache.fill(PERSON, TODAY) == _computed(ledger, PERSON) != stale
    assert _stored(ledger, PERSON) == _computed(ledger, PERSON)


def test_merged_and_unknown_identifiers_are_computed_not_stored(
        ledger: Ledger, cache: DocumentCache) -> None:
    feed = Feed("merge")
    merge = feed.message("person.merged", {"absorbed": ABSORBED, "merged_on": "2020-09-01"},
                         person="A", published="2020-09-01")
    ingest(ledger, [*feeds.career(feed, PERSON, range(2015, 2018)),
                    *feeds.career(feed, ABSORBED, range(2018, 2020)), merge])
    _project(ledger)
    assert cache.fill(ABSORBED, TODAY) == _computed(ledger, ABSORBED)
    assert cache.cached(ABSORBED, TODAY) is None
    unknown = identifier("D")
    assert cache.fill(unknown, TODAY) == _computed(ledger, unknown)
    assert cache.cached(unknown, TODAY) is None and _stored(ledger, unknown) is None
    survivor = cache.fill(PERSON, TODAY)
    assert cache.cached(PERSON, TODAY) == survivor
    assert orjson.loads(survivor)["accounts"] == orjson.loads(
        _computed(ledger, ABSORBED))["accounts"]


def test_a_rebuild_starts_an_empty_cache_that_fills_again(
        ledger: Ledger, cache: DocumentCache) -> None:
    feed = Feed("rebuild")
    ingest(ledger, feeds.career(feed, PERSON, range(2015, 2019)))
    _project(ledger)
    before = cache.fill(PERSON, TODAY)
    rebuild(ledger, ["balances"])
    assert cache.cached(PERSON, TODAY) is None
    assert cache.fill(PERSON, TODAY) == before == _computed(ledger, PERSON)
    assert cache.cached(PERSON, TODAY) == before


def test_the_projector_drops_bodies_of_past_days_once_a_day(
        ledger: Ledger, cache: DocumentCache) -> None:
    """The cache holds at most the bodies read today: a body stored yesterday is dropped by the
    projector's first idle moment of a new day; today's stay."""
    feed = Feed("clean")
    ingest(ledger, [*feeds.career(feed, PERSON, range(2019, 2021)),
                    *feeds.career(feed, identifier("B"), range(2019, 2021))])
    _project(ledger)
    yesterday = TODAY - dt.timedelta(days=1)
    cache.fill(PERSON, yesterday)
    cache.fill(identifier("B"), TODAY)
    assert _stored(ledger, PERSON) is not None and _stored(ledger, identifier("B")) is not None
    stopping = threading.Event()
    runner = Runner(ledger, live_names(ledger))

    def today() -> dt.date:
        stopping.set()  # one idle round is enough
        return TODAY

    runner.follow(stopping, today=today)
    assert _stored(ledger, PERSON) is None
    assert _stored(ledger, identifier("B")) == cache.cached(identifier("B"), TODAY)
