"""Expiry notices: a sweep sends one record per active top-up with something left that expires
within 90 days and became due since the last sweep, then records the day; on both backends,
with a producer that keeps what it is sent (tests/kafka/test_notices.py uses the broker)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from consumers.notices import NOTICE_KIND, NoticeSweep
from tests.backends import Ledgers
from tests.http import feeds
from tests.support import Feed, identifier, ingest

PERSON = identifier("A")
OTHER = identifier("B")
TOPIC = "postings"


class Kept:
    """A producer that confirms everything and keeps it."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, dict[str, Any], dict[str, bytes]]] = []

    def send(self, topic: str, key: bytes, value: bytes,
             headers: list[tuple[str, bytes]]) -> Any:
        self.records.append((topic, key, orjson.loads(value), dict(headers)))
        return self

    def get(self, timeout: float | None = None) -> None:
        return None

    def flush(self, timeout: float | None = None) -> None:
        return None


def feed() -> list[dict[str, Any]]:
    made = Feed("n")
    return [
        *feeds.career(made, PERSON, range(2024, 2026)),
        feeds.topup(made, PERSON, 1, "300.00", granted_on="2025-06-02", expires_on="2026-03-31"),
        feeds.topup(made, PERSON, 2, "100.00", granted_on="2025-06-03", expires_on="2026-06-30"),
        feeds.topup(made, PERSON, 3, "50.00", granted_on="2025-06-04"),  # never expires
        feeds.topup(made, OTHER, 4, "80.00", granted_on="2026-02-01", expires_on="2026-02-28"),
    ]


@pytest.fixture
def ledger(ledgers: Ledgers) -> Any:
    made = ledgers.new()
    assert {r.outcome for r in ingest(made, feed())} == {"accepted"}
    yield made
    made.close()


def _notices(producer: Kept) -> list[tuple[str, str]]:
    return sorted((body["grant_id"], body["expires_on"]) for _, _, body, _ in producer.records)


def test_a_sweep_sends_what_expires_within_90_days_then_only_what_became_due(
        ledger: Any) -> None:
    producer = Kept()
    sweep = NoticeSweep(ledger, producer, TOPIC)
    assert sweep.run(dt.date(2026, 1, 15)) == 1
    assert _notices(producer) == [("g1", "2026-03-31")]
    _, key, body, headers = producer.records[0]
    assert key == ledger.person_key(PERSON).encode()
    assert body["kind"] == NOTICE_KIND and body["balance"] == "300.00" and body["unit"] == "EUR"
    assert body["days_left"] == 75 and headers["event-id"] == body["event_id"].encode()
    assert sweep.run(dt.date(2026, 1, 15)) == 0  # that day is swept
    assert sweep.run(dt.date(2026, 2, 1)) == 1  # granted that day, expires within 90 days
    assert _notices(producer)[-1] == ("g4", "2026-02-28")
    assert sweep.run(dt.date(2026, 3, 31)) == 0  # g2's notice day is 1 April
    assert sweep.run(dt.date(2026, 4, 1)) == 1
    assert _notices(producer) == [("g1", "2026-03-31"), ("g2", "2026-06-30"),
                                  ("g4", "2026-02-28")]
    assert {topic for topic, _, _, _ in producer.records} == {TOPIC}


def test_a_first_sweep_catches_up_and_skips_what_expired(ledger: Any) -> None:
    producer = Kept()
    assert NoticeSweep(ledger, producer, TOPIC).run(dt.date(2026, 4, 15)) == 1
    assert _notices(producer) == [("g2", "2026-06-30")]
