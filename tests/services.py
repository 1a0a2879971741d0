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
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deploy.local import kafka as local_kafka
from deploy.local import postgres as local_postgres

DATABASE_URL_VARIABLE = "CPA_TEST_DATABASE_URL"
KAFKA_BOOTSTRAP_SERVERS_VARIABLE = "CPA_TEST_KAFKA_BOOTSTRAP_SERVERS"


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
    try:
        return local_postgres.start()
    except local_postgres.PostgresError as error:
        reason = str(error)
    # Outside the except block, so the report shows the reason once, not a chain of exceptions.
    pytest.fail(f"could not start PostgreSQL for the test session: {reason}", pytrace=False)


def _start_kafka() -> local_kafka.KafkaBroker:
    try:
        return local_kafka.start()
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
