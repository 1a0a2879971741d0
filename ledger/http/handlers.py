"""The endpoints of interfaces.md §2: each checks its parameters, asks the service (in a worker
thread: the ledger's I/O is synchronous) and answers. Authorisation wraps them in `routes`."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ledger.http import closes, intake, limits, pages, parameters
from ledger.http.metrics import CONTENT_TYPE, Metrics
from ledger.http.problems import Problem
from ledger.http.responses import JSONResponse, tagged, tagged_body
from ledger.http.service import STORE_ERRORS, LedgerService
from ledger.outcomes import MessageOutcome
from schemas import envelope_document, schema_document

OUTCOMES = tuple(outcome.value for outcome in MessageOutcome)
_ORDER = schema_document("training.ordered", 1)["properties"]
CERTIFICATION_PATTERN: str = _ORDER["certification"]["pattern"]
PRICE_PATTERN: str = _ORDER["price_eur"]["pattern"]
_ENVELOPE = envelope_document()["properties"]
SOURCE_PATTERN: str = _ENVELOPE["source"]["pattern"]
MESSAGE_ID_PATTERN: str = _ENVELOPE["message_id"]["pattern"]


class Handlers:
    def __init__(self, service: LedgerService, metrics: Metrics) -> None:
        self.service = service
        self.metrics = metrics

    # Ingestion and outcomes.

    async def post_messages(self, request: Request) -> Response:
        intake.check_media_type(request)
        items = intake.items_of(await intake.bounded_body(request))
        close = closes.lone_close(items)
        if close is None and closes.has_close(items):
            raise Problem(422, "year_close_not_alone",
                          "send accrual.year.closed alone in its request: it is swept in the "
                          "background and answered 202 with its status")
        if close is not None:
            status = await run_in_threadpool(self.service.start_close, close)
            if status is not None:
                location = f"/v1/messages/{status['source']}/{status['message_id']}"
                return JSONResponse(status, status_code=202, headers={"Location": location})
        results = await run_in_threadpool(self.service.ingest, items)
        self.metrics.count_outcomes(results)
        counts = Counter(result.outcome.value for result in results)
        return JSONResponse({"outcomes": [result.as_document() for result in results],
                             "counts": {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}})

    async def get_message(self, request: Request) -> Response:
        source = _path(request, "source", SOURCE_PATTERN, "a source (1-64 of a-z 0-9 . _ : -)")
        message_id = _path(request, "message_id", MESSAGE_ID_PATTERN,
                           "a message_id (1-128 of A-Z a-z 0-9 . _ : -)")
        status_code, document = await run_in_threadpool(self.service.message, source, message_id)
        return JSONResponse(document, status_code=status_code)

    # Person reads.

    async def get_balances(self, request: Request) -> Response:
        person = parameters.person(request.path_params["person"])
        today = dt.date.today()
        as_of = parameters.date(request.query_params, "as_of") or today
        known_at = parameters.timestamp(request.query_params, "known_at")
        fast = self.service.cached_reads
        if fast is not None and known_at is None and as_of == today:
            body = await fast.body(self.service.ledger.person_key(person), today)
            if body is None:
                body = await run_in_threadpool(self.service.balance_of_today, person, today)
            return tagged_body(request, body)
        if fast is not None and fast.dated:
            return tagged(request, (await fast.answer(person, as_of, known_at)).document)
        document = await run_in_threadpool(self.service.balance, person, as_of, known_at)
        return tagged(request, document)

    async def get_postings(self, request: Request) -> Response:
        person = parameters.person(request.path_params["person"])
        query = request.query_params
        lines = pages.LinesQuery(parameters.date(query, "from"), parameters.date(query, "to"),
                                 parameters.choice(query, "account", pages.ACCOUNTS))
        if lines.start and lines.end and lines.start > lines.end:
            raise Problem(400, "invalid_parameter", "from must not be after to")
        limit = parameters.limit(query, limits.POSTINGS_PAGE_LINES_DEFAULT,
                                 limits.POSTINGS_PAGE_LINES_MAX)
        document = await run_in_threadpool(self.service.postings, person, lines,
                                           query.get("cursor"), limit)
        return tagged(request, document)

    async def get_accrual(self, request: Request) -> Response:
        person = parameters.person(request.path_params["person"])
        year = parameters.whole(request.path_params["year"], "year", limits.ACCRUAL_YEAR_MIN,
                                limits.ACCRUAL_YEAR_MAX)
        assert year is not None
        return JSONResponse(await run_in_threadpool(self.service.accrual, person, year))

    async def get_quote(self, request: Request) -> Response:
        person = parameters.person(request.path_params["person"])
        query = request.query_params
        certification = parameters.required(query, "certification", CERTIFICATION_PATTERN,
                                            "1-128 of A-Z a-z 0-9 . _ : -")
        price = parameters.required(query, "price_eur", PRICE_PATTERN,
                                    "a non-negative decimal with at most two decimals")
        on = parameters.date(query, "on") or dt.date.today()
        document = await run_in_threadpool(self.service.quote, person, certification, price, on)
        return JSONResponse(document)

    # Audit.

    async def get_audit_events(self, request: Request) -> Response:
        person = parameters.person(request.path_params["person"])
        limit = parameters.limit(request.query_params, limits.AUDIT_PAGE_EVENTS_DEFAULT,
                                 limits.AUDIT_PAGE_EVENTS_MAX)
        cursor = request.query_params.get("cursor")
        document = await run_in_threadpool(self.service.audit_events, person, cursor, limit)
        return JSONResponse(document)

    async def get_verify(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.service.verify))

    # Operations.

    async def get_healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def get_readyz(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.service.readiness))

    async def get_metrics(self, request: Request) -> Response:
        lag = await run_in_threadpool(self._lag_or_none)
        return Response(self.metrics.render(lag), media_type=CONTENT_TYPE)

    def _lag_or_none(self) -> int | None:
        try:
            return self.service.projection_lag()
        except STORE_ERRORS:
            return None  # a scrape answers even when the store does not; /readyz says why


def _path(request: Request, name: str, pattern: str, description: str) -> str:
    value: str = request.path_params[name]
    return parameters.required({name: value}, name, pattern, description)
