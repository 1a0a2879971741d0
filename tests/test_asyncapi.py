"""The AsyncAPI 3.0 document of the Kafka topics: valid against the specification's JSON
Schema (shipped in tests/asyncapi/, no network), reusing the contract's schemas, served at
/asyncapi.json without a token and committed as docs/asyncapi.json."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import orjson
import pytest

from ledger import demo
from ledger.config import Settings
from ledger.http import asyncapi
from ledger.http.app import create_app
from ledger.http.service import LedgerService
from ledger.http.settings import HttpSettings
from schemas import SUPPORTED, envelope_document, schema_document

ROOT = Path(__file__).resolve().parent.parent
SPECIFICATION = ROOT / "tests" / "asyncapi" / "asyncapi-3.0.0.schema.json"
COMMITTED = ROOT / "docs" / "asyncapi.json"


@pytest.fixture(scope="module")
def specification() -> jsonschema.Draft7Validator:
    schema = json.loads(SPECIFICATION.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_document_is_valid_asyncapi_3(specification: jsonschema.Draft7Validator) -> None:
    document = asyncapi.document()
    assert document["asyncapi"] == "3.0.0"
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in specification.iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize("damage", ["action", "address", "version"])
def test_the_validation_can_fail(specification: jsonschema.Draft7Validator, damage: str) -> None:
    document = copy.deepcopy(asyncapi.document())
    if damage == "action":
        document["operations"]["consumeFeed"]["action"] = "subscribe"  # AsyncAPI 2 wording
    elif damage == "address":
        document["channels"]["feed"]["address"] = 42
    else:
        document["asyncapi"] = "3.0"
    assert list(specification.iter_errors(document))


def test_four_topics_with_their_operations() -> None:
    document = asyncapi.document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"cpa.feed.v1", "cpa.feed.dlq.v1", "cpa.ledger.postings.v1",
                         "cpa.ledger.control.v1"}
    assert {op["action"] for op in document["operations"].values()} == {"receive", "send"}


def test_feed_messages_reuse_the_contract_schemas() -> None:
    schemas = asyncapi.document()["components"]["schemas"]
    assert schemas["Envelope.v1"]["properties"] == envelope_document()["properties"]
    for type_, version in SUPPORTED:
        assert schemas[f"{type_}.v{version}"]["properties"] == \
            schema_document(type_, version)["properties"]
    feed = asyncapi.document()["channels"]["feed"]["messages"]
    assert len(feed) == len(SUPPORTED)


def _payload_validator(name: str) -> jsonschema.Draft7Validator:
    document = asyncapi.document()
    payload = document["components"]["messages"][name]["payload"]
    return jsonschema.Draft7Validator({**payload, "components": document["components"]},
                                      format_checker=jsonschema.FormatChecker())


def test_demo_messages_match_their_payload_schema() -> None:
    validators: dict[str, jsonschema.Draft7Validator] = {}
    for message in demo.generate(demo.DemoSettings(persons=20, year_from=2015, year_to=2020)):
        name = f"{message['type']}.v{message['version']}"
        validator = validators.setdefault(name, _payload_validator(name))
        assert not list(validator.iter_errors(message)), message


def test_a_wrong_message_does_not_match() -> None:
    message = next(m for m in demo.generate(demo.DemoSettings(persons=5, year_from=2015,
                                                               year_to=2020))
                   if m["type"] == "employment.declared")
    validator = _payload_validator("employment.declared.v1")
    assert list(validator.iter_errors({**message, "data": {"employer": "nope"}}))
    assert list(validator.iter_errors({**message, "type": "person.retired"}))


def test_it_names_what_the_kafka_shell_writes() -> None:
    from consumers import control
    from consumers.deadletters import HEADER_NAMES
    from consumers.publisher import PUBLISHED_KINDS
    from consumers.settings import KafkaSettings

    assert asyncapi.DEAD_LETTER_HEADERS == HEADER_NAMES
    assert set(asyncapi.OUTBOUND_KINDS) == set(PUBLISHED_KINDS.values())
    assert set(asyncapi.CONTROL_KINDS) == control.KINDS
    assert (asyncapi.CONTROL_KIND_HEADER, asyncapi.CONTROL_ORIGIN_HEADER) == \
        (control.KIND_HEADER, control.ORIGIN_HEADER)
    settings = KafkaSettings.from_environment(
        Settings.from_environment({"CPA_KAFKA_BOOTSTRAP_SERVERS": "localhost:1"}), {})
    channels = asyncapi.document()["channels"]
    assert channels["deadLetters"]["address"] == settings.dead_letter_topic
    assert channels["postings"]["address"] == settings.postings_topic
    assert channels["feed"]["address"] == settings.topics[0]
    assert channels["control"]["address"] == settings.control_topic


def test_control_records_match_their_schemas() -> None:
    """What `consumers.control` writes: headers and payloads as the document says."""
    from consumers.control import ORIGIN_HEADER, Origin, transfer_value
    from ledger.transfers import Transfer

    document = asyncapi.document()
    merge = next(m for m in demo.generate(demo.DemoSettings(persons=5, year_from=2015,
                                                             year_to=2020)))
    raw = orjson.dumps(merge)
    transfer = transfer_value(raw, Transfer("ab" * 32, {"x": 1}).encode())
    messages = document["components"]["messages"]
    origin = Origin("cpa.feed.v1", 3, 17).encode().decode()
    for name, value in [("controlClose", raw), ("controlTransfer", transfer)]:
        message = messages[name]
        kind = message["headers"]["properties"]["cpa-control"]["const"]
        headers = {"cpa-control": kind, ORIGIN_HEADER: origin}
        for schema, instance in [(message["headers"], headers),
                                 (message["payload"], orjson.loads(value))]:
            validator = jsonschema.Draft7Validator({**schema,
                                                    "components": document["components"]})
            assert not list(validator.iter_errors(instance)), (name, instance)
    state = document["components"]["schemas"]["ControlTransferState"]
    inner = orjson.loads(orjson.loads(transfer)["transfer"])
    assert not list(jsonschema.Draft7Validator(state).iter_errors(inner))
    assert list(jsonschema.Draft7Validator(state).iter_errors({**inner, "state": 3}))


def test_served_without_a_token_and_equal_to_the_committed_file(tmp_path: Path) -> None:
    settings = HttpSettings.from_environment({
        "CPA_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}", "CPA_ENV": "production",
        "CPA_PERSON_KEY_SECRET": "asyncapi-tests-secret-0123456789abcdef",
        "CPA_API_TOKENS_FILE": str(_no_tokens(tmp_path))})
    service = LedgerService.build(settings)
    try:
        response, guarded = asyncio.run(_get(create_app(settings, service),
                                             ["/asyncapi.json", "/v1/audit/verify"]))
    finally:
        service.close()
    assert guarded.status_code == 401  # this app does require tokens elsewhere
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == COMMITTED.read_bytes(), \
        "docs/asyncapi.json is stale: python -m ledger.http.asyncapi > docs/asyncapi.json"
    assert orjson.loads(response.content) == asyncapi.document()


async def _get(app: Any, paths: list[str]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [await client.get(path) for path in paths]


def _no_tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("# no client\n", encoding="utf-8")
    return path
