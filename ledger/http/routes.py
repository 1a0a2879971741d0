"""The route table: every endpoint with its method, path and the scopes that may call it.
The OpenAPI document and the authorisation both read it, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger.http.auth import Authenticator

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    handler: str  # the Handlers method that answers it; also the OpenAPI operationId
    scopes: tuple[str, ...]  # empty: no token needed


OPERATIONS = (
    Operation("POST", "/v1/messages", "post_messages", ("ingest",)),
    Operation("GET", "/v1/messages/{source}/{message_id}", "get_message", ("ingest", "audit")),
    Operation("GET", "/v1/persons/{person}/balances", "get_balances", ("read",)),
    Operation("GET", "/v1/persons/{person}/postings", "get_postings", ("read",)),
    Operation("GET", "/v1/persons/{person}/accruals/{year}", "get_accrual", ("read",)),
    Operation("GET", "/v1/persons/{person}/quote", "get_quote", ("read",)),
    Operation("GET", "/v1/audit/persons/{person}/events", "get_audit_events", ("audit",)),
    Operation("GET", "/v1/audit/verify", "get_verify", ("audit",)),
    Operation("GET", "/healthz", "get_healthz", ()),
    Operation("GET", "/readyz", "get_readyz", ()),
    Operation("GET", "/metrics", "get_metrics", ()),
    Operation("GET", "/openapi.json", "get_openapi", ()),
    Operation("GET", "/docs", "get_docs", ()),
    Operation("GET", "/asyncapi.json", "get_asyncapi", ()),
)


def guarded(endpoint: Endpoint, scopes: tuple[str, ...], authenticator: Authenticator) -> Endpoint:
    """The endpoint, answered only for a client holding one of `scopes`."""
    if not scopes:
        return endpoint

    async def guarded_endpoint(request: Request) -> Response:
        authenticator.authorise(request.headers.get("authorization"), scopes)
        return await endpoint(request)

    return guarded_endpoint


def build(endpoints: dict[str, Endpoint], authenticator: Authenticator) -> list[Route]:
    return [
        Route(operation.path, guarded(endpoints[operation.handler], operation.scopes,
                                      authenticator), methods=[operation.method])
        for operation in OPERATIONS
    ]
