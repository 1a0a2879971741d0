"""`cpa-ledger consume` against the real broker and PostgreSQL: poison messages end in the
dead-letter topic and everything around them is applied; dead letters survive a crash on
either side of their send; SIGTERM finishes the batch; positions come from the database."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

import schemas
from consumers.deadletters import DeadLetter, DeadLetterSender
from consumers.loop import InboundLoop
from ledger.application import Ledger
from ledger.demo import DemoSettings, generate
from tests.kafka import support
from tests.kafka.support import Names

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

FEED_PARTITIONS = 4
DEAD_LETTER_PARTITIONS = 2
POISON_EVERY_MESSAGES = 40
RECORDED_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 30.0
THREAD_JOIN_TIMEOUT_S = 60.0
OVERSIZED_PADDING_BYTES = schemas.MESSAGE_SIZE_MAX_BYTES + 1_000


class Crash(BaseException):
    """Stands for SIGKILL at one precise point: nothing after it runs (not even `close`)."""


def _demo(persons: int, seed: int) -> list[dict[str, Any]]:
    """A demo feed without year closes (so that any interleaving of partitions decides the
    same as file order: see test_crashes for feeds with closes)."""
    return [m for m in generate(DemoSettings(persons=persons, seed=seed))
            if m["type"] != "accrual.year.closed"]


def _keyed(messages: Sequence[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
    return [(str(m["person"]).encode(), orjson.dumps(m)) for m in messages]


def _poison(model: dict[str, Any], number: int) -> tuple[str, bytes | None, bool]:
    """The n-th poison message, made from a valid one: the reason it must be refused for, its
    bytes, and whether its (source, message_id) stays readable (else it is named by place)."""
    kind = number % 7
    if kind == 0:
        return "malformed", b"{this is not JSON", False
    if kind == 1:
        return "malformed", b'["an", "array"]', False
    if kind == 2:
        return "malformed", None, False  # a tombstone: no value at all
    changed = {**model, "message_id": f"poison-{number}"}
    if kind == 3:
        changed["data"] = {**model["data"], "unexpected": 1}
        return "schema_violation", orjson.dumps(changed), True
    if kind == 4:
        person = str(model["person"])
        changed["person"] = person[:13] + f"{(int(person[13:]) + 1) % 100:02d}"
        return "invalid_person", orjson.dumps(changed), True
    if kind == 5:
        changed["type"] = "salary.paid"
        return "unknown_type", orjson.dumps(changed), True
    changed["data"] = {**model["data"], "padding": "x" * OVERSIZED_PADDING_BYTES}
    return "oversized", orjson.dumps(changed), False


@dataclass(frozen=True)
class Poison:
    reason: str
    key: tuple[str, str] | None  # its (source, message_id) when readable


def _with_poison(
    valid: Sequence[dict[str, Any]],
) -> tuple[list[tuple[bytes | None, bytes | None]], dict[int, Poison]]:
    """The valid messages with a poison one after every POISON_EVERY_MESSAGES, keyed like its
    neighbour (same partition); the poison ones by index."""
    records: list[tuple[bytes | None, bytes | None]] = []
    poison: dict[int, Poison] = {}
    numbers = itertools.count()
    for index, message in enumerate(valid):
        records.append((str(message["person"]).encode(), orjson.dumps(message)))
        if index % POISON_EVERY_MESSAGES == POISON_EVERY_MESSAGES - 1:
            number = next(numbers)
            reason, value, readable = _poison(dict(message), number)
            key = (str(message["source"]), f"poison-{number}") if readable else None
            poison[len(records)] = Poison(reason, key)
            records.append((str(message["person"]).encode(), value))
    return records, poison


def _prepare(kafka: str, postgres_url: str, label: str) -> tuple[Names, str, Ledger]:
    names = Names.fresh(label)
    support.create_topics(kafka, {names.feed: FEED_PARTITIONS,
                                  names.dead_letters: DEAD_LETTER_PARTITIONS})
    database_url = support.fresh_schema(postgres_url, names.schema)
    return names, database_url, support.ledger_at_secret(database_url)


def _reference(messages: Sequence[dict[str, Any]]) -> Ledger:
    """The same valid messages ingested in file order, in memory."""
    ledger = support.ledger_at_secret("sqlite:///:memory:")
    ledger.ingest([schemas.parse(orjson.dumps(m)) for m in messages])
    return ledger


def test_poison_messages_go_to_the_dead_letters_and_the_rest_is_applied(
    kafka_bootstrap_servers: str, postgres_url: str, tmp_path: Path
) -> None:
    kafka = kafka_bootstrap_servers
    names, database_url, ledger = _prepare(kafka, postgres_url, "poison")
    valid = _demo(persons=40, seed=11)
    records, poison = _with_poison(valid)
    client = support.producer(kafka)
    placed = support.produce(client, names.feed, records)  # type: ignore[arg-type]
    client.close()
    process = support.start_cli("consume", support.consumer_environment(
        database_url, kafka, names), tmp_path / "consume.log")
    try:
        support.wait_recorded(ledger, names.feed, support.end_offsets(kafka, names.feed),
                              RECORDED_TIMEOUT_S)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(EXIT_TIMEOUT_S) == 0
    letters = support.deduplicated(support.read_topic(kafka, names.dead_letters))
    reference = _reference(valid)
    _check_poison(names, records, placed, poison, letters, ledger)
    _check_valid(valid, ledger, reference, letters, placed, poison, records)
    ledger.close()
    reference.close()


def _check_poison(names: Names, records: Sequence[tuple[bytes | None, bytes | None]],
                  placed: list[tuple[int, int]], poison: dict[int, Poison],
                  letters: dict[tuple[int, int], Any], ledger: Ledger) -> None:
    outcomes = support.outcomes(ledger)
    assert len(poison) >= 7 * 3, "every kind of poison, several times"
    for index, expected in poison.items():
        partition, offset = placed[index]
        letter = letters[(partition, offset)]
        assert support.header(letter, "reason") == expected.reason
        assert support.header(letter, "detail")
        assert support.header(letter, "source-topic") == names.feed
        assert int(support.header(letter, "source-partition")) == partition
        assert int(support.header(letter, "source-offset")) == offset
        assert (letter.key, letter.value) == records[index], "original bytes, unchanged"
        key = expected.key or (f"kafka:{names.feed}", f"{partition}:{offset}")
        assert outcomes[key][1:3] == ("rejected", expected.reason), (index, expected)


def _check_valid(valid: Sequence[dict[str, Any]], ledger: Ledger, reference: Ledger,
                 letters: dict[tuple[int, int], Any], placed: list[tuple[int, int]],
                 poison: dict[int, Poison],
                 records: Sequence[tuple[bytes | None, bytes | None]]) -> None:
    ours, theirs = support.outcomes(ledger), support.outcomes(reference)
    assert {key: ours[key] for key in theirs} == theirs, "every valid message decided alike"
    indexes = {place: index for index, place in enumerate(placed)}
    business = [orjson.loads(records[indexes[place]][1] or b"") for place in letters
                if indexes[place] not in poison]
    rejected = {key for key, row in theirs.items() if row[1] == "rejected"}
    assert {(m["source"], m["message_id"]) for m in business} == rejected, \
        "business rejections go to the dead letters too"
    persons = sorted({str(m["person"]) for m in valid})
    assert support.person_documents(ledger, persons) == \
        support.person_documents(reference, persons)
    assert support.repeat_count(ledger) == 0


class CrashBeforeSending(DeadLetterSender):
    def send(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            raise Crash("after the batch committed, before its dead letters were sent")


class CrashAfterSending(DeadLetterSender):
    def send(self, letters: Sequence[DeadLetter]) -> None:
        super().send(letters)
        if letters:
            raise Crash("after the dead letters were confirmed, before the watermark")


def _run(loop: InboundLoop, done: Callable[[], bool]) -> BaseException | None:
    """Run the loop on a thread until `done()` or until it dies; what killed it, if anything."""
    stopping = threading.Event()
    died: list[BaseException] = []

    def target() -> None:
        try:
            loop.run(stopping)
        except BaseException as error:
            died.append(error)

    thread = threading.Thread(target=target, name="inbound-loop")
    thread.start()
    deadline = time.monotonic() + RECORDED_TIMEOUT_S
    while thread.is_alive() and not done():
        assert time.monotonic() < deadline, "the loop neither finished nor died"
        time.sleep(support.WAIT_POLL_INTERVAL_S)
    stopping.set()
    thread.join(THREAD_JOIN_TIMEOUT_S)
    if died:  # a crash leaves its clients open: release them as the kernel would
        loop.consumer.close(autocommit=False)
        loop.sender.close()
    return died[0] if died else None


@pytest.mark.parametrize("sender_class", [CrashBeforeSending, CrashAfterSending])
def test_dead_letters_survive_a_crash_around_their_send(
    kafka_bootstrap_servers: str, postgres_url: str, sender_class: type[DeadLetterSender]
) -> None:
    kafka = kafka_bootstrap_servers
    names, _, ledger = _prepare(kafka, postgres_url, "crashdlq")
    records, poison = _with_poison(_demo(persons=8, seed=4)[:200])
    client = support.producer(kafka)
    placed = support.produce(client, names.feed, records)  # type: ignore[arg-type]
    client.close()
    ends = support.end_offsets(kafka, names.feed)
    settings = support.kafka_settings(kafka, names)
    crashed = _run(support.in_process_loop(ledger, settings, sender_class), lambda: False)
    assert isinstance(crashed, Crash)
    assert support.recorded_positions(ledger, names.feed, ends) != dict.fromkeys(ends, 0)
    recovered = support.in_process_loop(ledger, settings)
    assert _run(recovered, lambda: _caught_up(ledger, names.feed, ends)) is None
    raw = support.read_topic(kafka, names.dead_letters)
    letters = support.deduplicated(raw)
    rejected = {key for key, row in support.outcomes(ledger).items() if row[1] == "rejected"}
    assert len(letters) == len(rejected)
    assert {placed[index] for index in poison} <= set(letters)
    if sender_class is CrashBeforeSending:
        assert len(raw) == len(letters), "nothing was sent before the crash"
    assert recovered.metrics.counters["recoveries"] >= 1
    assert support.repeat_count(ledger) == 0
    ledger.close()


def _caught_up(ledger: Ledger, topic: str, ends: dict[int, int]) -> bool:
    positions = support.recorded_positions(ledger, topic, ends)
    return all(positions[n] >= end for n, end in ends.items())


def test_sigterm_finishes_the_batch_and_positions_come_from_the_database(
    kafka_bootstrap_servers: str, postgres_url: str, tmp_path: Path
) -> None:
    kafka = kafka_bootstrap_servers
    names, database_url, ledger = _prepare(kafka, postgres_url, "sigterm")
    messages = _demo(persons=300, seed=21)
    first, more = messages[:-500], messages[-500:]
    client = support.producer(kafka)
    support.produce(client, names.feed, _keyed(first))
    ends = support.end_offsets(kafka, names.feed)
    # Dynamic membership: the stopped member leaves the group, so offsets can be committed.
    environment = support.consumer_environment(database_url, kafka, names, instance=None)
    log_path = tmp_path / "consume.log"
    process = support.start_cli("consume", environment, log_path)
    while sum(support.recorded_positions(ledger, names.feed, ends).values()) == 0:
        assert process.poll() is None, log_path.read_text()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(EXIT_TIMEOUT_S) == 0
    assert '"event":"metrics"' in log_path.read_text()
    stopped_at = sum(support.recorded_positions(ledger, names.feed, ends).values())
    assert 0 < stopped_at < sum(ends.values()), "stopped mid-backlog, between batches"
    _commit_offsets(kafka, names, dict.fromkeys(ends, 0))  # a misleading hint: must be ignored
    support.produce(client, names.feed, _keyed(more))
    client.close()
    process = support.start_cli("consume", environment, log_path)
    try:
        support.wait_recorded(ledger, names.feed, support.end_offsets(kafka, names.feed),
                              RECORDED_TIMEOUT_S)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(EXIT_TIMEOUT_S) == 0
    assert len(support.outcomes(ledger)) == len(messages)
    assert support.repeat_count(ledger) == 0, "nothing before the stored positions again"
    ledger.close()


def _commit_offsets(kafka: str, names: Names, offsets: dict[int, int]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=names.group,
                             enable_auto_commit=False, client_id="cpa-tests-committer")
    try:
        partitions = {TopicPartition(names.feed, n): OffsetAndMetadata(o, "", -1)
                      for n, o in offsets.items()}
        consumer.assign(list(partitions))
        consumer.commit(partitions)
    finally:
        consumer.close(autocommit=False)


def test_a_missing_dead_letter_topic_stops_the_consumer_at_once_with_its_name(
    kafka_bootstrap_servers: str, postgres_url: str, tmp_path: Path
) -> None:
    names = Names.fresh("notopic")
    support.create_topics(kafka_bootstrap_servers, {names.feed: 1})
    database_url = support.fresh_schema(postgres_url, names.schema)
    log_path = tmp_path / "consume.log"
    process = support.start_cli("consume", support.consumer_environment(
        database_url, kafka_bootstrap_servers, names, instance=None), log_path)
    assert process.wait(EXIT_TIMEOUT_S) == 1
    assert f"Kafka topics missing (create them first): {names.dead_letters}" in \
        log_path.read_text()
