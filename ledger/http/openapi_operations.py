"""What the OpenAPI document says of each operation: summary, parameters, responses."""

from __future__ import annotations

from typing import Any

from ledger.http import limits
from ledger.http.auth import SCOPES
from ledger.http.handlers import (
    CERTIFICATION_PATTERN,
    MESSAGE_ID_PATTERN,
    PRICE_PATTERN,
    SOURCE_PATTERN,
)
from ledger.http.openapi_schemas import DATE, PERSON_PATTERN, ref
from ledger.http.problems import TYPE_PREFIX

_PROBLEM = {"application/problem+json": {"schema": ref("Problem")}}
_ID_HEADER = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}

DESCRIPTION = f"""Event-sourced rights ledger of the French Compte personnel d'activité.

**Authentication.** `Authorization: Bearer TOKEN`; tokens and their scopes
({", ".join(f"`{s}`" for s in SCOPES)}) are listed, hashed, in `CPA_API_TOKENS_FILE`. `admin`
holds every scope. No token: 401 (`missing_token`); unknown token: 401 (`invalid_token`); token
without the operation's scope: 403 (`insufficient_scope`). Without a tokens file, in
`CPA_ENV=development` every request holds every scope; in production no token is accepted.
`/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs` need no token.

**Errors.** Every error is an RFC 9457 `application/problem+json` document whose `reason` is a
machine-readable code and whose `type` is `{TYPE_PREFIX}REASON`; `request_id` matches the
`X-Request-Id` response header. An unknown path answers 404 (`not_found`) and a method a path
does not offer 405 (`method_not_allowed`, with `Allow`). Per-message rejections of
`POST /v1/messages` are outcomes (HTTP 200), not errors.

**Pages.** Lists take `limit` and an opaque `cursor`; a page's `next_cursor` (null on the
last page) fetches the next. A cursor only works with the query it came from.

**Caching.** Balances and postings carry a strong `ETag`; send it back in `If-None-Match` to get
304 when nothing changed.

**Limits.** Request body: {limits.REQUEST_BODY_SIZE_MAX_BYTES} bytes; messages per request:
{limits.MESSAGES_PER_REQUEST_MAX}; dates: {limits.DATE_MIN} to {limits.DATE_MAX}.
"""


def _parameter(name: str, where: str, schema: dict[str, Any], description: str,
               required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description}


PARAMETERS: dict[str, dict[str, Any]] = {
    "Person": {**_parameter("person", "path", {"type": "string", "pattern": PERSON_PATTERN},
                            "NIR or NIA: 13 characters and the 2-digit key."),
               "examples": {"valid": {"value": "184037512345690"}}},
    "RequestId": _parameter("X-Request-Id", "header",
                            {"type": "string", "pattern": limits.REQUEST_ID_PATTERN},
                            "Echoed back; a fresh id is made when absent or malformed."),
    "IfNoneMatch": _parameter("If-None-Match", "header", {"type": "string"},
                              "An ETag from an earlier answer: 304 when still current."),
    "Cursor": _parameter("cursor", "query",
                         {"type": "string", "maxLength": limits.CURSOR_LENGTH_MAX_CHARS},
                         "Opaque: the `next_cursor` of the previous page."),
}


def ok(schema: str, description: str, *, tagged: bool = False,
        media_type: str = "application/json") -> dict[str, Any]:
    headers = {**_ID_HEADER}
    if tagged:
        headers["ETag"] = {"$ref": "#/components/headers/ETag"}
    return {"description": description, "headers": headers,
            "content": {media_type: {"schema": ref(schema) if schema else {"type": "string"}}}}


def problem(description: str, *headers: str) -> dict[str, Any]:
    named = {**_ID_HEADER, **{h: {"$ref": f"#/components/headers/{h}"} for h in headers}}
    return {"description": description, "headers": named, "content": _PROBLEM}


def _date_query(name: str, description: str) -> dict[str, Any]:
    return _parameter(name, "query", DATE, description)


