"""A dated balance read's cost against the length of the person's history, on PostgreSQL.

    python -m tests.bench.bench_history_reads [--orders 10,100,1000] [--reads 300]
        [--database-url postgresql://...]

For each count N, one person with ten years of employment (closed) and N training orders each
cancelled (two postings each: the hold and its release), recorded through the ledger and
projected. Then, in-process and one thread, the running totals behind an `as_of` read are
fetched `--reads` times both ways: the one-row lookup of `running_balances` (what the reads
use) and the sum over the person's postings (what they did before), with and without
`known_at`. Prints microseconds per read and the ratio: the lookup stays flat as the history
grows, the sum grows with it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from ledger.application import Ledger
from ledger.config import Settings
from projections.runner import Runner, live_names
from projections.tables import TableReader
from tests.bench.bench_http import database
from tests.support import Feed, identifier, validated

FIRST_YEAR = 2015
YEARS = 10
ORDERS_FIRST_DAY = dt.date(2025, 1, 2)
AS_OF = dt.date(2026, 6, 30)
BATCH_MESSAGES = 1_000
ALIASES = ("A", "B", "E")


def career(feed: Feed, alias: str, orders: int) -> list[dict[str, Any]]:
    messages = [feed.employment(year, "1607", person=alias)
                for year in range(FIRST_YEAR, FIRST_YEAR + YEARS)]
    messages += [feed.close(year) for year in range(FIRST_YEAR, FIRST_YEAR + YEARS)]
    for number in range(orders):
        on = (ORDERS_FIRST_DAY + dt.timedelta(days=number % 300)).isoformat()
        order_id = f"{alias}-o{number}"
        messages.append(feed.message("training.ordered", {
            "order_id": order_id, "certification": "RS5678", "provider": "98765432109876",
            "price_eur": "500.00", "ordered_on": on}, person=alias, published=on))
        messages.append(feed.message("training.cancelled", {
            "order_id": order_id, "cancelled_on": on}, person=alias, published=on))
    return messages


def per_read_us(reads: int, call: Callable[[], object]) -> float:
    call()
    started = time.perf_counter()
    for _ in range(reads):
        call()
    return (time.perf_counter() - started) / reads * 1e6


def row(tables: TableReader, key: str, reads: int) -> str:
    """One person's line: postings, then microseconds per read by each way."""
    known_at = dt.datetime.now(dt.UTC)
    postings = len(tables._postings(key, AS_OF, None))
    summed = per_read_us(reads, lambda: tables._totals_from_postings(key, AS_OF, None))
    looked = per_read_us(reads, lambda: tables._totals(key, AS_OF, None))
    summed_at = per_read_us(reads, lambda: tables._totals_from_postings(key, AS_OF, known_at))
    looked_at = per_read_us(reads, lambda: tables._totals(key, AS_OF, known_at))
    return (f"{postings:>9,} {summed:>8.0f} {looked:>10.0f} {summed / looked:>10.1f}x"
            f" {summed_at:>18.0f} {looked_at:>21.0f}")


def measure(url: str, counts: list[int], reads: int) -> None:
    ledger = Ledger(Settings.from_environment({"CPA_DATABASE_URL": url}))
    try:
        feed = Feed(prefix="h")
        closes = [m for m in career(feed, ALIASES[0], 0) if m["type"] == "accrual.year.closed"]
        messages = [m for alias, count in zip(ALIASES, counts, strict=False)
                    for m in career(feed, alias, count) if m["type"] != "accrual.year.closed"]
        employment = [m for m in messages if m["type"] == "employment.declared"]
        orders = [m for m in messages if m["type"] != "employment.declared"]
        for start in range(0, len(employment + closes + orders), BATCH_MESSAGES):
            batch = (employment + closes + orders)[start:start + BATCH_MESSAGES]
            ledger.ingest(validated(batch))
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        runner.catch_up()
        tables = TableReader(ledger)
        print(f"{'postings':>9} {'sum us':>8} {'lookup us':>10} {'sum/lookup':>11}"
              f" {'sum us (known_at)':>18} {'lookup us (known_at)':>21}")
        for alias in ALIASES[:len(counts)]:
            print(row(tables, ledger.person_key(identifier(alias)), reads))
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", default="10,100,1000",
                        help=f"order/cancel pairs per person, up to {len(ALIASES)} persons")
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--database-url", help="a PostgreSQL server (a fresh schema is made)")
    arguments = parser.parse_args()
    counts = [int(part) for part in arguments.orders.split(",")][:len(ALIASES)]
    with database(None if arguments.database_url is None else _fresh(arguments.database_url)) \
            as url:
        measure(url, counts, arguments.reads)


def _fresh(server_url: str) -> str:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{server_url}?schema={schema}"


if __name__ == "__main__":
    main()
