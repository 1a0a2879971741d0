"""Bearer tokens and scopes: every endpoint x every scope, no token and a wrong token, on a real
server; and the rules without a tokens file (development, production)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ledger.config import ConfigurationError
from ledger.http.auth import SCOPES, parse_tokens
from ledger.http.routes import OPERATIONS, Operation
from tests.http import server as servers
from tests.http.server import Server, problem_of
from tests.support import identifier

PERSON = identifier("A")
# A request per guarded operation that passes every check but authorisation.
REQUESTS = {
    "post_messages": ("POST", "/v1/messages", b"[]"),
    "get_message": ("GET", "/v1/messages/dsn/never-sent", None),
    "get_balances": ("GET", f"/v1/persons/{PERSON}/balances", None),
    "get_postings": ("GET", f"/v1/persons/{PERSON}/postings", None),
    "get_accrual": ("GET", f"/v1/persons/{PERSON}/accruals/2020", None),
    "get_quote": ("GET", f"/v1/persons/{PERSON}/quote?certification=C1&price_eur=0", None),
    "get_audit_events": ("GET", f"/v1/audit/persons/{PERSON}/events", None),
    "get_verify": ("GET", "/v1/audit/verify", None),
}
GUARDED = [operation for operation in OPERATIONS if operation.scopes]
PUBLIC = [operation for operation in OPERATIONS if not operation.scopes]


def _handler(operation: Operation) -> str:
    return operation.handler


def _call(server: Server, handler: str, token: str | None) -> httpx.Response:
    method, path, body = REQUESTS[handler]
    return server.client(token).request(method, path, content=body,
                                        headers={"content-type": "application/json"})


def test_every_guarded_operation_has_a_probe() -> None:
    assert sorted(REQUESTS) == sorted(operation.handler for operation in GUARDED)


@pytest.mark.parametrize("operation", GUARDED, ids=_handler)
def test_scope_matrix(server: Server, operation: Operation) -> None:
    for scope in SCOPES:
        response = _call(server, operation.handler, servers.TOKENS[scope])
        if scope in operation.scopes or scope == "admin":
            assert response.status_code not in (401, 403), (scope, response.text)
            assert response.status_code < 500, response.text
        else:
            assert response.status_code == 403, (scope, response.status_code)
            assert problem_of(response)["reason"] == "insufficient_scope"
            assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("operation", GUARDED, ids=_handler)
@pytest.mark.parametrize(("token", "reason"), [(None, "missing_token"),
                                                ("not-a-listed-token", "invalid_token")])
def test_no_valid_token_is_401(server: Server, operation: Operation, token: str | None,
                               reason: str) -> None:
    response = _call(server, operation.handler, token)
    assert response.status_code == 401
    assert problem_of(response)["reason"] == reason
    assert response.headers["www-authenticate"].startswith('Bearer realm="cpa-ledger"')


def test_other_authorization_schemes_are_401(server: Server) -> None:
    client = server.client()
    response = client.get(f"/v1/persons/{PERSON}/balances",
                          headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert problem_of(response)["reason"] == "invalid_token"


@pytest.mark.parametrize("operation", PUBLIC, ids=_handler)
def test_public_operations_need_no_token(server: Server, operation: Operation) -> None:
    response = server.client().get(operation.path)
    assert response.status_code == 200


def test_development_without_tokens_file_holds_every_scope(tmp_path: Path) -> None:
    running = servers.start(f"sqlite:///{tmp_path / 'dev.db'}", tmp_path / "serve.log",
                            CPA_ENV="development", CPA_API_TOKENS_FILE=None)
    try:
        client = running.client()
        assert client.get(f"/v1/persons/{PERSON}/balances").status_code == 200
        assert client.get("/v1/audit/verify").status_code == 200
        assert "every request holds every scope" in running.log()
    finally:
        running.stop()


def test_production_without_tokens_file_accepts_no_token(tmp_path: Path) -> None:
    running = servers.start(f"sqlite:///{tmp_path / 'prod.db'}", tmp_path / "serve.log",
                            CPA_API_TOKENS_FILE=None)
    try:
        for token in (None, servers.TOKENS["admin"]):
            response = running.client(token).get(f"/v1/persons/{PERSON}/balances")
            assert response.status_code == 401
            problem_of(response)
        assert running.client().get("/healthz").status_code == 200
    finally:
        running.stop()


def test_a_mistaken_tokens_file_stops_serve_with_the_line(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("portal sha256:1234 read\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"tokens:1: token must be sha256: and 64 hex"):
        servers.start(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "serve.log",
                      CPA_API_TOKENS_FILE=str(tokens))


def test_tokens_file_syntax() -> None:
    digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    clients = parse_tokens(f"# clients\n\nportal sha256:{digest} read  # the portal\n"
                           f"ops sha256:{digest.upper()[:-1]}9 audit,ingest\n", "tokens")
    assert [(c.name, sorted(c.scopes)) for c in clients] == [
        ("portal", ["read"]), ("ops", ["audit", "ingest"])]
    assert clients[0].digest == bytes.fromhex(digest)


@pytest.mark.parametrize(("text", "message"), [
    ("portal sha256:abc read", "64 hex"),
    ("portal {d} reading", "unknown scope 'reading'"),
    ("portal {d}", "expected NAME"),
    ("portal {d} read\nportal {e} read", "client name is listed twice"),
    ("portal {d} read\nother {d} read", "digest is listed twice"),
    ("por/tal {d} read", "client name"),
])
def test_tokens_file_mistakes_are_named(text: str, message: str) -> None:
    d, e = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    with pytest.raises(ConfigurationError, match=message):
        parse_tokens(text.format(d=d, e=e), "tokens")
