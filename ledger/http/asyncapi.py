"""The AsyncAPI 3.0 document of the ledger's Kafka topics: the inbound feed, its dead letters,
the outbound postings stream and, with a shard map, the shards' control topic. Served at
`/asyncapi.json` and committed as `docs/asyncapi.json` (`python -m ledger.http.asyncapi >
docs/asyncapi.json`; a test checks the two are equal).

The feed's messages reuse the contract's JSON Schema files as the OpenAPI document does (the
envelope and each type's `data`, `openapi_schemas.message_schemas`): they are draft-07, which
is AsyncAPI's default schema format. The topic names are the defaults; each is a setting.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from consumers.control import CONTROL_TOPIC
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
# What `consumers.control` writes on the control topic (checked by the same test).
CONTROL_KIND_HEADER = "cpa-control"
CONTROL_ORIGIN_HEADER = "cpa-origin"
CONTROL_KINDS = ("close", "forward", "merge-request", "transfer")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def document() -> dict[str, Any]:
    feed_messages = _feed_messages()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:cpa-ledger:kafka",
        "info": _info(),
        "defaultContentType": "application/json",
        "servers": {"kafka": {
            "host": "localhost:9092", "protocol": "kafka",
            "description": "The brokers of CPA_KAFKA_BOOTSTRAP_SERVERS."}},
        "channels": _channels(feed_messages),
        "operations": _operations(feed_messages),
        "components": {
            "schemas": {**_contract_schemas(), **_outbound_schemas(), **_control_schemas()},
            "messages": {**feed_messages, "deadLetter": _dead_letter(),
                         "outbound": _outbound(), **_control_messages()},
        },
    }


def _info() -> dict[str, Any]:
    return {
        "title": f"{TITLE} Kafka topics", "version": API_VERSION,
        "description": (
            "What the ledger reads from and writes to Apache Kafka. Producers publish "
            "feed messages on the inbound topic (`CPA_KAFKA_TOPICS`), keyed by the "
            "person's identifier so that one person's messages keep their order. A record "
            "the ledger rejects goes to the dead-letter topic (`CPA_KAFKA_DLQ_TOPIC`) with "
            "its reason. Every posting and order decision the ledger records is published "
            "on the postings topic (`CPA_KAFKA_POSTINGS_TOPIC`), keyed by person key. The "
            "same feed messages are accepted by `POST /v1/messages` (see /docs). With a shard "
            "map, the consumers pass what concerns another shard (year-close copies, "
            "forwarded messages, cross-shard merges) on the control topic "
            "(`CPA_KAFKA_CONTROL_TOPIC`): internal, written and read by the ledger only."),
    }


def _channels(feed_messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "feed": {"address": FEED_TOPIC, "title": "Inbound feed",
                 "description": "Feed messages of every type, one JSON object a record.",
                 "messages": {name: {"$ref": f"#/components/messages/{name}"}
                              for name in feed_messages}},
        "deadLetters": {"address": DEAD_LETTER_TOPIC, "title": "Dead letters",
                        "messages": {"deadLetter": {"$ref": "#/components/messages/"
                                                            "deadLetter"}}},
        "postings": {"address": POSTINGS_TOPIC, "title": "Postings and order decisions",
                     "messages": {"outbound": {"$ref": "#/components/messages/outbound"}}},
        "control": {"address": CONTROL_TOPIC, "title": "Shards' control records",
                    "description": (
                        "With a shard map only, internal to the ledger. As many partitions "
                        "as the inbound topics; a shard's control partition is the first "
                        "partition it owns. Records carry no key: they are sent to that "
                        "partition, and every record from one origin partition to one "
                        "shard keeps its origin order. A record may arrive twice (a crash "
                        "after the acknowledgement): close and forward copies are dropped "
                        "by their origin, merge requests and transfers by the outcomes "
                        "they record. A record that cannot be decoded or is refused goes "
                        "to the dead-letter topic."),
                    "messages": {name: {"$ref": f"#/components/messages/{name}"}
                                 for name in _CONTROL_MESSAGES}},
    }


def _operations(feed_messages: dict[str, Any]) -> dict[str, Any]:
    return {
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
        "sendControl": {
            "action": "send", "channel": {"$ref": "#/channels/control"},
            "summary": "What a shard's consumer tells another shard, once per inbound "
                       "record, before its position moves past it.",
            "messages": [{"$ref": f"#/channels/control/messages/{name}"}
                         for name in _CONTROL_MESSAGES]},
        "receiveControl": {
            "action": "receive", "channel": {"$ref": "#/channels/control"},
            "summary": "The shard owning the partition decides each record once.",
            "messages": [{"$ref": f"#/channels/control/messages/{name}"}
                         for name in _CONTROL_MESSAGES]},
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


# Control message name → (kind header, title, summary, payload schema).
_CONTROL_MESSAGES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "controlClose": ("close", "A year close copied to one shard",
                     "The `accrual.year.closed` record's value, byte for byte, copied by the "
                     "consumer that read it to every shard, which records its own close and "
                     "sweep.", _ref("Envelope.v1")),
    "controlForward": ("forward", "A message forwarded to the survivor's shard",
                       "The value, byte for byte, of a message about an identifier merged into "
                       "a person of another shard: that shard decides it.", _ref("Envelope.v1")),
    "controlMergeRequest": ("merge-request", "A cross-shard merge request",
                            "The `person.merged` record's value, byte for byte, sent by the "
                            "survivor's shard to the absorbed identifier's shard.",
                            _ref("Envelope.v1")),
    "controlTransfer": ("transfer", "A transferred history",
                        "Sent by the absorbed identifier's shard to the survivor's: the merge "
                        "message and the absorbed account as it was before the merge (or why "
                        "the merge was refused there).", _ref("ControlTransfer")),
}


def _control_messages() -> dict[str, Any]:
    assert tuple(kind for kind, *_ in _CONTROL_MESSAGES.values()) == CONTROL_KINDS
    messages = {}
    for name, (kind, title, summary, payload) in _CONTROL_MESSAGES.items():
        headers = {
            CONTROL_KIND_HEADER: {"const": kind, "description": "The record's kind."},
            CONTROL_ORIGIN_HEADER: {
                **_STRING, "pattern": "^.+:[0-9]+:[0-9]+$",
                "description": "`<topic>:<partition>:<offset>` of the inbound record this one "
                               "comes from: the receiving shard keeps a position per origin "
                               "partition and drops a copy it already has."}}
        messages[name] = {
            "name": name, "title": title, "summary": summary,
            "contentType": "application/json",
            "headers": {"type": "object", "required": list(headers), "properties": headers},
            "payload": payload,
            "bindings": {"kafka": {"bindingVersion": _KAFKA_BINDING_VERSION, "key": {
                "type": "null", "description": "None: the record is sent to the receiving "
                                               "shard's control partition."}}},
        }
    return messages


def _control_schemas() -> dict[str, Any]:
    return {
        "ControlTransfer": {
            "type": "object", "required": ["message", "transfer"],
            "description": "A transfer's payload (`consumers.control.transfer_value`).",
            "properties": {
                "message": {**_STRING, "description": "The `person.merged` record's value, as "
                                                      "a JSON string."},
                "transfer": {**_STRING, "description": "A `ControlTransferState`, as a JSON "
                                                       "string."}}},
        "ControlTransferState": {
            "type": "object", "required": ["absorbed_key", "state", "reason", "detail"],
            "description": "What moves (`ledger.transfers.Transfer`).",
            "properties": {
                "absorbed_key": {**_STRING, "pattern": "^[0-9a-f]{64}$",
                                 "description": "The absorbed identifier's person key."},
                "state": {"type": ["object", "null"],
                          "description": "The absorbed account's state before the merge; null "
                                         "when its shard refused the merge."},
                "reason": {"type": ["string", "null"],
                           "description": "The refusal's reason code, or null."},
                "detail": _STRING}},
    }


def rendered() -> bytes:
    """The document as served and committed: indented JSON, keys in a stable order."""
    return orjson.dumps(document(), option=orjson.OPT_INDENT_2) + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(rendered())
