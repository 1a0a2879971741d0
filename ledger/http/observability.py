"""Request ids, structured JSON logs and request metrics, as the outermost ASGI layer.

Every response carries X-Request-Id: the client's when it sent a well-formed one, else a fresh
one. Each request is logged as one JSON line with its route template (never the raw path, which
holds a person identifier), status and duration. An unexpected exception is logged here, once,
with its trace and request id (Starlette has already answered the client with a 500 problem).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.http import limits
from ledger.http.metrics import UNMATCHED_ROUTE, Metrics
from ledger.http.problems import REQUEST_ID_KEY

LOGGER_NAME = "cpa_ledger.http"
logger = logging.getLogger(LOGGER_NAME)
_REQUEST_ID = re.compile(limits.REQUEST_ID_PATTERN)
_REQUEST_ID_HEADER = b"x-request-id"
MILLISECONDS_PER_SECOND = 1_000
REQUEST_ID_PREFIX_BYTES = 8


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, process id (which worker), message, and
    the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        document.update(getattr(record, "fields", {}))
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode("utf-8")


def log_config(level: str = "INFO") -> dict[str, Any]:
    """logging.config.dictConfig settings for uvicorn and the service: JSON lines on stderr;
    uvicorn's access log is off (the service logs each request itself, with its id)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JSONFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "cpa_ledger": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


class RequestIds:
    """Fresh request ids: a random prefix per process and a counter, 32 hex digits (unique
    across workers and restarts without a system call per request, unlike uuid4)."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(REQUEST_ID_PREFIX_BYTES)
        self.numbers = itertools.count()

    def of(self, scope: Scope) -> str:
        """The client's X-Request-Id when well-formed, else a fresh one."""
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                text: str = value.decode("latin-1")
                if _REQUEST_ID.match(text):
                    return text
        return f"{self.prefix}{next(self.numbers):016x}"


class Observed:
    """Wraps the application: request id in and out, one log line and metrics per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Mapping[Any, str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.request_ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.request_ids.of(scope)
        scope[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        status = 500

        async def send_identified(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (_REQUEST_ID_HEADER, request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_identified)
        except Exception:
            logger.exception("unexpected error", extra={"fields": {"request_id": request_id}})
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = self.routes.get(scope.get("endpoint"), UNMATCHED_ROUTE)
        method = scope["method"]
        self.metrics.observe(route, method, status, seconds)
        logger.info("request", extra={"fields": {
            "request_id": request_id, "method": method, "route": route, "status": status,
            "duration_ms": round(seconds * MILLISECONDS_PER_SECOND, 3)}})
