"""The composition root: `create_app()` builds the whole service from the settings. uvicorn's
workers call it (`--factory`), and so do the tests, so both get the same wiring."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson
from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, ExceptionHandler

from ledger.http import asyncapi, docs, limits, openapi, problems, routes
from ledger.http.auth import Authenticator
from ledger.http.handlers import Handlers
from ledger.http.metrics import Metrics
from ledger.http.observability import LOGGER_NAME, Observed
from ledger.http.service import STORE_ERRORS, LedgerService
from ledger.http.settings import HttpSettings
from ledger.web import routes as web_routes
from ledger.web.logins import FailedLogins, Seconds

STORE_RETRY_AFTER_SECONDS = 1
logger = logging.getLogger(LOGGER_NAME)


def create_app(
    settings: HttpSettings | None = None, service: LedgerService | None = None,
    login_clock: Seconds = time.monotonic,
) -> ASGIApp:
    """The ASGI application. Reads the environment once when `settings` is not given;
    `login_clock` times the pages' failed logins (tests move it)."""
    settings = settings or HttpSettings.from_environment()
    authenticator = Authenticator.from_settings(settings.ledger.api_tokens_file,
                                                settings.development)
    _warn_about_access(settings, authenticator)
    service = service or LedgerService.build(settings)
    metrics = Metrics.from_environment()
    handlers = Handlers(service, metrics)
    endpoints: dict[str, routes.Endpoint] = _documents()
    endpoints.update({operation.handler: getattr(handlers, operation.handler)
                      for operation in routes.OPERATIONS if hasattr(handlers, operation.handler)})
    table = routes.build(endpoints, authenticator)
    # The pages for people, under /pages/.
    table += web_routes.build(service, authenticator, FailedLogins(login_clock))
    app = Starlette(routes=table, exception_handlers=_exception_handlers(),
                    lifespan=_lifespan(service))
    return Observed(app, metrics, {route.endpoint: route.path for route in table})


def _documents() -> dict[str, routes.Endpoint]:
    """The OpenAPI document, its HTML page and the AsyncAPI document, rendered once."""
    document = openapi.document()
    body = orjson.dumps(document)
    page = web_routes.docs_link(docs.render(document))
    kafka_topics = asyncapi.rendered()

    async def get_asyncapi(request: Request) -> Response:
        return Response(kafka_topics, media_type="application/json")

    async def get_openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    async def get_docs(request: Request) -> Response:
        return HTMLResponse(page)

    return {"get_openapi": get_openapi, "get_docs": get_docs, "get_asyncapi": get_asyncapi}


def _exception_handlers() -> dict[Any, ExceptionHandler]:
    handlers: dict[Any, ExceptionHandler] = dict(problems.EXCEPTION_HANDLERS)
    for error in STORE_ERRORS:
        handlers[error] = _store_unavailable
    return handlers


async def _store_unavailable(request: Request, error: Exception) -> Response:
    logger.warning("store unavailable", exc_info=error, extra={
        "fields": {"request_id": request.scope.get(problems.REQUEST_ID_KEY)}})
    problem = problems.Problem(503, "store_unavailable", "the store does not answer; retry",
                               headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)})
    return await problems.on_problem(request, problem)


def _lifespan(service: LedgerService) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Closes the ledger (its connections) when uvicorn shuts the worker down."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Ledger calls run in worker threads; more threads than connections only contend for
        # the GIL and the pool (measured: tests/bench/bench_http.py).
        to_thread.current_default_thread_limiter().total_tokens = limits.WORKER_THREADS_MAX
        fast_reads = service.every_fast_reads()
        for reads in fast_reads:
            await reads.open()
        try:
            yield
        finally:
            for reads in fast_reads:
                await reads.close()
            service.close()

    return lifespan


def _warn_about_access(settings: HttpSettings, authenticator: Authenticator) -> None:
    if settings.ledger.api_tokens_file is not None:
        return
    if authenticator.open_to_all:
        logger.warning("CPA_API_TOKENS_FILE is unset: development mode, every request holds "
                       "every scope without a token")
    else:
        logger.warning("CPA_API_TOKENS_FILE is unset: no token is accepted (production)")
