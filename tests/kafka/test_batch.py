"""The pure parts of the Kafka shell, without a broker: cutting batches into transactions,
positions, dead-letter headers and the attribution of recorded outcomes in a recovery range."""

from __future__ import annotations

import urllib.request
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import OperationalError, ProgrammingError
from kafka.errors import KafkaTimeoutError

from consumers import limits
from consumers.batch import (
    InboundRecord,
    first_offsets,
    is_year_close,
    ledger_key,
    next_offsets,
    parse,
    transactions,
    unseen,
)
from consumers.deadletters import (
    HEADER_NAMES,
    DeadLetter,
    RecoveryMismatch,
    attribute,
    dead_letters,
)
from consumers.failures import backoff_s, is_transient
from consumers.metrics import Metrics, serve
from consumers.positions import Stored
from deploy.local.kafka import free_ports
from ledger.batch import Result
from ledger.outcomes import MessageOutcome, Reason
from ledger.postgres import TrackingResultLost
from ledger.storage import Receipt
from tests.support import Feed

TOPIC = "cpa.feed.v1"


def _records(messages: list[Any], partition: int = 0, first: int = 0) -> list[InboundRecord]:
    return [InboundRecord(TOPIC, partition, first + index, b"key",
                          m if isinstance(m, bytes) else orjson.dumps(m))
            for index, m in enumerate(messages)]


def _receipt(key: tuple[str, str], outcome: str, reason: str | None = None) -> Receipt:
    return Receipt.stored(key[0], key[1], "d", outcome, reason, f"{outcome} {reason}", None,
                          None, "t", None)


def test_a_year_close_is_a_transaction_of_its_own() -> None:
    feed = Feed()
    messages = [feed.employment(2020, "800"), feed.close(2020), feed.employment(2021, "800"),
                feed.employment(2021, "900", person="B"), feed.close(2021)]
    runs = list(transactions(parse(_records(messages))))
    assert [len(run) for run in runs] == [1, 1, 2, 1]
    assert [is_year_close(run[0]) for run in runs] == [False, True, False, True]


def test_a_batch_without_close_is_one_transaction() -> None:
    feed = Feed()
    runs = list(transactions(parse(_records([feed.employment(2020, "800") for _ in range(5)]))))
    assert [len(run) for run in runs] == [5]


def test_positions_are_the_offset_after_each_partitions_last_record() -> None:
    feed = Feed()
    entries = parse(_records([feed.employment(2020, "1")] * 2, partition=0, first=7)
                    + _records([feed.employment(2020, "1")] * 3, partition=2, first=40))
    assert next_offsets(entries) == {(TOPIC, 0): 9, (TOPIC, 2): 43}
    assert first_offsets(entries) == {(TOPIC, 0): 7, (TOPIC, 2): 40}


def test_undecodable_records_are_named_by_their_place() -> None:
    records = _records([b"not json", b"[1]"], partition=3, first=12)
    entries = parse([*records, InboundRecord(TOPIC, 3, 14, None, None)])
    assert [ledger_key(entry) for entry in entries] == [
        (f"kafka:{TOPIC}", "3:12"), (f"kafka:{TOPIC}", "3:13"), (f"kafka:{TOPIC}", "3:14")]
    assert {entry.item.reason for entry in entries} == {"malformed"}  # type: ignore[union-attr]


def test_a_readable_id_names_the_record_even_when_rejected() -> None:
    feed = Feed()
    bad = feed.message("employment.declared", {"employer": "1"}, message_id="bad-1")
    (entry,) = parse(_records([bad]))
    assert ledger_key(entry) == ("dsn", "bad-1")


def test_records_before_the_position_or_of_unpositioned_partitions_are_dropped() -> None:
    records = _records([b"{}"] * 4, partition=0, first=10) + _records([b"{}"], partition=1)
    kept = unseen(records, {(TOPIC, 0): 12})
    assert [record.offset for record in kept] == [12, 13]
    assert unseen(records, {(TOPIC, 1): None}) == records[4:]


def test_dead_letters_are_the_rejected_records_with_their_five_headers() -> None:
    entries = parse(_records([b"x", b"y"], partition=5, first=99))
    results = [Result(MessageOutcome.REJECTED, Reason.MALFORMED, "not JSON", None, None),
               Result(MessageOutcome.ACCEPTED, None, "", "s", "m")]
    (letter,) = dead_letters(zip(entries, results, strict=True))
    assert dict(letter.headers()) == {
        "reason": b"malformed", "detail": b"not JSON", "source-topic": TOPIC.encode(),
        "source-partition": b"5", "source-offset": b"99"}
    assert [name for name, _ in letter.headers()] == list(HEADER_NAMES)


