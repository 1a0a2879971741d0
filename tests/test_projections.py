"""The PostgreSQL read models against a real server: they answer exactly what the in-process
computation answers, survive SIGKILL at any point, rebuild without a failed or half-built read,
replay as known at a time, and `verify` names a tampered event."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import PersistenceError
from hypothesis import given, settings

import schemas
from ledger.application import Ledger
from ledger.demo import DemoSettings, generate
from projections.operations import rebuild, replay, verify
from projections.parts import WHOLE, Part
from projections.reader import Reader
from projections.runner import Runner, live_names
from projections.tables import TableReader
from tests.backends import Ledgers
from tests.strategies import PERSONS, careers
from tests.support import ManualClock, identifier, ingest, ledger_at

pytestmark = pytest.mark.postgres

AS_OF_DAYS = ("2016-06-30", "2018-12-31", "2019-01-01", "2022-06-30", "2030-01-01")
KILL_ROUNDS = 12
KILL_DEADLINE_SECONDS = 120
KILL_WITHIN_SECONDS = 0.5  # after a committed page: about the time of one page here
PROGRESS_POLL_SECONDS = 0.05


@pytest.fixture(scope="module")
def pg(postgres_url: str) -> Ledgers:
    return Ledgers("postgres", postgres_url)


def _project(ledger: Ledger) -> Runner:
    runner = Runner(ledger, live_names(ledger))
    runner.create()
    runner.catch_up()
    return runner


def _demo(ledger: Ledger, persons: int, seed: int = 5) -> list[str]:
    messages = list(generate(DemoSettings(persons=persons, seed=seed)))
    for start in range(0, len(messages), 2_000):
        ledger.ingest([schemas.parse(orjson.dumps(m)) for m in messages[start:start + 2_000]])
    return sorted({str(m["person"]) for m in messages if "person" in m})


def _same_answers(ledger: Ledger, persons: list[str]) -> None:
    embedded, tables = Reader(ledger), TableReader(ledger)
    for person in persons:
        for day in AS_OF_DAYS:
            as_of = dt.date.fromisoformat(day)
            assert tables.balance(person, as_of) == embedded.balance(person, as_of), (person, day)
        assert tables.statement(person) == embedded.statement(person), person


@settings(max_examples=20)
@given(careers())
def test_tables_answer_what_the_events_say(pg: Ledgers, feed: list[dict[str, Any]]) -> None:
    ledger = pg.new()
    try:
        ingest(ledger, feed)
        _project(ledger)
        _same_answers(ledger, [identifier(person) for person in PERSONS])
        for person in PERSONS:
            for year in (2017, 2019, 2023):
                left = TableReader(ledger).explain(identifier(person), year)
                right = Reader(ledger).explain(identifier(person), year)
                assert left["status"] == right["status"]
                assert left["settlements"] == right["settlements"]
    finally:
        ledger.close()


def test_demo_careers_answer_the_same_and_verify(pg: Ledgers) -> None:
    ledger = pg.new()
    try:
        persons = _demo(ledger, 150)
        _project(ledger)
        _same_answers(ledger, persons)
        verdict = verify(ledger)
        assert verdict.ok, verdict.difference
        assert verdict.checked_events == ledger.app.recorder.max_notification_id()
    finally:
        ledger.close()


def test_known_at_is_a_query(pg: Ledgers) -> None:
    clock = ManualClock()
    ledger = pg.new(clock)
    try:
        persons = _demo(ledger, 30, seed=8)
        _project(ledger)
        middle = clock.advance(1)
        clock.advance(1)
        _demo(ledger, 30, seed=9)
        _project(ledger)
        for person in persons[:10]:
            for day in ("2019-01-01", "2030-01-01"):
                as_of = dt.date.fromisoformat(day)
                assert TableReader(ledger).balance(person, as_of, middle) == \
                    Reader(ledger).balance(person, as_of, middle)
    finally:
        ledger.close()


def test_a_tampered_event_is_named_by_verify(pg: Ledgers) -> None:
    ledger = pg.new()
    try:
        _demo(ledger, 20)
        _project(ledger)
        assert verify(ledger).ok
        target = _tamper(ledger)
        verdict = verify(ledger)
        assert not verdict.ok
        assert verdict.difference is not None
        assert f"event {target} " in verdict.difference
    finally:
        ledger.close()


def _tamper(ledger: Ledger) -> int:
    """Change one byte of one stored event (a digit of an amount)."""
    datastore: Any = ledger.app.recorder.datastore  # type: ignore[attr-defined]
    table = f'"{datastore.schema}".cpa_ledger_events'
    with datastore.transaction(commit=True) as curs:
        curs.execute(f"SELECT notification_id, state FROM {table} WHERE position("
                     "'\"amount\":' in convert_from(state, 'UTF8')) > 0"
                     " ORDER BY notification_id LIMIT 1 OFFSET 25")
        row = curs.fetchone()
        state = bytes(row["state"])
        at = state.index(b'"amount":') + len(b'"amount":')
        if state[at:at + 1] == b"-":
            at += 1
        changed = state[:at] + bytes([48 + (state[at] - 47) % 10]) + state[at + 1:]
        curs.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s",
                     (changed, row["notification_id"]))
        return int(row["notification_id"])


def _dump(ledger: Ledger) -> dict[str, list[Any]]:
    """Every read-model table's content, for comparing two runs."""
    datastore: Any = ledger.app.recorder.datastore  # type: ignore[attr-defined]
    tables = ("postings", "accounts", "account_history", "closed_years", "running_balances",
              "accruals", "audit_chain", "person_chain", "statistics")
    dump = {}
    with datastore.transaction(commit=False) as curs:
        for table in tables:
            curs.execute(f'SELECT * FROM "{datastore.schema}".{table}')
            # Sorted whole rows, not an ORDER BY on leading columns: rows that tie on those
            # (statistics' measures of one year, account and unit) come back in heap order,
            # which differs between a store updated in place and a fresh one.
            dump[table] = sorted((tuple(row.values()) for row in curs.fetchall()), key=repr)
    return dump


