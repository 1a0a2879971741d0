"""The AsyncAPI 3.0 document of the ledger's Kafka topics: the inbound feed, its dead letters
and the outbound postings stream. Served at `/asyncapi.json` and committed as
`docs/asyncapi.json` (`python -m ledger.http.asyncapi > docs/asyncapi.json`; a test checks the
two are equal).

The feed's messages reuse the contract's JSON Schema files as the OpenAPI document does (the
envelope and each type's `data`, `openapi_schemas.message_schemas`): they are draft-07, which
is AsyncAPI's default schema format. The topic names are the defaults; each is a setting.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from consumers.settings import DEAD_LETTER_TOPIC, POSTINGS_TOPIC
from ledger.http import openapi_schemas
from ledger.http.openapi import API_VERSION, TITLE
from ledger.http.openapi_schemas import PERSON_PATTERN, data_schema_name
from schemas import SUPPORTED

ASYNCAPI_VERSION = "3.0.0"
FEED_TOPIC = "cpa.feed.v1"
REF = "#/components/schemas/"
_KAFKA_BINDING_VERSION = "0.5.0"
_STRING = {"type": "string"}
# What `consumers.deadletters` and `consumers.publisher` write (not imported: they load the
# Kafka client; tests/test_asyncapi.py checks that these agree with them).
DEAD_LETTER_HEADERS = ("reason", "detail", "source-topic", "source-partition", "source-offset")
OUTBOUND_KINDS = ("posting", "order_placed", "order_updated", "identity_merged")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def document() -> dict[str, Any]:
    feed_messages = _feed_messages()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:cpa-ledger:kafka",
        "info": {
            "title": f"{TITLE} Kafka topics", "version": API_VERSION,
            "description": (
                "What the ledger reads from and writes to Apache Kafka. Producers publish "
                "feed messages on the inbound topic (`CPA_KAFKA_TOPICS`), keyed by the "
                "person's identifier so that one person's messages keep their order. A record "
                "the ledger rejects goes to the dead-letter topic (`CPA_KAFKA_DLQ_TOPIC`) with "
                "its reason. Every posting and order decision the ledger records is published "
                "on the postings topic (`CPA_KAFKA_POSTINGS_TOPIC`), keyed by person key. The "
                "same feed messages are accepted by `POST /v1/messages` (see /docs)."),
        },
        "defaultContentType": "application/json",
        "servers": {"kafka": {
            "host": "localhost:9092", "protocol": "kafka",
            "description": "The brokers of CPA_KAFKA_BOOTSTRAP_SERVERS."}},
        "channels": {
            "feed": {"address": FEED_TOPIC, "title": "Inbound feed",
                     "description": "Feed messages of every type, one JSON object a record.",
                     "messages": {name: {"$ref": f"#/components/messages/{name}"}
                                  for name in feed_messages}},
            "deadLetters": {"address": DEAD_LETTER_TOPIC, "title": "Dead letters",
                            "messages": {"deadLetter": {"$ref": "#/components/messages/"
                                                                "deadLetter"}}},
            "postings": {"address": POSTINGS_TOPIC, "title": "Postings and order decisions",
                         "messages": {"outbound": {"$ref": "#/components/messages/outbound"}}},
        },
        "operations": {
            "consumeFeed": {
                "action": "receive", "channel": {"$ref": "#/channels/feed"},
                "summary": "The ledger decides each record: accepted, duplicate or rejected.",
                "messages": [{"$ref": f"#/channels/feed/messages/{name}"}
                             for name in feed_messages]},
            "sendDeadLetters": {
                "action": "send", "channel": {"$ref": "#/channels/deadLetters"},
                "summary": "Each rejected inbound record, with the reason of its rejection.",
                "messages": [{"$ref": "#/channels/deadLetters/messages/deadLetter"}]},
            "sendPostings": {
                "action": "send", "channel": {"$ref": "#/channels/postings"},
                "summary": "Every posting and order decision, once the ledger recorded it.",
                "messages": [{"$ref": "#/channels/postings/messages/outbound"}]},
        },
        "components": {
            "schemas": {**_contract_schemas(), **_outbound_schemas()},
            "messages": {**feed_messages, "deadLetter": _dead_letter(),
                         "outbound": _outbound()},
        },
    }


def _contract_schemas() -> dict[str, Any]:
    schemas = openapi_schemas.message_schemas()
    schemas.pop("MessageBatch", None)  # an HTTP body, not a record
    return schemas


def _feed_messages() -> dict[str, Any]:
    """One message per contract type and version: the envelope with that type's data."""
    messages = {}
    for type_, version in sorted(SUPPORTED):
        name = data_schema_name(type_, version)
        messages[name] = {
            "name": name, "title": f"{type_} v{version}",
            "contentType": "application/json",
            "payload": {"allOf": [
                _ref("Envelope.v1"),
                {"type": "object", "properties": {
                    "type": {"const": type_}, "version": {"const": version},
                    "data": _ref(name)}}]},
            "bindings": {"kafka": {"bindingVersion": _KAFKA_BINDING_VERSION, "key": {
                **_STRING, "pattern": PERSON_PATTERN,
                "description": "The person's identifier (NIR or NIA with its key); operator "
                               "messages that name no person may use any key."}}},
        }
    return messages


