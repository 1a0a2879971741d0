"""Feed messages in, a Message or a Rejection out: the hot path in front of every consumer.

Order of checks, first failure wins: size, UTF-8 JSON object, envelope schema, type, version,
person, data schema, semantic refinements. Only expected operating errors are caught; anything
else is a bug and propagates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson
from fastjsonschema import JsonSchemaValueException

from ledger.identity import InvalidPerson, normalise
from schemas.model import Message, Reason, Rejection, RejectionError, violation
from schemas.refinements import INVALID_IDENTIFIER
from schemas.registry import (
    ENVELOPE_FILE_NAME,
    MessageSchema,
    envelope_validator,
    load_supported,
    read_document,
)

MESSAGE_SIZE_MAX_BYTES = 65_536
# Details travel in Kafka headers and outcome rows: bounded, whatever the message holds.
DETAIL_LENGTH_MAX_CHARS = 300

ENVELOPE_DOCUMENT: Mapping[str, Any] = MappingProxyType(read_document(ENVELOPE_FILE_NAME))
SUPPORTED: Mapping[tuple[str, int], MessageSchema] = load_supported()

_ENVELOPE = envelope_validator(ENVELOPE_DOCUMENT)
_KNOWN_TYPES = frozenset(type_ for type_, _ in SUPPORTED)
# A rejection names its source and message_id only when they could key an outcome record.
_SOURCE = re.compile(ENVELOPE_DOCUMENT["properties"]["source"]["pattern"])
_MESSAGE_ID = re.compile(ENVELOPE_DOCUMENT["properties"]["message_id"]["pattern"])
_FORMAT_NAMES = {
    "date": "a real calendar date (YYYY-MM-DD)",
    "date-time": "an RFC 3339 timestamp with an offset",
}
# Rejection details say in words what a pattern asks: they reach people, who read no regexes.
_PATTERN_NAMES = {
    r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$":
        "a non-negative decimal string with at most two decimals, e.g. \"151.67\"",
    r"^[0-9]{14}$": "a 14-digit SIRET",
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "a date YYYY-MM-DD",
    r"^[A-Za-z0-9._:-]{1,128}$": "1 to 128 characters among A-Z a-z 0-9 . _ : -",
    r"^[a-z0-9._:-]{1,64}$": "1 to 64 characters among a-z 0-9 . _ : -",
}
_JSON_TYPE_NAMES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def parse(raw: bytes | str) -> Message | Rejection:
    """Decodes one UTF-8 JSON message of at most MESSAGE_SIZE_MAX_BYTES and validates it."""
    try:
        decoded = orjson_loads(bounded_bytes(raw))
    except RejectionError as rejected:
        # Undecodable input is identified by its bytes, so that sending it again is a duplicate.
        raw_bytes = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        return Rejection(rejected.reason, rejected.detail, None, None, None,
                         hashlib.sha256(raw_bytes).hexdigest())
    return validate(decoded)


def validate(obj: object) -> Message | Rejection:
    """Validates one decoded message; never raises on a JSON value, whatever its shape."""
    try:
        return message_of(json_object(obj))
    except RejectionError as rejected:
        return rejection_of(obj, rejected)


def digest(obj: object) -> str:
    """Content identity: SHA-256 of the canonical JSON (keys sorted) of the whole message."""
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()


def bounded_bytes(raw: bytes | str) -> bytes:
    """The message as UTF-8 bytes, refused when over the size limit."""
    # A text longer than the limit in characters is longer in bytes: no need to encode it.
    if len(raw) > MESSAGE_SIZE_MAX_BYTES:
        raise RejectionError(Reason.OVERSIZED, f"message exceeds {MESSAGE_SIZE_MAX_BYTES} bytes")
    if isinstance(raw, bytes):
        return raw
    try:
        encoded = raw.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RejectionError(Reason.MALFORMED, "message is not valid UTF-8 text") from error
    return bounded_bytes(encoded)


def orjson_loads(encoded: bytes) -> object:
    """The decoded JSON value, or `malformed`."""
    try:
        return orjson.loads(encoded)
    except orjson.JSONDecodeError as error:
        raise RejectionError(Reason.MALFORMED, f"message is not UTF-8 JSON: {error}") from error


def json_object(obj: object) -> dict[str, Any]:
    """The message when it is a JSON object, else `malformed`."""
    if not isinstance(obj, dict):
        name = _JSON_TYPE_NAMES.get(type(obj), type(obj).__name__)
        raise RejectionError(Reason.MALFORMED, f"message must be a JSON object, not {name}")
    return obj


def message_of(obj: dict[str, Any]) -> Message:
    """The typed message, once every check passed."""
    check_envelope(obj)
    schema = schema_for(obj["type"], obj["version"])
    person = person_of(obj.get("person"))
    published_at: str = obj["published_at"]
    return Message(
        message_id=obj["message_id"],
        source=obj["source"],
        type=schema.type,
        version=schema.version,
        person=person,
        published_at=published_at,
        published_on=published_at[:10],
        supersedes=obj.get("supersedes"),
        data=data_of(schema, obj["data"], person),
        # Every string of a valid message is constrained, so it always serialises.
        digest=digest(obj),
    )


def check_envelope(obj: dict[str, Any]) -> None:
    """The envelope schema, then a message that does not supersede itself."""
    try:
        _ENVELOPE(obj)
    except JsonSchemaValueException as error:
        raise violation(describe(error, "message")) from error
    if obj.get("supersedes") == obj["message_id"]:
        raise violation("message.supersedes must not be the message's own message_id")


def schema_for(type_: str, version: int) -> MessageSchema:
    """The data schema of the pair, or `unknown_type` / `unsupported_version`."""
    schema = SUPPORTED.get((type_, version))
    if schema is not None:
        return schema
    if type_ not in _KNOWN_TYPES:
        shown = json.dumps(type_)[:DETAIL_LENGTH_MAX_CHARS]
        raise RejectionError(Reason.UNKNOWN_TYPE, f"message.type {shown} is not in the contract")
    detail = f"message.version {version} is not supported for {type_}"
    raise RejectionError(Reason.UNSUPPORTED_VERSION, detail)


def person_of(raw: str | None) -> str | None:
    """The normalised identifier; None only where the envelope schema forbids a person."""
    if raw is None:
        return None
    try:
        return normalise(raw)
    except InvalidPerson as error:
        # The detail never repeats the identifier: it travels to outcome records and headers.
        detail = f"message.person {INVALID_IDENTIFIER}"
        raise RejectionError(Reason.INVALID_PERSON, detail) from error


def data_of(schema: MessageSchema, raw: dict[str, Any], person: str | None) -> Mapping[str, Any]:
    """The validated data: a read-only copy with defaults applied and values converted."""
    check_data(schema, raw)
    data = {**schema.defaults, **raw}
    for name, convert in schema.converters:
        if name in data:
            data[name] = convert(data[name])
    schema.refine(data, person)
    return MappingProxyType(data)


def check_data(schema: MessageSchema, raw: dict[str, Any]) -> None:
    """The data schema of the message's type and version."""
    try:
        schema.validate_data(raw)
    except JsonSchemaValueException as error:
        raise violation(describe(error, "data")) from error
    except RecursionError as error:
        # fastjsonschema compares array items for uniqueItems before checking their type, and
        # that comparison recurses: a deeply nested item is hostile input, not a bug.
        raise violation("data holds an array item nested too deeply") from error