def test_project_killed_at_random_points_ends_identical(pg: Ledgers) -> None:
    url = pg.url()
    ledger = ledger_at(url)
    try:
        _demo(ledger, 250, seed=11)
        head = ledger.app.recorder.max_notification_id() or 0
        environment = {**os.environ, "CPA_DATABASE_URL": url}
        command = [sys.executable, "-m", "ledger.cli", "project", "--until-caught-up", "--json"]
        rounds, deadline = 0, time.monotonic() + KILL_DEADLINE_SECONDS
        chooser = random.Random(7)
        while rounds < KILL_ROUNDS and _position(ledger) < head and time.monotonic() < deadline:
            process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
            # Killed at a random moment of a page, not while Python starts: once the runner
            # has committed a page, somewhere within the time of the next one.
            _wait_for_progress(ledger, _position(ledger), process, deadline)
            time.sleep(chooser.uniform(0.0, KILL_WITHIN_SECONDS))
            process.send_signal(signal.SIGKILL)
            process.wait()
            rounds += 1
        subprocess.run(command, env=environment, check=True, capture_output=True)
        assert rounds >= min(KILL_ROUNDS, 3), "the catch-up was too short to kill"
        killed = _dump(ledger)
        assert verify(ledger).ok
        fresh = pg.new()
        _copy_log(ledger, fresh)
        _project(fresh)
        assert _dump(fresh) == killed
        fresh.close()
    finally:
        ledger.close()


def _wait_for_progress(ledger: Ledger, start: int, process: subprocess.Popen[bytes],
                       deadline: float, part: Part = WHOLE) -> None:
    while (_position(ledger, part) == start and process.poll() is None
           and time.monotonic() < deadline):
        time.sleep(PROGRESS_POLL_SECONDS)


def _position(ledger: Ledger, part: Part = WHOLE) -> int:
    try:
        return Runner(ledger, live_names(ledger), part=part).part_position()
    except (AssertionError, PersistenceError):
        return 0


def _copy_log(source: Ledger, target: Ledger) -> None:
    start = 1
    while page := source.app.recorder.select_notifications(start=start, limit=1_000):
        target.app.recorder.insert_events(list(page))
        start = page[-1].id + 1


PARTS = 3
PARTS_PERSONS = 200
PART_KILLED = 2
# Pages of 1 000 events: the killed part (a third of 200 careers' events) has a few pages left
# after its first, each longer than this.
PART_KILL_WITHIN_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class PartedLog:
    """A log to project in parts, and the tables one process projects from it."""

    source: Ledger
    expected: dict[str, list[Any]]


