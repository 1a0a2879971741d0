"""The stored changes' codec: msgspec (decode and validate in one pass) against orjson.

    python -m tests.bench.bench_changes --persons 300

Records the demo feed of `--persons` careers on the embedded default (SQLite, in a temporary
folder), then times, over every stored `PersonAccount.Applied` event, each way to decode the
stored bytes into an event's attributes and to encode them back, and prints each rate with its
ratio to the orjson reference measured in the same run (higher is faster). It also checks that
each encoder writes the stored bytes unchanged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import schemas
from ledger import changes, limits
from ledger.application import Ledger
from ledger.config import Settings
from ledger.demo import DemoSettings, generate
from ledger.domain import PersonAccount
from ledger.transcoder import OrjsonTranscoder

APPLIED_TOPIC_SUFFIX = PersonAccount.Applied.__qualname__
ROUNDS = 9


def _stored_events(persons: int, seed: int) -> list[bytes]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        settings = Settings.from_environment({"CPA_DATABASE_URL": f"sqlite:///{path}"})
        items = [schemas.parse(orjson.dumps(message))
                 for message in generate(DemoSettings(persons=persons, seed=seed))]
        step = limits.INGEST_BATCH_MESSAGES_MAX
        with Ledger(settings) as ledger:
            for start in range(0, len(items), step):
                ledger.ingest(items[start:start + step])
        with sqlite3.connect(path) as connection:
            table = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%events'"
                " AND name NOT LIKE '%snapshot%'").fetchone()[0]
            rows = connection.execute(f"SELECT topic, state FROM {table}").fetchall()
    return [bytes(state) for topic, state in rows if topic.endswith(APPLIED_TOPIC_SUFFIX)]


def _seconds(work: Callable[[], object]) -> float:
    """One timed run, the collector off (the decoded objects would trigger it at random)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started
    finally:
        gc.enable()


def _compare(label: str, candidates: dict[str, Callable[[], object]], count: int) -> None:
    """Each candidate timed once a round, in turn, over `ROUNDS` rounds; its best rate and
    the median of its per-round ratios to the first (the reference)."""
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(ROUNDS):
        for name, work in candidates.items():
            seconds[name].append(_seconds(work))
    reference = seconds[next(iter(candidates))]
    for name, times in seconds.items():
        ratios = sorted(ref / mine for ref, mine in zip(reference, times, strict=True))
        print(f"{label}  {name:36} {count / min(times):>10,.0f} events/s"
              f"  x{ratios[len(ratios) // 2]:.2f} (median of {ROUNDS} paired rounds)")


def _orjson_then_convert(transcoder: OrjsonTranscoder, data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = transcoder.decode(data)
    document["changes"] = [changes.from_builtins(change) for change in document["changes"]]
    return document


def _with_typed_changes(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "changes": [changes.from_builtins(c) for c in document["changes"]]}


def _msgspec_encode(document: dict[str, Any]) -> bytes:
    stamp: dt.datetime = document["timestamp"]
    return changes.encode({**document, "timestamp": stamp.isoformat()})


def _orjson_encode_typed(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, default=changes.to_builtins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    stored = _stored_events(arguments.persons, arguments.seed)
    transcoder = OrjsonTranscoder()
    count = len(stored)
    print(f"{count} stored Applied events ({sum(map(len, stored)) / count:.0f} bytes each)")

    decoders: dict[str, Callable[[bytes], object]] = {
        "orjson, dict changes (reference)": transcoder.decode,
        "msgspec, typed and validated": changes.decode_applied,
        "orjson, then convert to typed": lambda data: _orjson_then_convert(transcoder, data),
    }
    _compare("decode", {name: functools.partial(_each, decode, stored)
                        for name, decode in decoders.items()}, count)

    plain = [transcoder.decode(data) for data in stored]
    typed = [_with_typed_changes(document) for document in plain]
    encoders: dict[str, tuple[Callable[[dict[str, Any]], bytes], list[dict[str, Any]]]] = {
        "orjson, dict changes (reference)": (transcoder.encode, plain),
        "msgspec, typed changes": (_msgspec_encode, typed),
        "orjson, typed via to_builtins": (_orjson_encode_typed, typed),
    }
    for name, (encode, documents) in encoders.items():
        same = all(encode(d) == data for d, data in zip(documents, stored, strict=True))
        print(f"encode  {name:36} writes the stored bytes unchanged: {same}")
    _compare("encode", {name: functools.partial(_each, encode, documents)
                        for name, (encode, documents) in encoders.items()}, count)


def _each(function: Callable[[Any], object], inputs: list[Any]) -> None:
    for item in inputs:
        function(item)

if __name__ == "__main__":
    main()