def _dead_letter() -> dict[str, Any]:
    headers = {
        "reason": {**_STRING, "description": "The rejection's reason code, e.g. "
                                             "`schema_violation`."},
        "detail": {**_STRING, "description": "Why, in words (truncated to a bounded size)."},
        "source-topic": {**_STRING, "description": "The inbound topic of the record."},
        "source-partition": {**_STRING, "pattern": "^[0-9]+$",
                             "description": "Its partition, in decimal."},
        "source-offset": {**_STRING, "pattern": "^[0-9]+$",
                          "description": "Its offset, in decimal; with the topic and "
                                         "partition, a key to deduplicate on."},
    }
    assert tuple(headers) == DEAD_LETTER_HEADERS
    return {
        "name": "deadLetter", "title": "A rejected inbound record",
        "summary": "The original record's key and value bytes, unchanged, with headers that "
                   "say why it was rejected and where it came from.",
        "contentType": "application/octet-stream",
        "headers": {"type": "object", "required": list(headers), "properties": headers},
        "payload": {"description": "The original value, byte for byte (often not JSON: that "
                                   "may be why it was rejected)."},
        "bindings": {"kafka": {"bindingVersion": _KAFKA_BINDING_VERSION,
                               "key": {"description": "The original key, unchanged."}}},
    }


def _outbound() -> dict[str, Any]:
    return {
        "name": "outbound", "title": "A posting or an order decision",
        "contentType": "application/json",
        "headers": {"type": "object", "required": ["event-id", "kind"], "properties": {
            "event-id": {**_STRING, "pattern": "^[0-9]+:[0-9]+$",
                         "description": "`<notification id>:<line>`, stable across resends: "
                                        "deduplicate on it."},
            "kind": {"enum": list(OUTBOUND_KINDS)}}},
        "payload": _ref("OutboundRecord"),
        "bindings": {"kafka": {"bindingVersion": _KAFKA_BINDING_VERSION, "key": {
            **_STRING, "pattern": "^[0-9a-f]{64}$",
            "description": "The person key (HMAC-SHA-256 of the identifier, hex): the ledger "
                           "publishes no identifier in clear."}}},
    }


def _outbound_schemas() -> dict[str, Any]:
    common = {
        "event_id": {**_STRING, "pattern": "^[0-9]+:[0-9]+$"},
        "person_key": {**_STRING, "pattern": "^[0-9a-f]{64}$"},
        "source": _STRING, "message_id": _STRING, "message_type": _STRING,
        "recorded_at": {**_STRING, "format": "date-time"},
    }
    variants = {
        "posting": {"posting": _ref("OutboundPosting")},
        "order_placed": {"order": _ref("OutboundOrder")},
        "order_updated": {"order_id": _STRING,
                          "fields": {"type": "object",
                                     "description": "The order's fields that changed."}},
        "identity_merged": {"absorbed_key": {
            **_STRING, "pattern": "^[0-9a-f]{64}$",
            "description": "The person key merged into this one (its postings moved here)."}},
    }
    assert tuple(variants) == OUTBOUND_KINDS
    return {
        "OutboundRecord": {
            "description": "One record of the postings topic; `kind` says which fields follow.",
            "oneOf": [{"type": "object", "required": [*common, "kind", *fields],
                       "properties": {**common, "kind": {"const": kind}, **fields}}
                      for kind, fields in variants.items()]},
        "OutboundPosting": {
            "type": "object", "required": ["on", "account", "amount", "unit", "kind"],
            "description": "A statement line. `amount` is an integer: hundredths of the unit "
                           "(cents or hundredths of an hour), or points.",
            "properties": {
                "on": {**_STRING, "format": "date"},
                "account": {"enum": ["cpf", "dif", "cec", "topups", "c2p", "held"]},
                "amount": {"type": "integer"}, "unit": {"enum": ["EUR", "hours", "points"]},
                "kind": _STRING, "bucket": _STRING, "memo": _STRING, "year": {"type": "integer"},
                "order_id": _STRING, "grant_id": _STRING, "source": _STRING,
                "message_id": _STRING}},
        "OutboundOrder": {
            "type": "object", "required": ["order_id", "status", "unit", "price", "funded"],
            "description": "A training order as decided. Amounts are integers in hundredths "
                           "of `unit`.",
            "properties": {
                "order_id": _STRING, "status": _STRING, "ordered_on": {**_STRING,
                                                                       "format": "date"},
                "certification": _STRING, "provider": _STRING,
                "unit": {"enum": ["EUR", "hours"]}, "price": {"type": "integer"},
                "copay": {"type": "integer"}, "funded": {"type": "integer"},
                "out_of_pocket": {"type": "integer"}, "refunded": {"type": "integer"},
                "waived_by": {"type": ["string", "null"]},
                "draws": {"type": "array", "items": {"type": "object"}}}},
    }


def rendered() -> bytes:
    """The document as served and committed: indented JSON, keys in a stable order."""
    return orjson.dumps(document(), option=orjson.OPT_INDENT_2) + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(rendered())