@pytest.fixture(scope="module")
def parted_log(pg: Ledgers) -> Iterator[PartedLog]:
    source = pg.new()
    reference = pg.new()
    try:
        _demo(source, PARTS_PERSONS, seed=17)
        _copy_log(source, reference)
        _project(reference)
        yield PartedLog(source, _dump(reference))
    finally:
        reference.close()
        source.close()


def _project_command(url: str, part: str) -> tuple[list[str], dict[str, str]]:
    return ([sys.executable, "-m", "ledger.cli", "project", "--until-caught-up", "--json",
             "--part", part], {**os.environ, "CPA_DATABASE_URL": url})


def _run_parts(url: str, parts: list[str]) -> None:
    """`project --part` processes, all at once, each to the head of the log; the error output
    of any that fails."""
    with contextlib.ExitStack() as files:
        processes = []
        for part in parts:
            command, environment = _project_command(url, part)
            errors = files.enter_context(tempfile.TemporaryFile())
            processes.append((part, errors, subprocess.Popen(
                command, env=environment, stdout=subprocess.DEVNULL, stderr=errors)))
        failures = []
        for part, errors, process in processes:
            if process.wait() != 0:
                errors.seek(0)
                failures.append(f"part {part} exited with {process.returncode}:\n"
                                + errors.read().decode(errors="replace"))
    assert not failures, "\n".join(failures)


def test_parts_projected_concurrently_write_what_one_process_writes(
        pg: Ledgers, parted_log: PartedLog) -> None:
    url = pg.url()
    ledger = ledger_at(url)
    try:
        _copy_log(parted_log.source, ledger)
        _run_parts(url, [f"{part}/{PARTS}" for part in range(1, PARTS + 1)])
        assert _dump(ledger) == parted_log.expected
    finally:
        ledger.close()


def test_a_part_killed_mid_run_resumes_to_the_same_tables(
        pg: Ledgers, parted_log: PartedLog) -> None:
    url = pg.url()
    ledger = ledger_at(url)
    try:
        _copy_log(parted_log.source, ledger)
        parts = [f"{part}/{PARTS}" for part in range(1, PARTS + 1)]
        processes = {}
        for part in parts:
            command, environment = _project_command(url, part)
            processes[part] = subprocess.Popen(command, env=environment,
                                               stdout=subprocess.DEVNULL)
        killed = parts[PART_KILLED - 1]
        victim = processes.pop(killed)
        _wait_for_progress(ledger, 0, victim, time.monotonic() + KILL_DEADLINE_SECONDS,
                           Part.parse(killed))
        time.sleep(random.Random(3).uniform(0.0, PART_KILL_WITHIN_SECONDS))
        assert victim.poll() is None, "the part finished before it could be killed"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert [process.wait() for process in processes.values()] == [0] * (PARTS - 1)
        head = ledger.app.recorder.max_notification_id() or 0
        assert 0 < _position(ledger, Part.parse(killed)) < head, "killed mid-run"
        _run_parts(url, [killed])
        assert _dump(ledger) == parted_log.expected
    finally:
        ledger.close()


def test_runners_with_overlapping_parts_taking_turns_write_what_one_writes(
        pg: Ledgers, parted_log: PartedLog) -> None:
    ledger = pg.new()
    try:
        _copy_log(parted_log.source, ledger)
        turns = [Runner(ledger, live_names(ledger), part=part)
                 for part in (WHOLE, Part.parse("1/2"), WHOLE, Part.parse("2/2"))]
        turns[0].create()
        while sum(runner.run_page() for runner in turns) > 0:
            pass
        assert _dump(ledger) == parted_log.expected
    finally:
        ledger.close()


# Pages touching fewer persons than the projector holds, which is fewer than the parted log's
# 200: most persons are let go between two of their events.
SMALL_PAGE_EVENTS = 100
TRACKED_OVER_A_PAGE = 150
# Where that projector is stopped and a new one (nothing in memory) resumes.
RESTART_AFTER_EVENTS = 3_000


