"""Adding a shard (issue 12): a store fed with the demo feed is split in two by `cpa-ledger
shards move --to-map`, the half of its partitions that changes owner copied into a database on
another PostgreSQL server: every person then answers from their new home exactly as before
(account version, state, balances; merges split by the move still lead to their survivor), the
moved partitions' positions are where the old owner left them, and a second run copies nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from consumers.positions import recorded_name
from deploy.local.postgres import PostgresServer
from ledger.application import Ledger
from ledger.cli import main
from ledger.cluster import Cluster
from ledger.config import Settings
from ledger.demo import DemoSettings, generate
from ledger.http.sharded import ShardedService
from ledger.identity import aggregate_id
from ledger.ingest import ingest_lines, parse_lines
from ledger.shards import load
from ledger.storage import BatchRecords
from projections.operations import rebuild
from projections.runner import Runner, live_names
from schemas import parse
from tests.kafka import support

pytestmark = [pytest.mark.postgres]

PERSONS = 40
PARTITIONS = 8
CHUNK_MESSAGES = 400
TOPIC = "cpa.feed.v1"
POSITION = 1_234  # what the consumer of every partition had recorded, say
SECRET = support.PERSON_KEY_SECRET


def _settings(url: str) -> Settings:
    return Settings.from_environment({"CPA_DATABASE_URL": url, "CPA_PERSON_KEY_SECRET": SECRET})


def _fill(ledger: Ledger, feed: list[dict[str, Any]]) -> None:
    """`cpa-ledger ingest` of the feed (which notes the persons' homes, as the consumers do),
    then the positions a consumer of every partition would have recorded."""
    ingest_lines(ledger, parse_lines("feed", (json.dumps(m).encode() + b"\n" for m in feed)))
    ledger.app.save(records=BatchRecords(trackings=[
        Tracking(recorded_name((TOPIC, n)), POSITION) for n in range(PARTITIONS)]))


def _new_map(tmp_path: Path, first: str, second: str) -> Path:
    path = tmp_path / "two.toml"
    path.write_text(f'partitions = {PARTITIONS}\n[shards.s0]\ndatabase_url = "{first}"\n'
                    f'partitions = [0, 1, 2, 3]\n[shards.s1]\ndatabase_url = "{second}"\n'
                    'partitions = [4, 5, 6, 7]\n', encoding="utf-8")
    return path


def _documents(cluster: Cluster, persons: list[str]) -> dict[str, Any]:
    """Per person: the account where their partition now lives, balances from their home."""
    found: dict[str, Any] = {}
    for identifier in persons:
        document = support.person_documents(cluster.of_person(identifier), [identifier])
        home = cluster.ledgers[cluster.home_of(identifier).name]
        answered = support.person_documents(home, [identifier])[identifier]
        if document[identifier] is not None:
            document[identifier]["balances"] = answered and answered["balances"]
        found[identifier] = document[identifier]
    return found


def _later_message_reaches_the_survivor(cluster: Cluster, feed: list[dict[str, Any]]) -> None:
    """A message about an absorbed identifier split from its survivor by the move, posted to
    `serve` afterwards, is decided on the survivor's shard (as the consumers forward it)."""
    split = next(m for m in feed if m["type"] == "person.merged"
                 and cluster.map.shard_of(m["person"]) != cluster.map.shard_of(
                     m["data"]["absorbed"]))
    absorbed, survivor = split["data"]["absorbed"], split["person"]
    later = parse(json.dumps({
        "message_id": "after-move", "source": "dsn", "type": "employment.declared",
        "version": 1, "person": absorbed, "published_at": "2024-03-01T00:00:00+01:00",
        "data": {"employer": "12345678901234", "period_start": "2024-01-01",
                 "period_end": "2024-01-31", "hours_worked": "151.67"}}))
    service = ShardedService(cluster, ready_lag_max_events=0)
    try:
        [result] = service.ingest([later])
    finally:
        for shard_service in service.services.values():
            if shard_service.read_pool is not None:
                shard_service.read_pool.close()
    survivor_key = cluster.first.person_key(survivor)
    assert (result.outcome, result.person_key) == ("accepted", survivor_key)
    absorbed_shard = cluster.of_person(absorbed)
    assert not list(absorbed_shard.app.recorder.select_events(aggregate_id(survivor_key)))


def _project(ledger: Ledger) -> None:
    runner = Runner(ledger, live_names(ledger))
    runner.create()
    runner.catch_up()


def _statistics(url: str, path: Path | None, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """`cpa-ledger shards statistics` on the store or the map."""
    monkeypatch.setenv("CPA_DATABASE_URL", url)
    monkeypatch.setenv("CPA_PERSON_KEY_SECRET", SECRET)
    if path is None:
        monkeypatch.delenv("CPA_SHARD_MAP", raising=False)
    else:
        monkeypatch.setenv("CPA_SHARD_MAP", str(path))
    capsys.readouterr()
    assert main(["shards", "statistics", "--json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["rows"]
    assert rows
    return rows


def _move(path: Path, url: str, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    monkeypatch.setenv("CPA_DATABASE_URL", url)
    monkeypatch.setenv("CPA_PERSON_KEY_SECRET", SECRET)
    monkeypatch.delenv("CPA_SHARD_MAP", raising=False)
    capsys.readouterr()
    assert main(["shards", "move", "--to-map", str(path), "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_moving_half_the_partitions_to_a_new_database_changes_no_answer(
    postgres_server: PostgresServer, second_postgres_server: PostgresServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    first = support.fresh_schema(postgres_server.url, "move_old")
    second = support.fresh_schema(second_postgres_server.url, "move_new")
    feed = list(generate(DemoSettings(persons=PERSONS, seed=3)))
    persons = sorted({str(m["person"]) for m in feed if "person" in m}
                     | {str(m["data"]["absorbed"]) for m in feed if m["type"] == "person.merged"})
    with Ledger(_settings(first)) as store:
        _fill(store, feed)
        before = support.person_documents(store, persons)
        _project(store)
    path = _new_map(tmp_path, first, second)
    statistics = _statistics(first, None, monkeypatch, capsys)

    report = _move(path, first, monkeypatch, capsys)

    assert report["moved"] == {"default->s1": [4, 5, 6, 7]}
    assert 0 < report["persons"] < len(persons)
    assert report["relinked_merges"] > 0, "a merge is split by the move"
    with Cluster.open(_settings(first), load("", {"CPA_SHARD_MAP": str(path)})) as cluster:
        assert _documents(cluster, persons) == before
        positions = support.recorded_positions(cluster.ledgers["s1"], TOPIC, range(4, 8))
        assert positions == dict.fromkeys(range(4, 8), POSITION)
        rebuild(cluster.ledgers["s0"], ["statistics"])  # the old owner, as the procedure says
        _project(cluster.ledgers["s1"])
        assert _statistics(first, path, monkeypatch, capsys) == statistics, "counted once"
        _later_message_reaches_the_survivor(cluster, feed)
    again = _move(path, first, monkeypatch, capsys)
    assert (again["events"], again["outcomes"], again["positions"]) == (0, 0, 0)
    monkeypatch.setenv("CPA_SHARD_MAP", str(path))
    assert main(["shards", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["shard"], s["partitions"]) for s in listed["shards"]] == [
        ("s0", [0, 1, 2, 3]), ("s1", [4, 5, 6, 7])]
    assert all(s["events"] > 0 for s in listed["shards"])
    assert main(["shards", "verify", "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["ok"] and set(verified["shards"]) == {"s0", "s1"}
