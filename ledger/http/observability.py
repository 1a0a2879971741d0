"""Request ids, structured JSON logs and request metrics, as the outermost ASGI layer.

Every response carries X-Request-Id: the client's when it sent a well-formed one, else a fresh
one. Each request is logged as one JSON line with its route template (never the raw path, which
holds a person identifier), status and duration. An unexpected exception is logged here, once,
with its trace and request id (Starlette has already answered the client with a 500 problem).

The request lines are the hot path's only log output, so they skip the logging module's record
machinery (caller lookup, record object, formatter: most of a /healthz request's time when
measured) and are written in batches: at most ACCESS_LOG_FLUSH_SECONDS after the request, or
when ACCESS_LOG_LINES_MAX wait, and when the worker shuts down. Each line is exactly what
`JSONFormatter` writes for a record, to the same handlers.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping
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
REQUEST_MESSAGE = "request"


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


def _stream_handlers(target: logging.Logger) -> Iterator[logging.StreamHandler[Any]]:
    """The stream handlers a record of `target` at INFO would reach (as `Logger.callHandlers`
    walks them)."""
    current: logging.Logger | None = target
    while current is not None:
        for handler in current.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.level <= logging.INFO:
                yield handler
        current = current.parent if current.propagate else None


class AccessLog:
    """The request lines, batched (see the module's docstring)."""

    def __init__(self, target: logging.Logger = logger) -> None:
        self.logger = target
        self.pid = os.getpid()  # the worker's: the app is built in each worker process
        self.pending: list[dict[str, Any]] = []
        self.timer: asyncio.TimerHandle | None = None
        atexit.register(self.flush)

    def write(self, fields: dict[str, Any]) -> None:
        """Log one request (written within ACCESS_LOG_FLUSH_SECONDS)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        self.pending.append({"time": dt.datetime.now(dt.UTC).isoformat(), "level": "info",
                             "logger": self.logger.name, "pid": self.pid,
                             "message": REQUEST_MESSAGE, **fields})
        if len(self.pending) >= limits.ACCESS_LOG_LINES_MAX:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(
                limits.ACCESS_LOG_FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        documents, self.pending = self.pending, []
        if not documents:
            return
        handlers = list(_stream_handlers(self.logger))
        if not handlers:  # logging configured otherwise: through it, a record each
            for document in documents:
                self.logger.info(REQUEST_MESSAGE, extra={"fields": document})
            return
        text = "".join(orjson.dumps(document, default=str).decode("utf-8") + "\n"
                       for document in documents)
        for handler in handlers:
            handler.acquire()  # as `Handler.handle` holds it around `emit`
            try:
                handler.stream.write(text)
                handler.flush()
            except OSError:  # as `StreamHandler.emit` reports a failed write
                handler.handleError(self.logger.makeRecord(
                    self.logger.name, logging.INFO, __file__, 0, REQUEST_MESSAGE, (), None))
            finally:
                handler.release()


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
        self.access_log = AccessLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, self._flushing_on_shutdown(send))
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

    def _flushing_on_shutdown(self, send: Send) -> Send:
        """`send` for the lifespan: the pending request lines are written before the worker
        says it has shut down."""

        async def flushing(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown"):
                self.access_log.flush()
            await send(message)

        return flushing

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = self.routes.get(scope.get("endpoint"), UNMATCHED_ROUTE)
        method = scope["method"]
        self.metrics.observe(route, method, status, seconds)
        self.access_log.write({
            "request_id": request_id, "method": method, "route": route, "status": status,
            "duration_ms": round(seconds * MILLISECONDS_PER_SECOND, 3)})
