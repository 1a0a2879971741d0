"""The HTTP service over a shard map: one `LedgerService` per shard, each person's requests
routed to their shard with Kafka's key -> partition function (`ledger.partitioner`), and the
endpoints that have no single person answered across shards.

- person endpoints (balances, postings, accruals, quote, audit events, pages): the person's shard;
- `GET /v1/messages/{source}/{id}`: the shards are asked in turn (a message's outcome is
  recorded where its person lives; a year close's on every shard, the first one answers);
- `GET /v1/audit/verify`: every shard verified, `ok` when all are, the first difference named
  with its shard;
- `/readyz`: every shard reachable and within the lag bound; the lag is the largest;
- `POST /v1/messages`: each message to its person's shard; a year close to every shard (each
  records its own close and sweep, as the consumers do).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from ledger.application import Item
from ledger.batch import Result
from ledger.cluster import Cluster
from ledger.http import pages
from ledger.http.fastreads import CachedReads
from ledger.http.problems import Problem
from ledger.http.service import LedgerService
from ledger.identity import is_valid
from ledger.shards import Shard
from schemas import Message, Rejection

MERGE_TYPE = "person.merged"
NOT_SUPPORTED = "not_supported"
CROSSING_MERGE_DETAIL = ("the absorbed identifier lives on another shard: send this merge"
                         " through Kafka, whose consumers transfer its history between shards")


class PersonRouted:
    """Calls whose first argument is a person identifier, sent to that person's shard's
    object (the readers the web pages use)."""

    def __init__(self, route: Callable[[str], Any]) -> None:
        self._route = route

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def routed(person: str, *arguments: Any, **options: Any) -> Any:
            return getattr(self._route(person), name)(person, *arguments, **options)

        return routed


class ShardedService(LedgerService):
    """`LedgerService`'s methods, routed to the shards' services."""

    def __init__(self, cluster: Cluster, ready_lag_max_events: int) -> None:
        # Not LedgerService.__init__: every store-bound part belongs to a shard's service.
        self.cluster = cluster
        self.services = {shard.name: LedgerService(ledger, ready_lag_max_events)
                         for shard, ledger in cluster}
        self.ledger = cluster.first  # the person-key secret is the same on every shard
        self.postgres = True
        self.ready_lag_max_events = ready_lag_max_events
        self.cached_reads = None  # one per shard: `fast_reads`
        self.documents = None
        self.runner = None
        self.read_pool = None
        self.reader = PersonRouted(lambda person: self.of(person).reader)  # type: ignore[assignment]
        self.events = PersonRouted(lambda person: self.of(person).events)  # type: ignore[assignment]

    def of(self, person: str) -> LedgerService:
        """The service of the shard that answers for the person (an invalid identifier: the
        first shard, which rejects it as every shard would)."""
        shard = self.cluster.home_of(person) if is_valid(person) else self._first()
        return self.services[shard.name]

    def fast_reads(self, person: str) -> CachedReads | None:
        """The person's shard's event-loop reads (keyed by the person key, which is the same
        secret's on every shard)."""
        return self.of(person).cached_reads

    def every_fast_reads(self) -> list[CachedReads]:
        return [reads for service in self.services.values()
                for reads in service.every_fast_reads()]

    def _first(self) -> Shard:
        return self.cluster.map.shards[0]

    def close(self) -> None:
        for service in self.services.values():
            if service.read_pool is not None:
                service.read_pool.close()
        self.cluster.close()

    @property
    def backend(self) -> str:
        return "postgresql"

    # Writes.

    def ingest(self, items: Sequence[Item]) -> list[Result]:
        """Each message decided on its shard, results in the request's order. A merge whose
        absorbed identifier lives on another shard is rejected `not_supported` (recorded): the
        transfer between shards goes through Kafka (`ledger.transfers`)."""
        items = [self._refuse_crossing(item) for item in items]
        results: list[Result | None] = [None] * len(items)
        for name, indexes in self._route_items(items).items():
            decided = self.services[name].ingest([items[i] for i in indexes])
            for index, result in zip(indexes, decided, strict=True):
                results[index] = result
        assert all(result is not None for result in results)
        return [result for result in results if result is not None]

    def _refuse_crossing(self, item: Item) -> Item:
        if not isinstance(item, Message) or item.type != MERGE_TYPE or item.person is None:
            return item
        absorbed = item.data.get("absorbed")
        if not isinstance(absorbed, str) or not is_valid(absorbed) or not is_valid(item.person):
            return item
        if self.cluster.map.shard_of(absorbed) == self.cluster.map.shard_of(item.person):
            return item
        return Rejection(NOT_SUPPORTED, CROSSING_MERGE_DETAIL, item.source, item.message_id,
                         item.person, item.digest)

    def _route_items(self, items: Sequence[Item]) -> dict[str, list[int]]:
        """Message indexes by the shard that answers for their person (an identifier merged
        into a person of another shard: the survivor's, as the consumers forward it); a
        rejection without a readable person: the first."""
        persons = [_valid_person(item) for item in items]
        homes = self.cluster.homes_of(person for person in persons if person is not None)
        routed: dict[str, list[int]] = {}
        for index, person in enumerate(persons):
            shard = homes[person] if person is not None else self._first()
            routed.setdefault(shard.name, []).append(index)
        return routed

    def start_close(self, message: Message) -> dict[str, Any] | None:
        """Every shard sweeps the close; the status is the first shard's."""
        statuses = [service.start_close(message) for service in self.services.values()]
        return statuses[0]

    # Reads.

    def balance(self, person: str, as_of: dt.date, known_at: dt.datetime | None) -> Any:
        return self.of(person).balance(person, as_of, known_at)

    def balance_of_today(self, person: str, today: dt.date) -> bytes:
        return self.of(person).balance_of_today(person, today)

    def postings(self, person: str, query: pages.LinesQuery, cursor: str | None,
                 limit: int) -> dict[str, Any]:
        return self.of(person).postings(person, query, cursor, limit)

    def accrual(self, person: str, year: int) -> dict[str, Any]:
        return self.of(person).accrual(person, year)

    def quote(self, person: str, certification: str, price_eur: str,
              on: dt.date) -> dict[str, Any]:
        return self.of(person).quote(person, certification, price_eur, on)

    def message(self, source: str, message_id: str) -> tuple[int, dict[str, Any]]:
        last: Problem | None = None
        for service in self.services.values():
            try:
                return service.message(source, message_id)
            except Problem as problem:
                if problem.status != 404:
                    raise
                last = problem
        assert last is not None
        raise last

    # Audit.

    def audit_events(self, person: str, cursor: str | None, limit: int) -> dict[str, Any]:
        return self.of(person).audit_events(person, cursor, limit)

    def verify(self) -> dict[str, Any]:
        return across_shards({name: service.verify()
                              for name, service in self.services.items()})

    # Operations.

    def projection_lag(self) -> int:
        return max(service.projection_lag() for service in self.services.values())

    def readiness(self) -> dict[str, Any]:
        documents = [service.readiness() for service in self.services.values()]
        lag = max(document["projection_lag_events"] for document in documents)
        return {**documents[0], "projection_lag_events": lag, "shards": len(documents)}


def _valid_person(item: Item) -> str | None:
    person = item.person if isinstance(item, Message) else None
    return person if person is not None and is_valid(person) else None


def across_shards(verdicts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One verify document for the cluster: the counts summed, the first difference named
    with its shard, and each shard's own document."""
    difference = next((f"shard {name}: {verdict['first_difference']}"
                       for name, verdict in verdicts.items() if not verdict["ok"]), None)
    return {
        "ok": all(verdict["ok"] for verdict in verdicts.values()),
        "checked_events": sum(int(verdict["checked_events"]) for verdict in verdicts.values()),
        "head_link": None,
        "first_difference": difference,
        "shards": verdicts,
    }
