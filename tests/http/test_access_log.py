"""The batched request log (`observability.AccessLog`): the lines `JSONFormatter` would write,
to the logger's stream handlers, once flushed (by its timer, a full batch or shutdown)."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from ledger.http import limits
from ledger.http.observability import AccessLog, JSONFormatter

FIELDS = {"request_id": "r-1", "method": "GET", "route": "/healthz", "status": 200,
          "duration_ms": 0.5}


@pytest.fixture()
def stream() -> Iterator[io.StringIO]:
    target = logging.getLogger("cpa_ledger.tests.access_log")
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(JSONFormatter())
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    target.propagate = False
    yield text
    target.removeHandler(handler)


def _lines(text: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.getvalue().splitlines()]


def _written(count: int, flush: bool) -> AccessLog:
    access_log = AccessLog(logging.getLogger("cpa_ledger.tests.access_log"))

    async def requests() -> None:
        for number in range(count):
            access_log.write({**FIELDS, "request_id": f"r-{number}"})
        if flush:
            access_log.flush()

    asyncio.run(requests())
    return access_log


def test_lines_wait_for_the_flush_then_read_as_the_formatter_writes(
        stream: io.StringIO) -> None:
    access_log = _written(3, flush=False)
    assert stream.getvalue() == ""
    access_log.flush()
    lines = _lines(stream)
    assert [line["request_id"] for line in lines] == ["r-0", "r-1", "r-2"]
    record = logging.makeLogRecord({"name": "cpa_ledger.tests.access_log", "msg": "request",
                                    "levelname": "INFO", "fields": FIELDS})
    formatted = orjson.loads(JSONFormatter().format(record))
    assert set(lines[0]) == set(formatted)
    assert {k: lines[0][k] for k in ("level", "logger", "message", "method", "route")} == \
        {k: formatted[k] for k in ("level", "logger", "message", "method", "route")}


def test_a_full_batch_is_written_at_once(stream: io.StringIO) -> None:
    _written(limits.ACCESS_LOG_LINES_MAX, flush=False)
    assert len(_lines(stream)) == limits.ACCESS_LOG_LINES_MAX


def test_nothing_is_logged_below_the_logger_level(stream: io.StringIO) -> None:
    logging.getLogger("cpa_ledger.tests.access_log").setLevel(logging.WARNING)
    _written(2, flush=True)
    assert stream.getvalue() == ""
