"""The body of POST /v1/messages: read within its size limit, decoded, and turned into one
validated item per message (a Message, or a Rejection that the ledger records as an outcome)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

import schemas
from ledger.application import Item
from ledger.http import limits
from ledger.http.problems import Problem
from schemas.model import RejectionError
from schemas.validation import rejection_of

JSON_MEDIA_TYPE = "application/json"


def check_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        raise Problem(415, "unsupported_media_type",
                      f"send the messages as {JSON_MEDIA_TYPE}")


async def bounded_body(request: Request) -> bytes:
    """The body, or 413 as soon as it exceeds REQUEST_BODY_SIZE_MAX_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.REQUEST_BODY_SIZE_MAX_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.REQUEST_BODY_SIZE_MAX_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> Problem:
    return Problem(413, "body_too_large",
                   f"the body exceeds {limits.REQUEST_BODY_SIZE_MAX_BYTES} bytes")


def items_of(body: bytes) -> list[Item]:
    """One item per message: the body is one message or a JSON array of messages."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Problem(400, "malformed", f"the body is not UTF-8 JSON: {error}") from error
    if not isinstance(decoded, list):
        return [schemas.parse(body)]
    if len(decoded) > limits.MESSAGES_PER_REQUEST_MAX:
        raise Problem(413, "too_many_messages",
                      f"at most {limits.MESSAGES_PER_REQUEST_MAX} messages per request")
    return [_item(element) for element in decoded]


def _item(element: Any) -> Item:
    """Each element on its own, as if it had come alone (same checks, same outcome)."""
    if _size(element) > schemas.MESSAGE_SIZE_MAX_BYTES:
        detail = f"message exceeds {schemas.MESSAGE_SIZE_MAX_BYTES} bytes"
        return rejection_of(element, RejectionError(schemas.Reason.OVERSIZED, detail))
    return schemas.validate(element)


def _size(element: Any) -> int:
    """The element's size as compact JSON; 0 when it cannot be written back (nested past
    orjson's depth limit), which validation then rejects on its own terms."""
    try:
        return len(orjson.dumps(element))
    except orjson.JSONEncodeError:
        return 0
