"""The OpenAPI 3.1 document of the service, built once at start-up from the route table
(`routes.OPERATIONS`: paths, methods, scopes) and what `openapi_operations` says of each."""

from __future__ import annotations

import copy
from typing import Any

from ledger.http import openapi_operations, openapi_schemas
from ledger.http.auth import ADMIN
from ledger.http.openapi_operations import DESCRIPTION, PARAMETERS, problem
from ledger.http.routes import OPERATIONS, Operation

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
TITLE = "cpa-ledger"
SECURITY_SCHEME = "bearer"


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": API_VERSION, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": openapi_schemas.components(),
            "parameters": PARAMETERS,
            "headers": _headers(),
            "securitySchemes": {SECURITY_SCHEME: {
                "type": "http", "scheme": "bearer",
                "description": "A token listed (SHA-256 hashed) in CPA_API_TOKENS_FILE."}},
        },
    }


def _operation(operation: Operation) -> dict[str, Any]:
    spec = copy.deepcopy(openapi_operations.SPECIFIC[operation.handler])
    spec["operationId"] = operation.handler
    spec["parameters"] = [*spec.get("parameters", ()),
                          {"$ref": "#/components/parameters/RequestId"}]
    responses = spec["responses"]
    if operation.scopes:
        scopes = [*operation.scopes, ADMIN]
        spec["security"] = [{SECURITY_SCHEME: [scope]} for scope in scopes]
        spec["description"] = (spec.get("description", "") + "\n\nScopes: "
                               + " or ".join(f"`{scope}`" for scope in scopes) + ".").strip()
        responses["401"] = problem("No token (`missing_token`) or not a valid one "
                                   "(`invalid_token`).", "WWW-Authenticate")
        responses["403"] = problem("The token lacks the scope (`insufficient_scope`).",
                                   "WWW-Authenticate")
        responses.setdefault("503", problem("The store does not answer "
                                            "(`store_unavailable`).", "Retry-After"))
    else:
        spec["security"] = []
    responses["500"] = problem("Unexpected failure (`internal_error`); no details are given, "
                               "the request id names it in the logs.")
    spec["responses"] = dict(sorted(responses.items()))
    return spec


def _headers() -> dict[str, Any]:
    def header(description: str, required: bool = False) -> dict[str, Any]:
        return {"description": description, "required": required,
                "schema": {"type": "string"}}

    return {
        "RequestId": header("The request's id: the client's X-Request-Id or a fresh one.",
                            required=True),
        "ETag": header("Strong validator of the body.", required=True),
        "WWW-Authenticate": header("Bearer challenge (RFC 6750).", required=True),
        "Retry-After": header("Seconds to wait before trying again."),
    }
