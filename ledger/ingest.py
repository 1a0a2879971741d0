"""File ingestion: JSON Lines messages in file order, decided in batches (one transaction each)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import schemas
from ledger import limits
from ledger.application import Item, Ledger


@dataclass(frozen=True, slots=True)
class Line:
    item: Item
    fallback_key: tuple[str, str]  # names a line that has no readable (source, message_id)
    size_bytes: int


def parse_lines(name: str, stream: Iterable[bytes]) -> Iterator[Line]:
    for number, raw in enumerate(stream, start=1):
        text = raw.rstrip(b"\r\n")
        if not text.strip():
            continue
        yield Line(schemas.parse(text), (f"file:{name}", f"line:{number}"), len(raw))


def batches(lines: Iterable[Line], size: int = limits.INGEST_BATCH_MESSAGES_MAX) -> Iterator[
    list[Line]
]:
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest_lines(ledger: Ledger, lines: Iterable[Line], progress: Any = None) -> Counter[str]:
    """Decide and record every line, batch by batch; counts by outcome."""
    counts: Counter[str] = Counter()
    for batch in batches(lines):
        results = ledger.ingest([line.item for line in batch],
                                fallback_keys=[line.fallback_key for line in batch],
                                channel="file")
        counts.update(result.outcome for result in results)
        if progress is not None:
            progress.update(sum(line.size_bytes for line in batch))
    return counts


@contextmanager
def open_input(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdin.buffer
        return
    with Path(name).open("rb") as stream:
        yield stream
