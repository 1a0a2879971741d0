"""Request ids, JSON logs, Prometheus metrics, readiness, and several workers under uvicorn."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.http import server as servers
from tests.http.conftest import fresh_database_url
from tests.http.server import Server, problem_of
from tests.support import Feed, identifier

PERSON = identifier("A")
LOG_WAIT_SECONDS = 5
LOG_POLL_SECONDS = 0.05
CONCURRENT_CLIENTS = 8
WORKER_SPREAD_ROUNDS_MAX = 50


def test_a_well_formed_request_id_is_echoed(server: Server) -> None:
    response = server.client().get("/healthz", headers={"X-Request-Id": "client-id.42"})
    assert response.headers["x-request-id"] == "client-id.42"


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 129])
def test_otherwise_a_fresh_request_id_is_made(server: Server, sent: str | None) -> None:
    headers = {"X-Request-Id": sent} if sent else {}
    response = server.client().get("/nope", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert problem_of(response)["request_id"] == response.headers["x-request-id"]


def test_each_request_is_one_json_log_line_without_the_identifier(server: Server) -> None:
    server.client(scope="read").get(f"/v1/persons/{PERSON}/balances",
                                    headers={"X-Request-Id": "log-test-1"})
    mine = _log_records(server, "log-test-1")
    assert len(mine) == 1
    assert mine[0]["route"] == "/v1/persons/{person}/balances" and mine[0]["status"] == 200
    assert mine[0]["duration_ms"] >= 0 and mine[0]["level"] == "info"
    assert PERSON not in server.log()


def test_metrics_count_requests_latency_outcomes_and_lag(server: Server) -> None:
    client = server.client(scope="admin")
    client.get(f"/v1/persons/{PERSON}/balances")
    client.post("/v1/messages", json=[Feed("metrics").employment(2020, "1607", person="A"), 1])
    text = server.client().get("/metrics").text
    assert re.search(r'cpa_http_requests_total\{method="GET",route="/v1/persons/\{person\}/'
                     r'balances",status="200"\} [1-9]', text)
    assert 'cpa_http_request_duration_seconds_bucket{le="0.02",method="GET",route="/v1/' in text
    assert re.search(r'cpa_http_messages_total\{outcome="accepted"\} [1-9]', text)
    assert re.search(r'cpa_http_messages_total\{outcome="rejected"\} [1-9]', text)
    assert re.search(r"cpa_projection_lag_events \d", text)


def _log_records(server: Server, request_id: str) -> list[dict[str, Any]]:
    """The log records of a request (written just after its response: wait a little)."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        records = [orjson.loads(line) for line in server.log().splitlines()
                   if line.startswith("{")]
        mine = [record for record in records if record.get("request_id") == request_id]
        if mine or time.monotonic() > deadline:
            return mine
        time.sleep(LOG_POLL_SECONDS)


@pytest.fixture()
def lagging(request: pytest.FixtureRequest, tmp_path: Path, tokens_file: Path) -> Iterator[Server]:
    url = fresh_database_url(request, tmp_path, "postgres")
    running = servers.start(url, tmp_path / "serve.log", CPA_API_TOKENS_FILE=str(tokens_file),
                            CPA_READY_LAG_MAX_EVENTS="0")
    yield running
    running.stop()


@pytest.mark.postgres
def test_ready_only_while_projections_keep_up(lagging: Server) -> None:
    client = lagging.client()
    lagging.project()
    assert client.get("/readyz").json()["projection_lag_events"] == 0
    lagging.client(scope="ingest").post("/v1/messages",
                                        json=Feed("lag").employment(2020, "1607", person="A"))
    response = client.get("/readyz")
    assert response.status_code == 503
    document = problem_of(response)
    assert document["reason"] == "projection_lag" and document["projection_lag_events"] > 0
    lagging.project()
    assert client.get("/readyz").status_code == 200


def test_readyz_on_the_embedded_default(server: Server) -> None:
    document = server.client().get("/readyz").json()
    assert document["status"] == "ready"
    assert document["backend"] == ("postgresql" if server.postgres else "sqlite")


def _readyz_until_two_workers_answered(running: Server) -> int:
    """Concurrent /readyz on new connections until the log shows two worker pids; the number
    of requests sent."""
    sent = 0
    with ThreadPoolExecutor(max_workers=CONCURRENT_CLIENTS) as pool:
        for _ in range(WORKER_SPREAD_ROUNDS_MAX):
            statuses = list(pool.map(lambda _: httpx.get(running.base_url + "/readyz",
                                                          headers={"X-Request-Id": "spread"}
                                                          ).status_code,
                                     range(CONCURRENT_CLIENTS)))
            assert statuses == [200] * CONCURRENT_CLIENTS
            sent += CONCURRENT_CLIENTS
            if len({r["pid"] for r in _log_records(running, "spread")}) >= 2:
                return sent
    raise AssertionError("every request went to the same worker")


@pytest.mark.postgres
def test_several_workers_share_metrics_and_stop_gracefully(
        request: pytest.FixtureRequest, tmp_path: Path, tokens_file: Path) -> None:
    url = fresh_database_url(request, tmp_path, "postgres")
    running = servers.start(url, tmp_path / "serve.log", workers=2,
                            CPA_API_TOKENS_FILE=str(tokens_file))
    try:
        sent = _readyz_until_two_workers_answered(running)
        time.sleep(LOG_POLL_SECONDS)
        text = httpx.get(running.base_url + "/metrics").text
        counted = re.search(r'cpa_http_requests_total\{method="GET",route="/readyz",'
                            r'status="200"\} ([0-9.]+)', text)
        assert counted is not None and float(counted.group(1)) == sent
    finally:
        assert running.stop() == 0
