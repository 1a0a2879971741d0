"""pytest plugin: the real PostgreSQL server and Apache Kafka broker of a test session.

Register it with `pytest_plugins = ["tests.services"]` (or `-p tests.services`). Each server is
started the first time a test asks for it, so a run that needs neither starts neither, and is
stopped when the session ends, also after a failure or Ctrl-C.

- `postgres_url`: the URL of the session's database; `CPA_TEST_DATABASE_URL` when set.
- `postgres_server`: the session's own `PostgresServer`, for tests that restart or kill it.
- `second_postgres_server`: another one, for the tests of two shards.
- `kafka_bootstrap_servers`: "host:port"; `CPA_TEST_KAFKA_BOOTSTRAP_SERVERS` when set.
- `kafka_broker`: the session's own `KafkaBroker`, for tests that restart or kill it.

A server that cannot be started fails the tests that need it, with the reason; none is skipped.

Warm-up: once the tests are collected, what they will need (the servers, the Debian programs of
the browser and statement tests) starts in background threads, so installing a package, fetching
Kafka's jars and starting a JVM overlap the tests that come first instead of adding to them. The
fixtures then wait for what the warm-up started; anything started and never used is stopped at
the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from deploy.local import debian
from deploy.local import kafka as local_kafka
from deploy.local import postgres as local_postgres

DATABASE_URL_VARIABLE = "CPA_TEST_DATABASE_URL"
KAFKA_BOOTSTRAP_SERVERS_VARIABLE = "CPA_TEST_KAFKA_BOOTSTRAP_SERVERS"
WARM_UP_THREADS = 3
# Test modules -> the Debian programs they run (see deploy/local/debian.py).
DEBIAN_PROGRAMS_BY_MODULE = {
    "test_web_pages.py": ("chromium", "chromedriver"),
    "test_statements.py": ("pdftotext",),
}


class _WarmUp:
    """What the collected tests need, started in the background; each fixture claims its own."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(WARM_UP_THREADS, thread_name_prefix="warm-up")
        self._started: dict[str, Future[Any]] = {}
        self._claimed: set[str] = set()

    def start(self, name: str, work: Callable[[], Any]) -> None:
        self._started[name] = self._pool.submit(work)

    def claim(self, name: str) -> Future[Any] | None:
        """The warm-up of `name`, which the caller now owns (stops), or None if none ran."""
        if name in self._claimed:
            return None  # already someone's: the caller starts its own
        self._claimed.add(name)
        return self._started.get(name)

    def finish(self) -> None:
        """Stops the servers that were started but never claimed (their tests were deselected,
        or the session was interrupted before them)."""
        for name, future in self._started.items():
            if name in self._claimed or future.exception() is not None:
                continue
            stop = getattr(future.result(), "stop", None)
            if stop is not None:
                stop()
        self._pool.shutdown(wait=True)


_warm_up = _WarmUp()


def pytest_collection_finish(session: pytest.Session) -> None:
    items = session.items
    if not os.environ.get(DATABASE_URL_VARIABLE) and _any_needs(items, "postgres"):
        _warm_up.start("postgres", _start_postgres_installing_first)
    if not os.environ.get(KAFKA_BOOTSTRAP_SERVERS_VARIABLE) and _any_needs(items, "kafka"):
        _warm_up.start("kafka", local_kafka.start)
    programs = sorted({program for item in items
                       for program in DEBIAN_PROGRAMS_BY_MODULE.get(Path(str(item.path)).name, ())})
    if programs and os.geteuid() == 0:
        _warm_up.start("debian", lambda: [debian.ensure(program) for program in programs])


def pytest_sessionfinish(session: pytest.Session) -> None:
    _warm_up.finish()


def _any_needs(items: list[pytest.Item], server: str) -> bool:
    return any(item.get_closest_marker(server) is not None
               or any(name.startswith(server) for name in getattr(item, "fixturenames", ()))
               for item in items)


def _start_postgres_installing_first() -> local_postgres.PostgresServer:
    # The binaries' apt-get must not run beside the Debian programs' apt-get.
    with debian.APT_LOCK:
        local_postgres.ensure_binaries(bool(os.environ.get("CI")))
    return local_postgres.start()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[local_postgres.PostgresServer]:
    """The session's own PostgreSQL cluster (`initdb` in a temporary folder, a free port)."""
    _refuse_with_external(DATABASE_URL_VARIABLE, "PostgreSQL server")
    server = _start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def second_postgres_server() -> Iterator[local_postgres.PostgresServer]:
    """A second PostgreSQL cluster of the session: another shard's database server."""
    _refuse_with_external(DATABASE_URL_VARIABLE, "PostgreSQL server")
    server = _start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """`postgresql://...` of the database `cpa`: the external one if set, else our own."""
    external = os.environ.get(DATABASE_URL_VARIABLE)
    if external:
        return external
    server: local_postgres.PostgresServer = request.getfixturevalue("postgres_server")
    return server.url


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[local_kafka.KafkaBroker]:
    """The session's own single-node Kafka broker (KRaft, a temporary folder, free ports)."""
    _refuse_with_external(KAFKA_BOOTSTRAP_SERVERS_VARIABLE, "Kafka broker")
    broker = _start_kafka()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(request: pytest.FixtureRequest) -> str:
    """The "host:port" of a broker: the external one if set, else our own."""
    external = os.environ.get(KAFKA_BOOTSTRAP_SERVERS_VARIABLE)
    if external:
        return external
    broker: local_kafka.KafkaBroker = request.getfixturevalue("kafka_broker")
    return broker.bootstrap_servers


def _start_postgres() -> local_postgres.PostgresServer:
    warming = _warm_up.claim("postgres")
    try:
        return local_postgres.start() if warming is None else warming.result()
    except local_postgres.PostgresError as error:
        reason = str(error)
    # Outside the except block, so the report shows the reason once, not a chain of exceptions.
    pytest.fail(f"could not start PostgreSQL for the test session: {reason}", pytrace=False)


def _start_kafka() -> local_kafka.KafkaBroker:
    warming = _warm_up.claim("kafka")
    try:
        return local_kafka.start() if warming is None else warming.result()
    except local_kafka.BrokerError as error:
        reason = str(error)
    pytest.fail(f"could not start Apache Kafka for the test session: {reason}", pytrace=False)


def _refuse_with_external(variable: str, what: str) -> None:
    """Tests that restart or kill a server can only do so to the one the session started."""
    if os.environ.get(variable):
        pytest.fail(
            f"this test restarts or kills the {what}, which it can only do to one that the test "
            f"session starts itself; unset {variable} to run it",
            pytrace=False,
        )
