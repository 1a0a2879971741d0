"""Errors as RFC 9457 problem documents, each with a machine-readable `reason` code.

Handlers raise `Problem`; the exception handlers registered here turn it, Starlette's own HTTP
errors (404 route, 405 method) and any unexpected exception (500, without a stack trace) into
`application/problem+json` responses. Nothing the service answers is HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from ledger.http.responses import problem_response

TYPE_PREFIX = "urn:cpa-ledger:problem:"
REQUEST_ID_KEY = "cpa.request_id"
# Reasons of Starlette's own errors, by status.
_HTTP_REASONS = {
    404: "not_found",
    405: "method_not_allowed",
}


class Problem(Exception):
    """An expected error, answered as a problem document."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def bad_parameter(detail: str, reason: str = "invalid_parameter") -> Problem:
    return Problem(400, reason, detail)


def document(request: Request, status: int, reason: str, detail: str) -> dict[str, Any]:
    """The members every problem document has."""
    return {
        "type": TYPE_PREFIX + reason,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "reason": reason,
        "request_id": request.scope.get(REQUEST_ID_KEY),
    }


async def on_problem(request: Request, error: Exception) -> Response:
    assert isinstance(error, Problem)
    body = {**document(request, error.status, error.reason, error.detail), **error.extra}
    return problem_response(error.status, body, error.headers)


async def on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    reason = _HTTP_REASONS.get(error.status_code, "http_error")
    detail = error.detail if error.status_code not in _HTTP_REASONS else _route_detail(
        request, error.status_code)
    body = document(request, error.status_code, reason, detail)
    return problem_response(error.status_code, body, error.headers)


def _route_detail(request: Request, status: int) -> str:
    if status == 405:
        return f"{request.method} is not allowed on this path"
    return "no such route; see /openapi.json"


async def on_unexpected(request: Request, error: Exception) -> Response:
    """500: the trace goes to the log (`observability` logs it with the request id), never to
    the client."""
    body = document(request, 500, "internal_error",
                    "the service failed to answer; the request id names it in the logs")
    return problem_response(500, body)


EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {
    Problem: on_problem,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}
