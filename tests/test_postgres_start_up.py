"""Processes starting together on one PostgreSQL store all open it: eventsourcing's set-up
(types, tables, its insert function) and the ledger's migrations run one process at a time
(`ledger.postgres.START_UP_LOCK`). Three `project --part` processes started at once used to
fail now and then with "tuple concurrently updated" (two sessions replacing the insert
function at once). Consumers noting their first persons together on a new shard all create
the `person_partitions` table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from ledger.application import Ledger
from ledger.homes import PersonHomes
from ledger.postgres import START_UP_LOCK
from projections.parts import Part
from projections.runner import Runner, live_names
from tests.backends import Ledgers
from tests.support import ledger_at

pytestmark = pytest.mark.postgres

STARTING_TOGETHER = 4
# New stores on which consumers note their first persons together (the race shows in most).
HOMES_ROUNDS = 3
# A bound for a hang only (the wait ends as soon as the starting session waits for a lock).
LOCK_WAIT_DEADLINE_SECONDS = 30.0
LOCK_WAIT_POLL_SECONDS = 0.02


@pytest.fixture(scope="module")
def pg(postgres_url: str) -> Ledgers:
    return Ledgers("postgres", postgres_url)


class Opening(threading.Thread):
    """Opens a ledger on `url` (and runs `then` on it), keeping what went wrong."""

    def __init__(self, url: str, then: Callable[[Ledger], None] = lambda ledger: None,
                 barrier: threading.Barrier | None = None) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.then = then
        self.barrier = barrier
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.barrier is not None:
                self.barrier.wait()
            with ledger_at(self.url) as ledger:
                self.then(ledger)
        except BaseException as error:  # the test reports it
            self.error = error


def _errors(openings: list[Opening]) -> list[str]:
    return [f"{type(o.error).__name__}: {o.error}" for o in openings if o.error is not None]


def test_a_process_starting_during_another_ones_start_up_waits_then_opens(pg: Ledgers) -> None:
    url = pg.url()
    with ledger_at(url) as first:
        replace_function: Any = first.app.recorder.sql_create_pg_function_insert_events  # type: ignore[attr-defined]
    with psycopg.connect(pg.database_url or "", autocommit=True) as other, \
            psycopg.connect(pg.database_url or "", autocommit=True) as observer:
        # Another process in the middle of its start-up: it holds the lock and has replaced
        # the insert function, not committed yet.
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", (START_UP_LOCK,))
        other.execute("BEGIN")
        other.execute(replace_function)
        opening = Opening(url)
        opening.start()
        _wait_for_a_session_waiting_on_a_lock(observer)
        other.execute("COMMIT")
        other.execute("SELECT pg_advisory_unlock(hashtext(%s))", (START_UP_LOCK,))
        opening.join()
    assert _errors([opening]) == []


def test_processes_starting_together_on_a_new_store_all_open_it(pg: Ledgers) -> None:
    url = pg.url()
    barrier = threading.Barrier(STARTING_TOGETHER)
    openings = [Opening(url, _create_part(number), barrier)
                for number in range(1, STARTING_TOGETHER + 1)]
    for opening in openings:
        opening.start()
    for opening in openings:
        opening.join()
    assert _errors(openings) == []


def test_consumers_noting_their_first_persons_together_all_create_the_table(
        pg: Ledgers) -> None:
    errors: list[str] = []
    for _ in range(HOMES_ROUNDS):
        url = pg.url()
        ledgers = [ledger_at(url) for _ in range(STARTING_TOGETHER)]
        try:
            barrier = threading.Barrier(STARTING_TOGETHER)
            creating = [threading.Thread(target=_together, args=(
                barrier, PersonHomes(ledger).create, errors)) for ledger in ledgers]
            for thread in creating:
                thread.start()
            for thread in creating:
                thread.join()
        finally:
            for ledger in ledgers:
                ledger.close()
    assert errors == []


def _together(barrier: threading.Barrier, action: Callable[[], None],
              errors: list[str]) -> None:
    barrier.wait()
    try:
        action()
    except Exception as error:  # the test reports it
        errors.append(f"{type(error).__name__}: {error}")


def _create_part(number: int) -> Callable[[Ledger], None]:
    def create(ledger: Ledger) -> None:
        Runner(ledger, live_names(ledger), part=Part(number, STARTING_TOGETHER)).create()
    return create


def _wait_for_a_session_waiting_on_a_lock(observer: psycopg.Connection[Any]) -> None:
    """Until a session other than `observer` waits for a lock (`observer` in autocommit: the
    activity view is a snapshot taken once per transaction)."""
    deadline = time.monotonic() + LOCK_WAIT_DEADLINE_SECONDS
    while not observer.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'").fetchall():
        assert time.monotonic() < deadline, "the starting process never waited for a lock"
        time.sleep(LOCK_WAIT_POLL_SECONDS)


def test_snapshots_are_compressed_with_lz4(pg: Ledgers) -> None:
    url = pg.url()
    with ledger_at(url) as ledger:
        assert ledger.app.snapshots is not None
        recorder: Any = ledger.app.snapshots.recorder
        table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
    with ledger_at(url):  # a second start finds it set
        pass
    with psycopg.connect(pg.database_url or "", autocommit=True) as connection:
        row = connection.execute("SELECT attcompression FROM pg_attribute WHERE attrelid ="
                                 " %s::regclass AND attname = 'state'", (table,)).fetchone()
    assert row == ("l",)