def test_a_projector_holding_few_persons_writes_what_one_holding_all_writes(
        pg: Ledgers, parted_log: PartedLog) -> None:
    """Persons let go from memory leave a memo (`projections.memo`) that the projector reads
    back when they come again, in this process or in one that resumes it: the tables are those
    of a projector that held every person. The states a page loads let go of persons of earlier
    pages, not of the page's own: none is read one by one (two statements each)."""
    ledger = pg.new()
    try:
        _copy_log(parted_log.source, ledger)
        runners = [Runner(ledger, live_names(ledger), page_size=SMALL_PAGE_EVENTS,
                          tracked_persons=TRACKED_OVER_A_PAGE) for _ in range(2)]
        runners[0].create()
        runners[0].catch_up(stop_at=RESTART_AFTER_EVENTS)
        runners[1].catch_up()
        assert _dump(ledger) == parted_log.expected
        for runner in runners:
            recalls = runner.balances.memos.recalls
            assert recalls["stored"] > 0, recalls
            # Recomputed: only persons the first runner held when it stopped (never stored).
            assert recalls["computed"] <= TRACKED_OVER_A_PAGE, recalls
            assert runner.tracker.single_loads == 0
    finally:
        ledger.close()


def test_a_rebuild_in_parts_then_finished_switches_to_the_same_tables(
        pg: Ledgers, parted_log: PartedLog) -> None:
    ledger = pg.new()
    try:
        _copy_log(parted_log.source, ledger)
        _project(ledger)
        for part in ("2/2", "1/2"):
            rebuild(ledger, [], part=Part.parse(part))
        assert _dump(ledger) == parted_log.expected, "parts switch nothing"
        assert rebuild(ledger, []) == 0, "the parts rebuilt every event"
        assert _dump(ledger) == parted_log.expected
    finally:
        ledger.close()


def test_rebuild_while_reading_never_fails_nor_half_answers(pg: Ledgers) -> None:
    ledger = pg.new()
    try:
        persons = _demo(ledger, 200, seed=13)
        _project(ledger)
        reader = TableReader(ledger)
        expected = {p: reader.balance(p, dt.date(2030, 1, 1)) for p in persons[:20]}
        failures: list[str] = []
        stop = threading.Event()
        reads = [0]

        def loop() -> None:
            while not stop.is_set():
                for person, document in expected.items():
                    try:
                        got = TableReader(ledger).balance(person, dt.date(2030, 1, 1))
                    except Exception as error:
                        failures.append(repr(error))
                        continue
                    reads[0] += 1
                    if got != document:
                        failures.append(f"{person}: half-built answer")

        thread = threading.Thread(target=loop)
        thread.start()
        try:
            rebuild(ledger, [])
            rebuild(ledger, ["balances"])
        finally:
            stop.set()
            thread.join()
        assert failures == []
        assert reads[0] > 0
        assert verify(ledger).ok
    finally:
        ledger.close()


def test_replay_until_a_time_answers_as_known_then(pg: Ledgers) -> None:
    clock = ManualClock()
    ledger = pg.new(clock)
    try:
        persons = _demo(ledger, 30, seed=21)
        middle = clock.advance(1)
        clock.advance(1)
        _demo(ledger, 30, seed=22)
        _project(ledger)
        result = replay(ledger, middle, f"replay_{id(ledger)}")
        replayed = ledger_at(result.database_url)
        try:
            for person in persons[:10]:
                as_of = dt.date(2030, 1, 1)
                then = TableReader(ledger).balance(person, as_of, middle)
                assert TableReader(replayed).balance(person, as_of) == {**then, "known_at": None}
            assert verify(replayed).ok
        finally:
            replayed.close()
    finally:
        ledger.close()


def test_replay_on_the_embedded_default_is_a_queryable_file(tmp_path: Any) -> None:
    clock = ManualClock()
    ledger = ledger_at(f"sqlite:///{tmp_path / 'live.db'}", clock)
    try:
        persons = _demo(ledger, 10, seed=3)
        middle = clock.advance(1)
        clock.advance(1)
        _demo(ledger, 10, seed=4)
        result = replay(ledger, middle, str(tmp_path / "audit"))
        replayed = ledger_at(result.database_url)
        for person in persons:
            then = Reader(ledger).balance(person, dt.date(2030, 1, 1), middle)
            assert Reader(replayed).balance(person, dt.date(2030, 1, 1)) == \
                {**then, "known_at": None}
        replayed.close()
    finally:
        ledger.close()