def test_the_detail_header_is_bounded() -> None:
    record = InboundRecord(TOPIC, 0, 0, None, b"")
    letter = DeadLetter(record, "r", "é" * limits.DETAIL_HEADER_MAX_BYTES)
    assert len(dict(letter.headers())["detail"]) == limits.DETAIL_HEADER_MAX_BYTES


def test_attribution_pairs_each_record_with_its_own_outcome() -> None:
    feed = Feed()
    first, again = feed.employment(2020, "1"), feed.employment(2020, "2")
    entries = parse(_records([first, b"junk", again], first=50))
    key, junk = ledger_key(entries[0]), ledger_key(entries[1])
    history = {key: [_receipt(key, "accepted")], junk: [_receipt(junk, "rejected", "malformed")],
               ledger_key(entries[2]): [_receipt(ledger_key(entries[2]), "accepted")]}
    pairs = attribute(entries, history)
    assert [(entry.record.offset, receipt.outcome) for entry, receipt in pairs] == [
        (50, "accepted"), (51, "rejected"), (52, "accepted")]


def test_attribution_takes_a_keys_last_arrivals() -> None:
    """Arrived before the range as rejected; in the range twice: a duplicate, then a
    conflicting duplicate (rejected). Only the last goes to the dead letters."""
    feed = Feed()
    message = feed.employment(2020, "1")
    changed = {**message, "data": {**message["data"], "hours_worked": "2"}}
    entries = parse(_records([message, changed], first=8))
    key = ledger_key(entries[0])
    history = {key: [_receipt(key, "rejected", "insufficient_rights"),
                     _receipt(key, "duplicate"),
                     _receipt(key, "rejected", "conflicting_duplicate")]}
    letters = dead_letters(attribute(entries, history))
    assert [(letter.record.offset, letter.reason) for letter in letters] == [
        (9, "conflicting_duplicate")]


def test_a_range_with_more_records_than_outcomes_is_a_broken_invariant() -> None:
    entries = parse(_records([b"junk"]))
    with pytest.raises(RecoveryMismatch):
        attribute(entries, {})


def test_the_recovery_range_lies_between_the_watermark_and_the_position() -> None:
    assert Stored(recorded=None, dead_letters=None).recovery_range() is None
    assert Stored(recorded=40, dead_letters=40).recovery_range() is None
    assert Stored(recorded=40, dead_letters=25).recovery_range() == (25, 40)
    assert Stored(recorded=40, dead_letters=None).recovery_range() is None


def test_backoff_doubles_up_to_its_bound() -> None:
    waits = [backoff_s(attempt) for attempt in range(1, limits.RECOVERY_ATTEMPTS_MAX + 1)]
    assert waits[0] == limits.RECOVERY_BACKOFF_FIRST_S
    assert waits[1] == 2 * limits.RECOVERY_BACKOFF_FIRST_S
    assert max(waits) == limits.RECOVERY_BACKOFF_MAX_S
    assert waits == sorted(waits)


def test_metrics_render_as_prometheus_text() -> None:
    metrics = Metrics(buckets_s=(0.1, 1.0))
    metrics.batch_recorded(["accepted", "accepted", "rejected"], 0.5)
    metrics.set_lag((TOPIC, 1), 7)
    text = metrics.prometheus()
    assert 'cpa_consumer_messages_total{outcome="accepted"} 2' in text
    assert 'cpa_consumer_batch_seconds_bucket{le="0.1"} 0' in text
    assert 'cpa_consumer_batch_seconds_bucket{le="1.0"} 1' in text
    assert f'cpa_consumer_lag_records{{topic="{TOPIC}",partition="1"}} 7' in text
    assert metrics.snapshot()["lag"] == {f"{TOPIC}:1": 7}


def test_metrics_are_served_on_their_port() -> None:
    metrics = Metrics()
    metrics.batch_recorded(["duplicate"], 0.01)
    port = free_ports(1)[0]
    server = serve(metrics, port, host="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'cpa_consumer_messages_total{outcome="duplicate"} 1' in body


def test_only_operating_errors_are_retried() -> None:
    assert is_transient(OperationalError("couldn't get a connection after 10.00 sec"))
    assert is_transient(KafkaTimeoutError("metadata"))
    assert is_transient(TrackingResultLost(
        "the last operation didn't produce records (command status: INSERT 0 1)"))
    assert not is_transient(ProgrammingError(
        "the last operation didn't produce records (command status: INSERT 0 1)"))
    assert not is_transient(ProgrammingError('relation "message_outcomes" does not exist'))
    assert not is_transient(RecoveryMismatch("2 records but 1 outcome"))
    assert not is_transient(ValueError("a bug"))
