"""Prometheus metrics of the HTTP service: requests by route and status, latency histograms,
messages by outcome, projection lag.

With several uvicorn workers, `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before
the workers start; each worker then writes its samples there and a scrape, whichever worker
answers it, reads them all (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from ledger.batch import Result

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format, which every Prometheus server reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
LATENCY_BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                           5.0, 10.0, 30.0)
UNMATCHED_ROUTE = "unmatched"
# (route, method, status) label sets whose samples are remembered for the next request (the
# labelled lookup costs as much as the increment); clients choose methods, so it is bounded.
REMEMBERED_LABEL_SETS_MAX = 256


class Metrics:
    def __init__(self, multiprocess_directory: str | None = None) -> None:
        self.multiprocess_directory = multiprocess_directory
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cpa_http_requests", "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "cpa_http_request_duration_seconds", "Time to answer a request, by route template",
            ["route", "method"], buckets=LATENCY_BUCKETS_SECONDS, registry=self.registry)
        self.messages = Counter(
            "cpa_http_messages", "Messages received by POST /v1/messages, by recorded outcome",
            ["outcome"], registry=self.registry)
        self.projection_lag = Gauge(
            "cpa_projection_lag_events",
            "Events recorded but not yet in the read models (0 on the embedded default)",
            registry=self.registry, multiprocess_mode="mostrecent")
        self.request_samples: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    @classmethod
    def from_environment(cls) -> Metrics:
        return cls(os.environ.get(MULTIPROCESS_VARIABLE) or None)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        samples = self.request_samples.get((route, method, status))
        if samples is None:
            samples = (self.requests.labels(route, method, str(status)),
                       self.latency.labels(route, method))
            if len(self.request_samples) < REMEMBERED_LABEL_SETS_MAX:
                self.request_samples[(route, method, status)] = samples
        counted, timed = samples
        counted.inc()
        timed.observe(seconds)

    def count_outcomes(self, results: Iterable[Result]) -> None:
        for result in results:
            self.messages.labels(result.outcome).inc()

    def render(self, projection_lag: int | None) -> bytes:
        if projection_lag is not None:
            self.projection_lag.set(projection_lag)
        if self.multiprocess_directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
