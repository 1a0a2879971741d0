"""The naive peer: plain `eventsourcing`, one get + mutate + save per message.

A minimal application of its own, written as the framework's documentation teaches: one
aggregate per person (the calendar of closed years is one more), loaded by replaying all of its
events (no snapshots, no cache), one event per message carrying the message's fields, saved in
its own transaction. It decides nothing (no rules, no outcome rows, no idempotency check): it
flatters the naive peer, whose figure is therefore an upper bound of what that design gives.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any, cast

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

import schemas
from ledger import postgres
from ledger.application import Item
from ledger.demo import DemoSettings, generate
from ledger.identity import aggregate_id, person_key
from schemas import Message
from tests.bench.bench_postgres import Progress, Rate, Stopwatch

CALENDAR_ID = uuid.UUID("00000000-0000-0000-0000-0000000ca1e0")
NAIVE_SECRET = b"naive-peer-person-key-secret"
NAIVE_SETTINGS = ("POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_PORT",
                  "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_SCHEMA")


class NaivePerson(Aggregate):
    """Everything a person was sent, counted by type."""

    class Registered(Aggregate.Created):
        person_key: str

    def __init__(self, person_key: str) -> None:
        self.person_key = person_key
        self.received: dict[str, int] = {}

    class Received(Aggregate.Event):
        source: str
        message_id: str
        message_type: str
        published_on: str
        data: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            person = cast(NaivePerson, aggregate)
            person.received[self.message_type] = person.received.get(self.message_type, 0) + 1

    def receive(self, message: Message) -> None:
        self.trigger_event(self.Received, source=str(message.source),
                           message_id=str(message.message_id), message_type=message.type,
                           published_on=str(message.published_on),
                           data=dict(message.data))


class NaiveApplication(Application[uuid.UUID]):
    """eventsourcing's Application with its default recorder, transcoder and settings."""

    def receive(self, message: Message) -> None:
        """One message: get the aggregate (replaying all its events), mutate, save."""
        if message.person is None:
            self._receive_as(CALENDAR_ID, "calendar", message)
            return
        key = person_key(message.person, NAIVE_SECRET)
        self._receive_as(aggregate_id(key), key, message)

    def _receive_as(self, identifier: uuid.UUID, key: str, message: Message) -> None:
        try:
            person = cast(NaivePerson, self.repository.get(identifier))
        except AggregateNotFoundError:
            person = NaivePerson._create(NaivePerson.Registered, id=identifier, person_key=key)
        person.receive(message)
        self.save(person)


def naive_environment(database_url: str) -> dict[str, str]:
    """Where the project's store is, with eventsourcing's defaults for everything else (its
    own recorder, pool size, no pre-ping, no session timeouts)."""
    environment = postgres.database_environment(database_url)
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres",
            **{name: environment[name] for name in NAIVE_SETTINGS}}


def first_items(persons: int, seed: int, count: int) -> Iterator[Item]:
    feed = generate(DemoSettings(persons=persons, seed=seed))
    return (schemas.parse(orjson.dumps(message)) for message in itertools.islice(feed, count))


def record_naive(database_url: str, persons: int, seed: int, count: int) -> Rate:
    """The first `count` messages of the demo feed, parsed first, then one by one (timed)."""
    messages = [item for item in first_items(persons, seed, count) if isinstance(item, Message)]
    app = NaiveApplication(env=naive_environment(database_url))
    progress = Progress("naive peer, messages")
    try:
        with Stopwatch() as recording:
            for message in messages:
                app.receive(message)
                progress.update(1)
        events = int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()
    return Rate("naive", len(messages), events, recording.seconds)
