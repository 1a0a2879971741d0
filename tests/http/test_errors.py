"""Every error the service can produce is an RFC 9457 problem document with a reason code,
never HTML and never a stack trace; per-message rejections are outcomes, not HTTP errors."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from eventsourcing.persistence import OperationalError

from ledger.config import Settings
from ledger.http import limits
from ledger.http.app import create_app
from ledger.http.service import LedgerService
from ledger.http.settings import HttpSettings
from tests.http.conformance import conforms
from tests.http.server import Server, problem_of
from tests.support import Feed, identifier, memory_ledger

PERSON = identifier("A")
BAD_PERSON = PERSON[:-2] + "00"


@pytest.mark.parametrize(("method", "path", "status", "reason"), [
    ("GET", "/nope", 404, "not_found"),
    ("GET", "/v1/persons", 404, "not_found"),
    ("GET", f"/v1/persons/{PERSON}/balances/extra", 404, "not_found"),
    ("DELETE", "/v1/messages", 405, "method_not_allowed"),
    ("POST", "/healthz", 405, "method_not_allowed"),
    ("PUT", f"/v1/persons/{PERSON}/balances", 405, "method_not_allowed"),
])
def test_routing_errors(server: Server, method: str, path: str, status: int,
                        reason: str) -> None:
    response = server.client(scope="admin").request(method, path)
    assert response.status_code == status
    assert problem_of(response)["reason"] == reason
    if status == 405:
        assert "GET" in response.headers["allow"] or "POST" in response.headers["allow"]


@pytest.mark.parametrize("path", [
    f"/v1/persons/{BAD_PERSON}/balances", f"/v1/persons/{BAD_PERSON}/postings",
    f"/v1/persons/{BAD_PERSON}/accruals/2020",
    f"/v1/persons/{BAD_PERSON}/quote?certification=C&price_eur=1",
    f"/v1/audit/persons/{BAD_PERSON}/events", "/v1/persons/short/balances",
])
def test_invalid_person(server: Server, path: str) -> None:
    response = server.client(scope="admin").get(path)
    assert response.status_code == 400
    assert problem_of(response)["reason"] == "invalid_person"


@pytest.mark.parametrize(("path", "params"), [
    ("balances", {"as_of": "2025-13-01"}), ("balances", {"as_of": "20250101"}),
    ("balances", {"as_of": "1899-12-31"}), ("balances", {"as_of": "3000-01-01"}),
    ("balances", {"known_at": "2025-01-01T00:00:00"}), ("balances", {"known_at": "yesterday"}),
    ("postings", {"limit": "0"}), ("postings", {"limit": "1001"}), ("postings", {"limit": "x"}),
    ("postings", {"from": "2025-01-02", "to": "2025-01-01"}), ("postings", {"account": "gold"}),
    ("accruals/2014", {}), ("accruals/3000", {}), ("accruals/twenty", {}),
    ("quote", {"certification": "C", "price_eur": "1", "on": "2025-1-1"}),
])
def test_invalid_parameters(server: Server, path: str, params: dict[str, str]) -> None:
    response = server.client(scope="admin").get(f"/v1/persons/{PERSON}/{path}", params=params)
    assert response.status_code == 400, response.text
    assert problem_of(response)["reason"] == "invalid_parameter"


def test_an_unencoded_plus_in_known_at_is_understood(server: Server) -> None:
    path = f"/v1/persons/{PERSON}/balances?known_at=2025-01-01T00:00:00+01:00"
    response = server.client(scope="read").get(path)
    assert response.status_code == 200
    assert response.json()["known_at"] == "2025-01-01T00:00:00+01:00"


def test_audit_limit_is_bounded(server: Server) -> None:
    response = server.client(scope="audit").get(
        f"/v1/audit/persons/{PERSON}/events", params={"limit": limits.AUDIT_PAGE_EVENTS_MAX + 1})
    assert problem_of(response)["reason"] == "invalid_parameter"


def test_unknown_message_and_bad_keys(server: Server) -> None:
    client = server.client(scope="audit")
    assert problem_of(client.get("/v1/messages/dsn/never"))["reason"] == "unknown_message"
    assert problem_of(client.get("/v1/messages/DSN!/x"))["reason"] == "invalid_parameter"


def test_body_that_is_not_json_is_400(server: Server) -> None:
    response = server.client(scope="ingest").post(
        "/v1/messages", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert problem_of(response)["reason"] == "malformed"


def test_body_that_is_not_declared_json_is_415(server: Server) -> None:
    response = server.client(scope="ingest").post(
        "/v1/messages", content=b"{}", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert problem_of(response)["reason"] == "unsupported_media_type"


def test_body_over_the_size_limit_is_413(server: Server) -> None:
    body = b"[" + b" " * limits.REQUEST_BODY_SIZE_MAX_BYTES + b"]"
    response = server.client(scope="ingest").post(
        "/v1/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert problem_of(response)["reason"] == "body_too_large"


def test_too_many_messages_is_413(server: Server) -> None:
    response = server.client(scope="ingest").post(
        "/v1/messages", json=[{}] * (limits.MESSAGES_PER_REQUEST_MAX + 1))
    assert response.status_code == 413
    assert problem_of(response)["reason"] == "too_many_messages"


def test_each_element_of_an_array_gets_its_own_outcome(server: Server) -> None:
    feed = Feed("elements")
    valid = feed.employment(2020, "1607", person="C")
    oversized = {**feed.employment(2021, "1607", person="C"), "padding": "x" * 70_000}
    wrong_person = {**feed.employment(2022, "1607", person="C"), "person": BAD_PERSON}
    body: list[Any] = [valid, 42, {"message_id": "m"}, oversized, wrong_person, valid,
                       {**valid, "data": {**valid["data"], "hours_worked": "1"}}]
    response = server.client(scope="ingest").post("/v1/messages", json=body)
    assert response.status_code == 200
    outcomes = conforms(response.json(), "IngestResult")["outcomes"]
    assert [(o["outcome"], o["reason"]) for o in outcomes] == [
        ("accepted", None), ("rejected", "malformed"), ("rejected", "schema_violation"),
        ("rejected", "oversized"), ("rejected", "invalid_person"), ("duplicate", None),
        ("rejected", "conflicting_duplicate")]
    assert outcomes[3]["message_id"] == oversized["message_id"]


def test_an_empty_array_has_no_outcomes(server: Server) -> None:
    response = server.client(scope="ingest").post("/v1/messages", json=[])
    assert response.json() == {"outcomes": [],
                               "counts": {"accepted": 0, "duplicate": 0, "rejected": 0}}


class _FailingService(LedgerService):
    def balance(self, person: str, as_of: dt.date, known_at: dt.datetime | None) -> Any:
        raise RuntimeError("secret internals")

    def postings(self, *arguments: Any) -> dict[str, Any]:
        raise OperationalError("database is gone")


def _in_process_get(path: str) -> httpx.Response:
    """The failing service behind the real application, called in-process."""
    settings = HttpSettings(Settings.from_environment({"CPA_ENV": "development"}), 0)
    app = create_app(settings, _FailingService(memory_ledger(), 0))

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(get())


def test_an_unexpected_error_is_a_500_problem_without_details() -> None:
    response = _in_process_get(f"/v1/persons/{PERSON}/balances")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    document = response.json()
    assert document["reason"] == "internal_error"
    assert document["request_id"] == response.headers["x-request-id"]
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_a_store_failure_is_a_503_problem() -> None:
    response = _in_process_get(f"/v1/persons/{PERSON}/postings")
    assert response.status_code == 503
    assert response.json()["reason"] == "store_unavailable"
    assert response.headers["retry-after"] == "1"
