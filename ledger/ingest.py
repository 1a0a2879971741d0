"""File ingestion: JSON Lines messages in file order, decided in batches (one transaction each)."""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import schemas
from ledger import limits
from ledger.application import Item, Ledger
from ledger.batch import Result

# The source under which lines without a readable (source, message_id) are recorded.
UNREADABLE_SOURCE = "file"


@dataclass(frozen=True, slots=True)
class Line:
    item: Item
    fallback_key: tuple[str, str]  # names a line that has no readable (source, message_id)
    size_bytes: int
    file: str = ""  # where the line was read, for reports
    number: int = 0


def parse_lines(name: str, stream: Iterable[bytes]) -> Iterator[Line]:
    for number, raw in enumerate(stream, start=1):
        text = raw.rstrip(b"\r\n")
        if not text.strip():
            continue
        yield Line(schemas.parse(text), content_key(text), len(raw), name, number)


def content_key(text: bytes) -> tuple[str, str]:
    """The key of a line that names no message: its content's digest, so the same line read
    again, whatever the file's name or path, is a duplicate and is recorded once."""
    return UNREADABLE_SOURCE, "sha256:" + hashlib.sha256(text).hexdigest()


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


Report = Callable[[Line, Result], None]


def ingest_lines(ledger: Ledger, lines: Iterable[Line], progress: Any = None,
                 report: Report | None = None) -> Counter[str]:
    """Decide and record every line, batch by batch; counts by outcome. `report` is told the
    result of each line, in order."""
    counts: Counter[str] = Counter()
    for batch in batches(lines):
        results = ledger.ingest([line.item for line in batch],
                                fallback_keys=[line.fallback_key for line in batch],
                                channel="file")
        counts.update(result.outcome.value for result in results)
        if report is not None:
            for line, result in zip(batch, results, strict=True):
                report(line, result)
        if progress is not None:
            progress.update(sum(line.size_bytes for line in batch))
    return counts


def report_line(line: Line, result: Result) -> dict[str, Any]:
    """One line of `ingest --report`."""
    return {"file": line.file, "line": line.number, **result.as_document()}


class UnreadableInput(OSError):
    """A named input is missing, a folder, or unreadable: the message is the one-line reason."""


def check_inputs(names: Iterable[str]) -> None:
    """Every input is a readable file (or -), checked before anything is ingested."""
    for name in names:
        if name == "-":
            continue
        path = Path(name)
        if not path.exists():
            raise UnreadableInput(f"{name}: no such file")
        if path.is_dir():
            raise UnreadableInput(f"{name}: is a folder, not a JSON Lines file")


@contextmanager
def open_input(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        # Only opening errors are translated; the with below closes it.
        stream = Path(name).open("rb")  # noqa: SIM115
    except OSError as error:
        raise UnreadableInput(f"{name}: {error.strerror or error}") from error
    with stream:
        yield stream
