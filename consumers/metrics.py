"""The consumer's metrics: messages by outcome, batch latency, lag per partition.

One small object, updated by the loop, read by the periodic JSON log line and by an optional
Prometheus text endpoint (`CPA_METRICS_PORT`); a lock makes the two readers safe.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

import orjson

from consumers import limits
from consumers.batch import Partition
from ledger.outcomes import MessageOutcome

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_PATH = "/metrics"
# Liveness (deploy/k8s/consume.yaml): the process is up and answers on its port.
HEALTH_PATH = "/healthz"
HEALTH_BODY = b'{"status":"ok"}'


class Metrics:
    """Counters and gauges of one consumer process."""

    def __init__(self, buckets_s: tuple[float, ...] = limits.BATCH_SECONDS_BUCKETS) -> None:
        self._lock = threading.Lock()
        self.buckets_s = buckets_s
        self.outcomes: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.batch_bucket_counts = [0] * len(buckets_s)
        self.batch_count = 0
        self.batch_seconds_sum = 0.0
        self.batch_seconds_max = 0.0
        self.lag: dict[Partition, int] = {}

    def batch_recorded(self, outcomes: Iterable[str], seconds: float) -> None:
        with self._lock:
            self.outcomes.update(outcomes)
            self.batch_count += 1
            self.batch_seconds_sum += seconds
            self.batch_seconds_max = max(self.batch_seconds_max, seconds)
            for index, bound in enumerate(self.buckets_s):
                if seconds <= bound:
                    self.batch_bucket_counts[index] += 1

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def set_lag(self, partition: Partition, lag: int) -> None:
        with self._lock:
            self.lag[partition] = lag

    def forget_lag(self, partitions: Iterable[Partition]) -> None:
        with self._lock:
            for partition in partitions:
                self.lag.pop(partition, None)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        with self._lock:
            return {
                # Plain strings: orjson takes no str subclass (an outcome enum) as a key.
                "messages": {str(outcome): count for outcome, count in self.outcomes.items()},
                "counters": dict(self.counters),
                "batches": self.batch_count,
                "batch_seconds_sum": round(self.batch_seconds_sum, 6),
                "batch_seconds_max": round(self.batch_seconds_max, 6),
                "lag": {f"{topic}:{partition}": lag
                        for (topic, partition), lag in sorted(self.lag.items())},
            }

    def prometheus(self) -> str:
        """The metrics in Prometheus text exposition format."""
        with self._lock:
            lines = _outcome_lines(self.outcomes) + _counter_lines(self.counters)
            lines += _histogram_lines(self.buckets_s, self.batch_bucket_counts,
                                      self.batch_count, self.batch_seconds_sum)
            lines += _lag_lines(self.lag)
        return "\n".join(lines) + "\n"


def _outcome_lines(outcomes: Counter[str]) -> list[str]:
    lines = ["# HELP cpa_consumer_messages_total Messages recorded, by outcome.",
             "# TYPE cpa_consumer_messages_total counter"]
    for outcome in MessageOutcome:
        lines.append(f'cpa_consumer_messages_total{{outcome="{outcome}"}} {outcomes[outcome]}')
    return lines


def _counter_lines(counters: Counter[str]) -> list[str]:
    lines: list[str] = []
    for name in sorted(counters):
        metric = f"cpa_consumer_{name}_total"
        lines += [f"# TYPE {metric} counter", f"{metric} {counters[name]}"]
    return lines


def _histogram_lines(
    buckets_s: tuple[float, ...], counts: list[int], total: int, seconds_sum: float
) -> list[str]:
    lines = ["# HELP cpa_consumer_batch_seconds Poll to dead letters confirmed, per batch.",
             "# TYPE cpa_consumer_batch_seconds histogram"]
    lines += [f'cpa_consumer_batch_seconds_bucket{{le="{bound}"}} {count}'
              for bound, count in zip(buckets_s, counts, strict=True)]
    lines += [f'cpa_consumer_batch_seconds_bucket{{le="+Inf"}} {total}',
              f"cpa_consumer_batch_seconds_sum {seconds_sum:.6f}",
              f"cpa_consumer_batch_seconds_count {total}"]
    return lines


def _lag_lines(lag: dict[Partition, int]) -> list[str]:
    lines = ["# HELP cpa_consumer_lag_records Records in the partition not recorded yet.",
             "# TYPE cpa_consumer_lag_records gauge"]
    lines += [f'cpa_consumer_lag_records{{topic="{topic}",partition="{partition}"}} {value}'
              for (topic, partition), value in sorted(lag.items())]
    return lines


class MetricsLog:
    """Writes the metrics as one JSON line every `interval_s` (when asked, never on its own)."""

    def __init__(self, metrics: Metrics, stream: TextIO = sys.stderr,
                 interval_s: float = limits.METRICS_LOG_INTERVAL_S) -> None:
        self.metrics = metrics
        self.stream = stream
        self.interval_s = interval_s
        self.last_s = time.monotonic()

    def maybe_write(self) -> None:
        if time.monotonic() - self.last_s >= self.interval_s:
            self.write()

    def write(self) -> None:
        self.last_s = time.monotonic()
        log(self.stream, "metrics", **self.metrics.snapshot())


def log(stream: TextIO, event: str, **fields: Any) -> None:
    """One structured log line: JSON with a timestamp and an event name."""
    document = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event,
                **fields}
    stream.write(orjson.dumps(document, default=str).decode() + "\n")
    stream.flush()


def serve(metrics: Metrics, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve `GET /metrics` and `GET /healthz` on a daemon thread; the caller shuts it down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == METRICS_PATH:
                self._answer(metrics.prometheus().encode("utf-8"), PROMETHEUS_CONTENT_TYPE)
            elif self.path == HEALTH_PATH:
                self._answer(HEALTH_BODY, "application/json")
            else:
                self.send_error(404)

        def _answer(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # scrapes are not worth a log line each

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