def _pattern_name(pattern: str) -> str:
    if pattern in _PATTERN_NAMES:
        return _PATTERN_NAMES[pattern]
    if pattern.startswith("^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]"):
        return _FORMAT_NAMES["date-time"]
    return "in the shape the contract gives for it"


def describe(error: JsonSchemaValueException, root: str) -> str:
    """A human message naming the path from `root` and why it failed."""
    # fastjsonschema calls the validated value "data"; root says whose path it is.
    name = error.name or "data"
    path = root + name.removeprefix("data")
    if error.rule == "format":
        return f"{path} must be {_FORMAT_NAMES.get(error.rule_definition, error.rule_definition)}"
    if error.rule == "pattern":
        return f"{path} must be {_pattern_name(str(error.rule_definition))}"
    if error.rule == "required" and isinstance(error.rule_definition, list):
        present = error.value if isinstance(error.value, dict) else {}
        missing = ", ".join(str(name) for name in error.rule_definition if name not in present)
        return f"{path} must contain {missing}"
    if error.rule == "oneOf":
        names = [field for option in error.rule_definition for field in option["required"]]
        return f"{path} must contain exactly one of {', '.join(names)}"
    return path + error.message.removeprefix(name)


def rejection_of(obj: object, rejected: RejectionError) -> Rejection:
    """The rejection, with whatever could be read from the message."""
    fields = obj if isinstance(obj, dict) else {}
    person = fields.get("person")
    return Rejection(
        reason=rejected.reason,
        detail=rejected.detail[:DETAIL_LENGTH_MAX_CHARS],
        source=readable(fields.get("source"), _SOURCE),
        message_id=readable(fields.get("message_id"), _MESSAGE_ID),
        person=person if isinstance(person, str) else None,
        digest=digest_or_none(obj),
    )


def readable(value: object, pattern: re.Pattern[str]) -> str | None:
    """The value when it is a string of the envelope's shape for that field."""
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    return None


def digest_or_none(obj: object) -> str | None:
    """The digest, or None when orjson cannot serialise the object."""
    try:
        return digest(obj)
    except orjson.JSONEncodeError:
        # Lone surrogates, non-string keys, integers beyond 64 bits, nesting past orjson's limit.
        return None
