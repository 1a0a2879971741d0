"""Messages per second through `schemas.parse`, and through python-jsonschema for comparison.

Run from the repository root (not collected by pytest):

    python -m tests.bench.bench_schemas [--count 100000] [--rounds 3]

Every message is a valid, distinct employment.declared message (the most frequent type). The
python-jsonschema figure covers decoding and the two schemas only, not the semantic checks,
the person's key or the digest, so it flatters python-jsonschema.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ledger.identity import with_key
from schemas import Message, envelope_document, parse, schema_document

COUNT_DEFAULT = 100_000
ROUNDS_DEFAULT = 3
# python-jsonschema is ~20x slower: a sample keeps its run short.
JSONSCHEMA_SAMPLE_MAX = 10_000


def employment_message(index: int) -> bytes:
    """The index-th generated message: distinct id, person, employer, period and hours."""
    month = index % 12 + 1
    message = {
        "message_id": f"dsn-{index}",
        "source": "dsn",
        "type": "employment.declared",
        "version": 1,
        "person": with_key(f"1{index % 100:02d}0375{index % 1_000_000:06d}"),
        "published_at": f"2024-{month:02d}-05T09:30:00+01:00",
        "supersedes": f"dsn-{index - 1}" if index % 10 == 0 and index else None,
        "data": {
            "employer": f"{index % 10**14:014d}",
            "period_start": f"2023-{month:02d}-01",
            "period_end": f"2023-{month:02d}-28",
            "hours_worked": f"{index % 160}.{index % 100:02d}",
            "regime": "private",
        },
    }
    if message["supersedes"] is None:
        del message["supersedes"]
    return orjson.dumps(message)


def best_rate(
    run: Callable[[Sequence[bytes]], None], messages: Sequence[bytes], rounds: int
) -> float:
    """The best of `rounds` timings, in messages per second."""
    best_s = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run(messages)
        best_s = min(best_s, time.perf_counter() - started)
    return len(messages) / best_s


def run_parse(messages: Sequence[bytes]) -> None:
    """Parses every message, failing loudly if one is not accepted."""
    for raw in messages:
        if not isinstance(parse(raw), Message):
            raise AssertionError(f"generated message rejected: {parse(raw)}")


def jsonschema_runner() -> Callable[[Sequence[bytes]], None] | None:
    """Decode and validate with python-jsonschema (envelope, then data), when installed."""
    try:
        jsonschema: Any = importlib.import_module("jsonschema")
    except ModuleNotFoundError:
        return None
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    envelope = jsonschema.Draft7Validator(envelope_document(), format_checker=checker)
    data = jsonschema.Draft7Validator(
        schema_document("employment.declared", 1), format_checker=checker
    )

    def run(messages: Sequence[bytes]) -> None:
        for raw in messages:
            message = orjson.loads(raw)
            envelope.validate(message)
            data.validate(message["data"])

    return run


def main() -> None:
    """Prints the figures."""
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--count", type=int, default=COUNT_DEFAULT)
    arguments.add_argument("--rounds", type=int, default=ROUNDS_DEFAULT)
    options = arguments.parse_args()
    messages = [employment_message(index) for index in range(options.count)]
    rate = best_rate(run_parse, messages, options.rounds)
    print(f"schemas.parse (fastjsonschema): {rate:>10,.0f} messages/s over {len(messages):,}")
    runner = jsonschema_runner()
    if runner is None:
        print("python-jsonschema: not installed")
        return
    sample = messages[:JSONSCHEMA_SAMPLE_MAX]
    reference = best_rate(runner, sample, options.rounds)
    print(f"python-jsonschema:              {reference:>10,.0f} messages/s over {len(sample):,}")
    print(f"ratio: {rate / reference:.1f}x")


if __name__ == "__main__":
    main()
