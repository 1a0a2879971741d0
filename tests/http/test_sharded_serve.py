"""`serve` over two shards (issue 12): with CPA_SHARD_MAP naming two databases on two
PostgreSQL servers, a year close posted is swept by every shard, messages posted go to their
person's shard (murmur2 of the identifier, as
Kafka's producers place them), each person's reads come from their shard and equal a single
store's, an outcome is found on whichever shard holds it, verify covers both shards, and a merge
across shards is refused with a recorded outcome (it goes through Kafka). `cpa-ledger shards
statistics` sums to a single store's statistics, `shards replay` replays every shard."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from deploy.local.postgres import PostgresServer
from ledger.application import Ledger
from ledger.cli import main
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

PERSONS = 20
DEMO_SEED = 3  # its feed merges one identity across the two shards
PARTITIONS = 8
AS_OF = dt.date(2030, 1, 1)
CLOSES_TIMEOUT_S = 120.0
CLOSES_POLL_S = 0.1


def _shard(identifier: str) -> int:
    return identifier_partition(identifier, PARTITIONS) // 4


def _feed() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The demo feed without merges across shards, and one merge across shards."""
    feed = list(generate(DemoSettings(persons=PERSONS, seed=DEMO_SEED)))
    crossing = [m for m in feed if m["type"] == "person.merged"
                and _shard(m["person"]) != _shard(m["data"]["absorbed"])]
    kept = [m for m in feed if m not in crossing]
    assert crossing, "the demo feed merges identities across the two shards"
    merge = crossing[0]
    return kept, merge


def _map(tmp_path: Path, first: str, second: str) -> Path:
    path = tmp_path / "shards.toml"
    path.write_text(f'partitions = {PARTITIONS}\n[shards.s0]\ndatabase_url_env = "A_URL"\n'
                    'partitions = [0, 1, 2, 3]\n[shards.s1]\ndatabase_url_env = "B_URL"\n'
                    'partitions = [4, 5, 6, 7]\n', encoding="utf-8")
    return path


def _wait_for_closes(cluster: Cluster, closes: list[dict[str, Any]]) -> None:
    """Until every shard recorded every close (each sweeps its own persons; the status that
    `post` followed is the first shard's)."""
    keys = [(m["source"], m["message_id"]) for m in closes]
    assert keys, "the demo feed closes years"
    deadline = time.monotonic() + CLOSES_TIMEOUT_S
    for _, ledger in cluster:
        while len(ledger.app.ledger_recorder.select_receipts(keys)) < len(keys):
            assert time.monotonic() < deadline, "a shard did not close every year"
            time.sleep(CLOSES_POLL_S)


def _project(cluster: Cluster) -> None:
    for _, ledger in cluster:
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        runner.catch_up()


def test_serve_routes_each_person_to_their_shard_and_answers_across_shards(
    postgres_server: PostgresServer, second_postgres_server: PostgresServer, tmp_path: Path,
    tokens_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
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
            _wait_for_closes(cluster, [m for m in feed if m["type"] == "accrual.year.closed"])
            _project(cluster)
            assert all(ledger.app.recorder.max_notification_id() for _, ledger in cluster)
            events = {shard.name: ledger.app.recorder.max_notification_id()
                      for shard, ledger in cluster}
        reads = running.client(scope="read")
        persons = sorted({str(m["person"]) for m in feed if "person" in m})
        answered = {p: reads.get(f"/v1/persons/{p}/balances", params={"as_of": str(AS_OF)})
                    .json() for p in persons}
        # Today's documents: the shard's cache, read on the event loop (twice: miss, then hit).
        today = [{p: reads.get(f"/v1/persons/{p}/balances").json() for p in persons}
                 for _ in range(2)]
        on_second = next(m for m in feed if "person" in m and _shard(m["person"]) == 1)
        found = running.client(scope="audit").get(
            f"/v1/messages/{on_second['source']}/{on_second['message_id']}")
        verified = running.client(scope="audit").get("/v1/audit/verify").json()
    finally:
        running.stop()
    assert refused["outcomes"][0]["reason"] == "not_supported"
    assert found.status_code == 200
    assert verified["ok"] and set(verified["shards"]) == {"s0", "s1"}
    assert answered == _single_store(tmp_path, feed, persons, AS_OF)
    assert today[0] == today[1] == _single_store(tmp_path, feed, persons, dt.date.today())
    variables = {"CPA_SHARD_MAP": str(path), "A_URL": first, "B_URL": second,
                 "CPA_DATABASE_URL": first, "CPA_PERSON_KEY_SECRET": servers.SECRET}
    statistics = _shards_command(monkeypatch, capsys, variables, ["statistics"])
    assert statistics["rows"], "the shards project statistics"
    single = support.fresh_schema(postgres_server.url, "serve_single")
    assert statistics["rows"] == _shards_command(
        monkeypatch, capsys, {"CPA_DATABASE_URL": single, "CPA_PERSON_KEY_SECRET":
                              servers.SECRET}, ["statistics"], feed)["rows"]
    replayed = _shards_command(monkeypatch, capsys, variables,
                               ["replay", "--until", dt.datetime.now(dt.UTC).isoformat(),
                                "--out", "serve_replay"])
    assert {name: r["events"] for name, r in replayed["shards"].items()} == events


def _shards_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                    variables: dict[str, str], arguments: list[str],
                    feed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`cpa-ledger shards ARGUMENTS --json` with these variables (on a single store fed with
    `feed` and projected first, when given)."""
    monkeypatch.delenv("CPA_SHARD_MAP", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    if feed is not None:
        with Ledger(Settings.from_environment()) as ledger:
            ledger.ingest([parse(orjson.dumps(m)) for m in feed])
            runner = Runner(ledger, live_names(ledger))
            runner.create()
            runner.catch_up()
    capsys.readouterr()
    assert main(["shards", *arguments, "--json"]) == 0
    document: dict[str, Any] = orjson.loads(capsys.readouterr().out)
    return document


def _single_store(tmp_path: Path, feed: list[dict[str, Any]], persons: list[str],
                  as_of: dt.date) -> dict[str, Any]:
    database = tmp_path / f"one-{as_of}.db"
    settings = Settings.from_environment(servers.environment(f"sqlite:///{database}"))
    with Ledger(settings) as ledger:
        ledger.ingest([parse(orjson.dumps(m)) for m in feed])
        reader = Reader(ledger)
        return {p: orjson.loads(orjson.dumps(reader.balance(p, as_of))) for p in persons}
