"""`serve` over two shards (issue 12): with CPA_SHARD_MAP naming two databases on two
PostgreSQL servers, messages posted go to their person's shard (murmur2 of the identifier, as
Kafka's producers place them), each person's reads come from their shard and equal a single
store's, an outcome is found on whichever shard holds it, verify covers both shards, and a merge
across shards is refused with a recorded outcome (it goes through Kafka)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from deploy.local.postgres import PostgresServer
from ledger.application import Ledger
from ledger.cluster import Cluster
from ledger.config import Settings
from ledger.demo import DemoSettings, generate
from ledger.partitioner import identifier_partition
from ledger.shards import load
from projections.reader import Reader
from projections.runner import Runner, live_names
from schemas import parse
from tests.http import server as servers
from tests.kafka import support

pytestmark = [pytest.mark.postgres]

PERSONS = 25
PARTITIONS = 8
AS_OF = dt.date(2030, 1, 1)


def _shard(identifier: str) -> int:
    return identifier_partition(identifier, PARTITIONS) // 4


def _feed() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The demo feed without year closes (each shard closes its own through Kafka) and
    without merges across shards, and one merge across shards."""
    feed = list(generate(DemoSettings(persons=PERSONS, seed=5)))
    crossing = [m for m in feed if m["type"] == "person.merged"
                and _shard(m["person"]) != _shard(m["data"]["absorbed"])]
    kept = [m for m in feed if m["type"] != "accrual.year.closed" and m not in crossing]
    merge = crossing[0] if crossing else {
        "message_id": "x-merge", "source": "sngi", "type": "person.merged", "version": 1,
        "person": next(m["person"] for m in kept if _shard(m["person"]) == 0),
        "published_at": "2024-01-01T00:00:00+01:00",
        "data": {"absorbed": next(m["person"] for m in kept if _shard(m["person"]) == 1),
                 "merged_on": "2024-01-01"}}
    return kept, merge


def _map(tmp_path: Path, first: str, second: str) -> Path:
    path = tmp_path / "shards.toml"
    path.write_text(f'partitions = {PARTITIONS}\n[shards.s0]\ndatabase_url_env = "A_URL"\n'
                    'partitions = [0, 1, 2, 3]\n[shards.s1]\ndatabase_url_env = "B_URL"\n'
                    'partitions = [4, 5, 6, 7]\n', encoding="utf-8")
    return path


def _project(cluster: Cluster) -> None:
    for _, ledger in cluster:
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        runner.catch_up()


def test_serve_routes_each_person_to_their_shard_and_answers_across_shards(
    postgres_server: PostgresServer, second_postgres_server: PostgresServer, tmp_path: Path,
    tokens_file: Path,
) -> None:
    first = support.fresh_schema(postgres_server.url, "serve_s0")
    second = support.fresh_schema(second_postgres_server.url, "serve_s1")
    path = _map(tmp_path, first, second)
    feed, merge = _feed()
    running = servers.start(first, tmp_path / "serve.log", CPA_SHARD_MAP=str(path),
                            A_URL=first, B_URL=second, CPA_API_TOKENS_FILE=str(tokens_file))
    try:
        running.post(feed)
        refused = running.client(scope="ingest").post("/v1/messages", json=[merge]).json()
        shard_map = load("", {"CPA_SHARD_MAP": str(path), "A_URL": first, "B_URL": second})
        settings = Settings.from_environment(servers.environment(first))
        with Cluster.open(settings, shard_map) as cluster:
            _project(cluster)
            assert all(ledger.app.recorder.max_notification_id() for _, ledger in cluster)
        reads = running.client(scope="read")
        persons = sorted({str(m["person"]) for m in feed})
        answered = {p: reads.get(f"/v1/persons/{p}/balances", params={"as_of": str(AS_OF)})
                    .json() for p in persons}
        on_second = next(m for m in feed if _shard(m["person"]) == 1)
        found = running.client(scope="audit").get(
            f"/v1/messages/{on_second['source']}/{on_second['message_id']}")
        verified = running.client(scope="audit").get("/v1/audit/verify").json()
    finally:
        running.stop()
    assert refused["outcomes"][0]["reason"] == "not_supported"
    assert found.status_code == 200
    assert verified["ok"] and set(verified["shards"]) == {"s0", "s1"}
    assert answered == _single_store(tmp_path, feed, persons)


def _single_store(tmp_path: Path, feed: list[dict[str, Any]],
                  persons: list[str]) -> dict[str, Any]:
    settings = Settings.from_environment(servers.environment(f"sqlite:///{tmp_path / 'one.db'}"))
    with Ledger(settings) as ledger:
        ledger.ingest([parse(orjson.dumps(m)) for m in feed])
        reader = Reader(ledger)
        return {p: orjson.loads(orjson.dumps(reader.balance(p, AS_OF))) for p in persons}
