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
from ledger.homes import PersonHomes
from ledger.shards import load
from ledger.storage import BatchRecords
from schemas import Message, parse
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
    """Ingest as the consumer would: homes noted before each batch, then positions."""
    homes = PersonHomes(ledger)
    for start in range(0, len(feed), CHUNK_MESSAGES):
        items = [parse(json.dumps(m)) for m in feed[start:start + CHUNK_MESSAGES]]
        homes.note({i.person for i in items if isinstance(i, Message) and i.person})
        ledger.ingest(items)
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
    path = _new_map(tmp_path, first, second)

    report = _move(path, first, monkeypatch, capsys)

    assert report["moved"] == {"default->s1": [4, 5, 6, 7]}
    assert 0 < report["persons"] < len(persons)
    assert report["relinked_merges"] > 0, "a merge is split by the move"
    with Cluster.open(_settings(first), load("", {"CPA_SHARD_MAP": str(path)})) as cluster:
        assert _documents(cluster, persons) == before
        positions = support.recorded_positions(cluster.ledgers["s1"], TOPIC, range(4, 8))
        assert positions == dict.fromkeys(range(4, 8), POSITION)
    again = _move(path, first, monkeypatch, capsys)
    assert (again["events"], again["outcomes"], again["positions"]) == (0, 0, 0)
