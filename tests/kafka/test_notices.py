"""`cpa-ledger notices` sends its expiry notices to the outbound topic of a real broker, once
per day swept."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

import schemas
from tests.kafka import support
from tests.kafka.support import Names
from tests.test_notices import PERSON, feed

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_the_notices_command_sends_each_notice_once(kafka_bootstrap_servers: str,
                                                    postgres_url: str) -> None:
    kafka = kafka_bootstrap_servers
    names = Names.fresh("notices")
    support.create_topics(kafka, {names.postings: 1})
    database_url = support.fresh_schema(postgres_url, names.schema)
    ledger = support.ledger_at_secret(database_url)
    ledger.ingest([schemas.parse(orjson.dumps(m)) for m in feed()])
    key = ledger.person_key(PERSON)
    ledger.close()
    environment = support.consumer_environment(database_url, kafka, names)

    def sweep(on: str) -> None:
        done = subprocess.run([sys.executable, "-m", "ledger.cli", "notices", "--on", on],
                              env=environment, cwd=support.REPOSITORY, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr

    sweep("2026-01-15")
    sweep("2026-01-15")
    records = support.read_topic(kafka, names.postings)
    assert len(records) == 1
    body = orjson.loads(records[0].value)
    assert records[0].key == key.encode() and body["grant_id"] == "g1"
    assert support.header(records[0], "kind") == "topup_expiry_notice"