def _limit(default: int, maximum: int) -> dict[str, Any]:
    return _parameter("limit", "query",
                      {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
                      f"Items per page (default {default}, at most {maximum}).")


def _person_ref() -> dict[str, str]:
    return {"$ref": "#/components/parameters/Person"}


SPECIFIC: dict[str, dict[str, Any]] = {
    "post_messages": {
        "summary": "Ingest one message or an array of messages",
        "description": f"One message, or a JSON array of up to {limits.MESSAGES_PER_REQUEST_MAX}"
                       ", decided in order as one batch (one transaction). Answers one outcome "
                       "per message, in order: `accepted`, `duplicate` (same source, "
                       "message_id and content as an earlier one) or `rejected` with a reason. "
                       "A year close (`accrual.year.closed`) is sent alone: it is swept in the "
                       "background and answered 202 with its status, whose `Location` "
                       "(`GET /v1/messages/{source}/{message_id}`) gives the persons settled so "
                       "far, then the recorded outcome.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [ref("Message"), ref("MessageBatch")]}}}},
        "responses": {"200": ok("IngestResult", "One outcome per message, in order."),
                      "202": ok("CloseStatus", "A year close, accepted and being swept."),
                      "400": problem("The body is not JSON (`malformed`)."),
                      "409": problem("The store is a replay for auditors, read-only "
                                     "(`read_only_store`)."),
                      "422": problem("A year close sent with other messages "
                                     "(`year_close_not_alone`)."),
                      "413": problem("Body over the size limit (`body_too_large`) or too many "
                                      "messages (`too_many_messages`)."),
                      "415": problem("Not application/json (`unsupported_media_type`).")},
    },
    "get_message": {
        "summary": "The recorded outcome of one message",
        "parameters": [
            _parameter("source", "path", {"type": "string", "pattern": SOURCE_PATTERN},
                       "The message's source."),
            _parameter("message_id", "path", {"type": "string", "pattern": MESSAGE_ID_PATTERN},
                       "The message's id.")],
        "responses": {"200": ok("MessageRecord", "The first outcome and every repeat."),
                      "202": ok("CloseStatus", "A year close whose sweep is under way."),
                      "400": problem("Malformed source or message_id (`invalid_parameter`)."),
                      "404": problem("No outcome recorded (`unknown_message`), or no route.")},
    },
    "get_balances": {
        "summary": "A person's balances",
        "parameters": [
            _person_ref(), _date_query("as_of", "Balances as of this date (default: today)."),
            _parameter("known_at", "query", {"type": "string", "format": "date-time"},
                       "As known at this RFC 3339 time (default: everything known)."),
            {"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": {"200": ok("Balance", "The balance document.", tagged=True),
                      "304": {"description": "Not modified.",
                              "headers": {**_ID_HEADER,
                                          "ETag": {"$ref": "#/components/headers/ETag"}}},
                      "400": problem("Invalid person (`invalid_person`) or parameter "
                                      "(`invalid_parameter`)."),
                      "404": problem("No route (`not_found`).")},
    },
    "get_postings": {
        "summary": "A person's statement: postings, oldest first",
        "parameters": [
            _person_ref(), _date_query("from", "First effective date."),
            _date_query("to", "Last effective date."),
            _parameter("account", "query",
                       {"enum": ["cpf", "dif", "cec", "topups", "c2p", "cpf_public", "held"]},
                       "Only this account's lines."),
            {"$ref": "#/components/parameters/Cursor"},
            _limit(limits.POSTINGS_PAGE_LINES_DEFAULT, limits.POSTINGS_PAGE_LINES_MAX),
            {"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": {"200": ok("PostingsPage", "One page of lines.", tagged=True),
                      "304": {"description": "Not modified.",
                              "headers": {**_ID_HEADER,
                                          "ETag": {"$ref": "#/components/headers/ETag"}}},
                      "400": problem("Invalid person (`invalid_person`), parameter "
                                     "(`invalid_parameter`) or cursor (`invalid_cursor`)."),
                      "404": problem("No route (`not_found`)."),
                      "409": problem("A line the cursor points after was superseded or "
                                     "retracted (`cursor_stale`): start again.")},
    },
    "get_accrual": {
        "summary": "How year N's accrual was computed",
        "parameters": [
            _person_ref(),
            _parameter("year", "path", {"type": "integer", "minimum": limits.ACCRUAL_YEAR_MIN,
                                        "maximum": limits.ACCRUAL_YEAR_MAX},
                       "The accrual year (CPF years: 2015 on).")],
        "responses": {"200": ok("Explanation", "The settlements of the year, or the pending "
                                "computation."),
                      "400": problem("Invalid person (`invalid_person`) or year "
                                     "(`invalid_parameter`)."),
                      "404": problem("No route (`not_found`)."),
                      "422": problem("The rulebook has no parameters for that year "
                                     "(`parameter_not_in_force`).")},
    },
    "get_quote": {
        "summary": "What a training order would get; records nothing",
        "description": "Decides a `training.ordered` for this person as the ledger would on "
                       "`on` (default today): funded amount, copay, out of pocket and the draw "
                       "by bucket. 422 when the order itself would be rejected.",
        "parameters": [
            _person_ref(),
            _parameter("certification", "query",
                       {"type": "string", "pattern": CERTIFICATION_PATTERN},
                       "The certification code.", required=True),
            _parameter("price_eur", "query", {"type": "string", "pattern": PRICE_PATTERN},
                       "The price in EUR.", required=True),
            _date_query("on", "The order date (default: today).")],
        "responses": {"200": ok("Quote", "What the order would get."),
                      "400": problem("Invalid person (`invalid_person`) or parameter "
                                     "(`invalid_parameter`)."),
                      "404": problem("No route (`not_found`)."),
                      "422": problem("The order would be rejected, with the ledger's reason "
                                     "(`insufficient_rights`, `account_closed`, "
                                     "`account_frozen`, `field_not_in_force`, ...).")},
    },
    "get_audit_events": {
        "summary": "A person's stored events with their hash-chain values",
        "description": "The events of the identifier's own person key, oldest first (an "
                       "absorbed identifier keeps its own events). On the embedded default "
                       "`link` is null (no global chain is kept there).",
        "parameters": [_person_ref(), {"$ref": "#/components/parameters/Cursor"},
                       _limit(limits.AUDIT_PAGE_EVENTS_DEFAULT, limits.AUDIT_PAGE_EVENTS_MAX)],
        "responses": {"200": ok("AuditEventsPage", "One page of events."),
                      "400": problem("Invalid person (`invalid_person`), parameter "
                                     "(`invalid_parameter`) or cursor (`invalid_cursor`)."),
                      "404": problem("No route (`not_found`).")},
    },
    "get_verify": {
        "summary": "Check the audit hash chain and the read models against a replay",
        "description": "The `cpa-ledger verify` result. On PostgreSQL it replays the whole log "
                       "(long on a large ledger; one at a time). On the embedded default the "
                       "read models are computed from the events, and the chain head is "
                       "recomputed.",
        "responses": {"200": ok("Verdict", "The verdict; `ok` false names the first "
                                "difference."),
                      "409": problem("Another verify is running (`verify_in_progress`).",
                                     "Retry-After")},
    },
    "get_healthz": {
        "summary": "Liveness",
        "responses": {"200": ok("Health", "The process answers.")},
    },
    "get_readyz": {
        "summary": "Readiness: store reachable, read models close enough to the events",
        "responses": {"200": ok("Ready", "Ready."),
                      "503": problem("Not ready: `store_unreachable`, or `projection_lag` over "
                                     "CPA_READY_LAG_MAX_EVENTS.")},
    },
    "get_metrics": {
        "summary": "Prometheus metrics (text format)",
        "responses": {"200": ok("", "Requests by route and status, latency histograms, "
                                "messages by outcome, projection lag.",
                                media_type="text/plain")},
    },
    "get_openapi": {
        "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3.1.", "headers": {**_ID_HEADER},
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    },
    "get_docs": {
        "summary": "This document as an HTML page",
        "responses": {"200": ok("", "HTML.", media_type="text/html")},
    },
    "get_asyncapi": {
        "summary": "The AsyncAPI 3.0 document of the Kafka topics",
        "description": "The inbound feed, its dead letters and the outbound postings stream, "
                       "with the same message schemas as `POST /v1/messages`.",
        "responses": {"200": {"description": "AsyncAPI 3.0.", "headers": {**_ID_HEADER},
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    },
}
