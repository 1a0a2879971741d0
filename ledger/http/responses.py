"""Responses: JSON bodies with orjson, problem documents, and entity tags."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Personal data: clients may keep a copy but must revalidate it (ETag) before using it.
PRIVATE_CACHE_CONTROL = "private, no-cache"
ETAG_DIGEST_CHARS = 32


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_body(document: Any) -> bytes:
    return orjson.dumps(document)


def entity_tag(body: bytes) -> str:
    """A strong validator: the SHA-256 of the exact body bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:ETAG_DIGEST_CHARS] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison of the tag with each listed one, or `*`."""
    if not if_none_match:
        return False
    candidates = (part.strip().removeprefix("W/") for part in if_none_match.split(","))
    return any(candidate in ("*", tag) for candidate in candidates)


def tagged(request: Request, document: Any) -> Response:
    """200 with the document and its ETag, or 304 when the client's copy is current."""
    return tagged_body(request, json_body(document))


def tagged_body(request: Request, body: bytes) -> Response:
    """`tagged` for a document already serialised."""
    tag = entity_tag(body)
    headers = {"ETag": tag, "Cache-Control": PRIVATE_CACHE_CONTROL}
    if matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSONResponse.media_type, headers=headers)


def problem_response(
    status: int, document: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(dict(document)), status_code=status,
                    media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {}))
