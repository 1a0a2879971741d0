"""Options of the Kafka tests: `--kafka-full` runs the crash test on the full-size feed."""

from __future__ import annotations

import os

import pytest

# Messages of the demo feed in the crash test: the default suite's size, and the full one.
FEED_MESSAGES_DEFAULT = 10_000
FEED_MESSAGES_FULL = 100_000
FULL_VARIABLE = "CPA_KAFKA_FULL"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-full", action="store_true", default=False,
        help=f"Kafka crash test on {FEED_MESSAGES_FULL} messages instead of "
             f"{FEED_MESSAGES_DEFAULT} (or set {FULL_VARIABLE}=1)")


@pytest.fixture(scope="session")
def kafka_full(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--kafka-full")) or os.environ.get(FULL_VARIABLE) == "1"


@pytest.fixture(scope="session")
def feed_messages(kafka_full: bool) -> int:
    return FEED_MESSAGES_FULL if kafka_full else FEED_MESSAGES_DEFAULT


# Persons of the demo feed in the cluster test: the default suite's size, and `--kafka-full`'s.
CLUSTER_PERSONS_DEFAULT = 120
CLUSTER_PERSONS_FULL = 1_000


@pytest.fixture(scope="session")
def cluster_persons(kafka_full: bool) -> int:
    return CLUSTER_PERSONS_FULL if kafka_full else CLUSTER_PERSONS_DEFAULT
