"""The pages' login refuses an address that failed too often: 429 with Retry-After, no token
checked, until its window closes; other addresses are not affected. In-process, with the
failed logins' clock moved by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from ledger.config import Settings
from ledger.http.app import create_app
from ledger.http.limits import LOGIN_FAILURES_MAX, LOGIN_WINDOW_SECONDS
from ledger.http.service import LedgerService
from ledger.http.settings import HttpSettings
from ledger.web.logins import FailedLogins
from tests.http.server import TOKENS, write_tokens
from tests.support import memory_ledger

GUESSER = "203.0.113.7"
NEIGHBOUR = "198.51.100.9"


class Stopwatch:
    """Seconds that stand still until the test moves them."""

    def __init__(self) -> None:
        self.seconds = 1_000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def clock() -> Stopwatch:
    return Stopwatch()


@pytest.fixture
def app(tmp_path: Path, clock: Stopwatch) -> ASGIApp:
    tokens = write_tokens(tmp_path / "tokens")
    settings = HttpSettings(Settings.from_environment({"CPA_API_TOKENS_FILE": str(tokens)}), 0)
    return create_app(settings, LedgerService(memory_ledger(), 0), login_clock=clock)


def _request(app: ASGIApp, address: str, method: str, path: str, data: dict[str, str] | None,
             headers: dict[str, str]) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(address, 50_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, data=data, headers=headers)

    return asyncio.run(send())


def _log_in(app: ASGIApp, address: str, token: str, **headers: str) -> httpx.Response:
    return _request(app, address, "POST", "/pages/login", {"token": token, "next": "/pages/"},
                    headers)


def _fail_up_to_the_limit(app: ASGIApp, address: str = GUESSER) -> None:
    for attempt in range(LOGIN_FAILURES_MAX):
        assert _log_in(app, address, f"guess-{attempt}").status_code == 401, attempt


def test_the_last_allowed_failure_is_401_and_the_next_attempt_429(app: ASGIApp) -> None:
    _fail_up_to_the_limit(app)
    refused = _log_in(app, GUESSER, "one-more-guess")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == str(LOGIN_WINDOW_SECONDS)
    assert 'id="login-blocked"' in refused.text and 'id="login-failed"' not in refused.text
    assert "set-cookie" not in refused.headers


def test_a_blocked_address_is_refused_a_valid_token_until_its_window_closes(
        app: ASGIApp, clock: Stopwatch) -> None:
    _fail_up_to_the_limit(app)
    clock.seconds += LOGIN_WINDOW_SECONDS - 1
    refused = _log_in(app, GUESSER, TOKENS["read"])
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
    assert "set-cookie" not in refused.headers
    clock.seconds += 1
    assert _log_in(app, GUESSER, TOKENS["read"]).status_code == 303


def test_after_the_window_failures_are_counted_afresh(app: ASGIApp, clock: Stopwatch) -> None:
    _fail_up_to_the_limit(app)
    clock.seconds += LOGIN_WINDOW_SECONDS
    _fail_up_to_the_limit(app)
    assert _log_in(app, GUESSER, "one-more-guess").status_code == 429


def test_another_address_is_not_blocked(app: ASGIApp) -> None:
    _fail_up_to_the_limit(app)
    assert _log_in(app, GUESSER, TOKENS["read"]).status_code == 429
    assert _log_in(app, NEIGHBOUR, "a-typo").status_code == 401
    assert _log_in(app, NEIGHBOUR, TOKENS["read"]).status_code == 303


def test_a_successful_login_does_not_reset_its_address_count(app: ASGIApp) -> None:
    for attempt in range(LOGIN_FAILURES_MAX - 1):
        assert _log_in(app, GUESSER, f"guess-{attempt}").status_code == 401
    assert _log_in(app, GUESSER, TOKENS["read"]).status_code == 303
    assert _log_in(app, GUESSER, "last-guess").status_code == 401
    assert _log_in(app, GUESSER, TOKENS["audit"]).status_code == 429


def test_the_refusal_is_in_the_reader_language(app: ASGIApp) -> None:
    _fail_up_to_the_limit(app)
    refused = _log_in(app, GUESSER, "guess", **{"Accept-Language": "fr"})
    assert refused.status_code == 429 and refused.headers["content-language"] == "fr"
    assert "infructueux depuis votre adresse" in refused.text and "dans 5 min" in refused.text


def test_refusals_are_counted_by_route_and_status(app: ASGIApp) -> None:
    _fail_up_to_the_limit(app)
    _log_in(app, GUESSER, "guess")
    metrics = _request(app, GUESSER, "GET", "/metrics", None, {}).text
    assert ('cpa_http_requests_total{method="POST",route="/pages/login",status="429"} 1.0'
            in metrics)
    assert (f'cpa_http_requests_total{{method="POST",route="/pages/login",status="401"}} '
            f'{LOGIN_FAILURES_MAX}.0' in metrics)


def test_the_addresses_tracked_are_bounded_the_oldest_forgotten(clock: Stopwatch) -> None:
    logins = FailedLogins(clock, addresses_max=2)
    for address in (GUESSER, NEIGHBOUR, "192.0.2.1"):
        for _ in range(LOGIN_FAILURES_MAX):
            logins.failed(address)
        clock.seconds += 1
    assert list(logins.windows) == [NEIGHBOUR, "192.0.2.1"]
    assert logins.retry_after(GUESSER) is None
    assert logins.retry_after(NEIGHBOUR) == LOGIN_WINDOW_SECONDS - 2


def test_closed_windows_are_forgotten(clock: Stopwatch) -> None:
    logins = FailedLogins(clock)
    logins.failed(GUESSER)
    clock.seconds += LOGIN_WINDOW_SECONDS
    assert logins.retry_after(NEIGHBOUR) is None and not logins.windows
