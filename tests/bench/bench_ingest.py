"""Ingest rate of the demo feed on the embedded default (SQLite file), batched vs naive.

    python -m tests.bench.bench_ingest --persons 10000 [--naive-messages 20000]

Prints messages/s for the batched path (one transaction per batch of
`limits.INGEST_BATCH_MESSAGES_MAX` messages) and for the naive path (one transaction per
message) on the first messages of the same feed. Generation and validation are timed apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson

import schemas
from ledger import limits
from ledger.application import Item, Ledger
from ledger.config import Settings
from ledger.demo import DemoSettings, generate


def _ledger(folder: Path, name: str) -> Ledger:
    url = f"sqlite:///{folder / name}"
    return Ledger(Settings.from_environment({"CPA_DATABASE_URL": url}))


def _timed_ingest(ledger: Ledger, items: list[Item], batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(items), batch_size):
        ledger.ingest(items[start : start + batch_size])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--naive-messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    started = time.perf_counter()
    raw = [orjson.dumps(m) for m in generate(DemoSettings(persons=arguments.persons,
                                                          seed=arguments.seed))]
    generated = time.perf_counter() - started
    started = time.perf_counter()
    items = [schemas.parse(line) for line in raw]
    validated = time.perf_counter() - started
    print(f"feed: {len(items)} messages for {arguments.persons} persons "
          f"(generated in {generated:.1f} s, validated at {len(items) / validated:,.0f} msg/s)")

    with tempfile.TemporaryDirectory() as folder:
        ledger = _ledger(Path(folder), "batched.db")
        seconds = _timed_ingest(ledger, items, limits.INGEST_BATCH_MESSAGES_MAX)
        ledger.close()
        print(f"batched ({limits.INGEST_BATCH_MESSAGES_MAX}/transaction): "
              f"{len(items) / seconds:,.0f} msg/s ({seconds:.1f} s)")
        naive_items = items[: arguments.naive_messages]
        ledger = _ledger(Path(folder), "naive.db")
        seconds_naive = _timed_ingest(ledger, naive_items, 1)
        ledger.close()
        rate_naive = len(naive_items) / seconds_naive
        print(f"naive (1/transaction, first {len(naive_items)} messages): {rate_naive:,.0f} msg/s")
        print(f"ratio batched/naive: {len(items) / seconds / rate_naive:.1f}x")


if __name__ == "__main__":
    main()
