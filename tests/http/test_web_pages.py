"""The pages for people, in a real headless browser (Chromium through WebDriver) against a
real `cpa-ledger serve`, on both backends: no token shows the login problem and no data; after
logging in with a read token the person's page renders, its chart has one point per year-end
and today, and its figures are the API's; an audit token opens the auditor's page, whose chain
values are the API's. A few checks of the same pages over plain HTTP (language, scopes, the
cookie) complete them.

Set CPA_WRITE_SCREENSHOTS=1 to rewrite the screenshots committed under docs/.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from ledger.web.session import COOKIE
from tests.http import browser, feeds
from tests.http.server import TOKENS, Server
from tests.support import Feed, identifier

PERSON = identifier("D")
STRANGER = identifier("E")
ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "docs"
TOPUP_EXPIRES = "2027-06-30"
LOGIN_WAIT_SECONDS = 10


@pytest.fixture(scope="module")
def loaded(server: Server) -> Server:
    """Person D: full-time 2015-2024, years 2015-2023 closed (2024 pending), a top-up that
    expires, a training started in 2022 and one ordered in 2024 (its rights held)."""
    feed = Feed("pages")
    messages = [
        *feeds.career(feed, PERSON, range(2015, 2025)),
        *feeds.closes(feed, range(2015, 2024)),
        feeds.topup(feed, PERSON, 1, "300.00", granted_on="2025-06-02",
                    expires_on=TOPUP_EXPIRES),
        feeds.order(feed, PERSON, "o-2022", "200.00", "2022-05-02"),
        feed.message("training.entered", {"order_id": "o-2022", "entered_on": "2022-06-01"},
                     person=PERSON, published="2022-06-01"),
        feeds.order(feed, PERSON, "o-2024", "450.00", "2024-03-01"),
    ]
    assert server.post(messages)["accepted"] == len(messages)
    server.project()
    return server


@pytest.fixture(scope="module")
def session() -> Iterator[WebDriver]:
    with browser.chromium() as driver:
        yield driver


def _log_in(session: WebDriver, server: Server, scope: str) -> None:
    session.delete_all_cookies()
    session.get(server.base_url + "/pages/login")
    session.find_element(By.ID, "token").send_keys(TOKENS[scope])
    session.find_element(By.CSS_SELECTOR, "form.query button[type=submit]").click()
    # The click returns before the login's answer: wait for its cookie, or the next page
    # would be asked without it (an intermittent failure on a loaded machine).
    WebDriverWait(session, LOGIN_WAIT_SECONDS).until(
        lambda driver: driver.get_cookie(COOKIE) is not None)


def _api(server: Server, path: str, scope: str = "read", **query: str) -> Any:
    response = server.client(scope=scope).get(path, params=query)
    assert response.status_code == 200, response.text
    return response.json()


def _screenshot(session: WebDriver, name: str, width: int = browser.WINDOW[0]) -> None:
    if os.environ.get("CPA_WRITE_SCREENSHOTS"):
        browser.full_page_screenshot(session, str(SCREENSHOTS / name), width)  # type: ignore[arg-type]


def test_without_a_token_the_page_is_the_login_problem(loaded: Server,
                                                      session: WebDriver) -> None:
    session.delete_all_cookies()
    session.get(f"{loaded.base_url}/pages/persons/{PERSON}")
    assert session.find_element(By.ID, "login-problem").is_displayed()
    assert session.find_elements(By.ID, "balances") == []
    assert session.find_elements(By.CSS_SELECTOR, "circle.point") == []
    balance = _api(loaded, f"/v1/persons/{PERSON}/balances")
    assert balance["available"] not in session.page_source
    if loaded.postgres is False:
        _screenshot(session, "page-login.png")


def test_the_person_page_shows_the_api_figures(loaded: Server, session: WebDriver) -> None:
    _log_in(session, loaded, "read")
    session.get(f"{loaded.base_url}/pages/persons/{PERSON}")
    assert session.find_element(By.TAG_NAME, "h1").text.endswith(PERSON)
    balance = _api(loaded, f"/v1/persons/{PERSON}/balances")
    shown = {row.get_attribute("data-bucket"): row.find_element(By.CSS_SELECTOR, "td.num")
             for row in session.find_elements(By.CSS_SELECTOR, "#balances tr[data-bucket]")}
    for name, account in balance["accounts"].items():
        assert shown[name].get_attribute("data-value") == str(account["balance"]), name
        assert shown[name].get_attribute("data-unit") == account["unit"], name
    assert shown["held"].get_attribute("data-value") == balance["held"]
    assert shown["available"].get_attribute("data-value") == balance["available"]
    # (WebDriver reads the no-break space before the unit as a space.)
    assert shown["available"].text == f"{float(balance['available']):,.2f} €"
    pending = [(row.get_attribute("data-year"),
                row.find_element(By.CSS_SELECTOR, "td").get_attribute("data-value"))
               for row in session.find_elements(By.CSS_SELECTOR, "#pending tr[data-year]")]
    assert pending == [(str(row["year"]), row["cpf"]) for row in balance["pending"]]
    assert pending and balance["held"] == "450.00"
    grant = session.find_element(By.CSS_SELECTOR, "#topups tr[data-grant]")
    assert grant.find_element(By.CSS_SELECTOR, "td.expires").get_attribute(
        "data-value") == TOPUP_EXPIRES
    draws = session.find_elements(By.CSS_SELECTOR, "#orders tr[data-order='o-2022'] li")
    assert [d.get_attribute("data-value") for d in draws] == ["200.00"]
    years = [s.get_attribute("data-year") for s in session.find_elements(
        By.CSS_SELECTOR, "section[data-year]")]
    assert years == [str(year) for year in range(2015, 2025)]
    _screenshot(session, "page-person.png") if not loaded.postgres else None


def test_the_chart_has_a_point_per_year_end_and_today(loaded: Server,
                                                     session: WebDriver) -> None:
    _log_in(session, loaded, "read")
    session.get(f"{loaded.base_url}/pages/persons/{PERSON}")
    points = session.find_elements(By.CSS_SELECTOR, "svg.chart circle.point")
    first = _api(loaded, f"/v1/persons/{PERSON}/postings", limit="1")["postings"][0]["on"]
    today = dt.date.today()
    assert len(points) == today.year - int(first[:4]) + 1
    dates = [point.get_attribute("data-date") for point in points]
    assert dates[-1] == today.isoformat()
    for point in (points[0], points[3], points[-1]):
        on = point.get_attribute("data-date")
        assert on is not None
        expected = _api(loaded, f"/v1/persons/{PERSON}/balances", as_of=on)["available"]
        assert point.get_attribute("data-value") == expected, on
    charts = session.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert [c.get_attribute("data-unit") for c in charts] == ["hours", "EUR"]
    assert sum(int(c.get_attribute("data-points") or 0) for c in charts) == len(points)


def test_the_page_reads_on_a_phone(loaded: Server, session: WebDriver) -> None:
    _log_in(session, loaded, "read")
    session.set_window_size(*browser.PHONE)
    try:
        session.get(f"{loaded.base_url}/pages/persons/{PERSON}?lang=fr")
        assert session.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        overflow = session.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0  # wide tables scroll inside their own box
        if not loaded.postgres:
            _screenshot(session, "page-person-phone-fr.png", browser.PHONE[0])
    finally:
        session.set_window_size(*browser.WINDOW)


def test_the_audit_page_shows_the_api_chain(loaded: Server, session: WebDriver) -> None:
    _log_in(session, loaded, "read")
    session.get(f"{loaded.base_url}/pages/audit/persons/{PERSON}")
    assert session.find_elements(By.ID, "events") == []  # a read token is not an audit token
    _log_in(session, loaded, "audit")
    session.get(f"{loaded.base_url}/pages/audit/persons/{PERSON}")
    events = _api(loaded, f"/v1/audit/persons/{PERSON}/events", scope="audit")["events"]
    rows = session.find_elements(By.CSS_SELECTOR, "#events tr[data-version]")
    assert len(rows) == len(events)
    shown = rows[-1].find_element(By.CSS_SELECTOR, "dd[data-link=person]").text
    assert shown == events[-1]["person_link"]
    if not loaded.postgres:
        _screenshot(session, "page-audit.png")


# Plain HTTP: language, scopes and the cookie.

def _page(server: Server, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.base_url + path, headers=headers, follow_redirects=False,
                     timeout=60)


def test_accept_language_picks_french(loaded: Server) -> None:
    bearer = {"Authorization": f"Bearer {TOKENS['read']}"}
    french = _page(loaded, f"/pages/persons/{PERSON}", **bearer,
                   **{"Accept-Language": "de-DE, fr;q=0.8, en;q=0.5"})
    assert french.status_code == 200
    assert french.headers["content-language"] == "fr" and "Soldes" in french.text
    english = _page(loaded, f"/pages/persons/{PERSON}", **bearer)
    assert english.headers["content-language"] == "en" and "Balances" in english.text


def test_pages_answer_the_login_problem_not_data(loaded: Server) -> None:
    for path in (f"/pages/persons/{PERSON}", f"/pages/audit/persons/{PERSON}",
                 "/pages/audit/verify", "/pages/audit/messages?source=dsn&message_id=x"):
        response = _page(loaded, path)
        assert response.status_code == 401, path
        assert 'id="login-problem"' in response.text, path
        assert "data-value" not in response.text and "<table" not in response.text, path
    wrong = _page(loaded, f"/pages/persons/{PERSON}", Cookie="cpa_token=bm90LWEtdG9rZW4")
    assert wrong.status_code == 401
    forbidden = _page(loaded, "/pages/audit/verify",
                      Authorization=f"Bearer {TOKENS['read']}")
    assert forbidden.status_code == 403


def test_logging_in_sets_an_http_only_cookie_for_the_pages_only(loaded: Server) -> None:
    response = httpx.post(loaded.base_url + "/pages/login", timeout=60,
                          data={"token": TOKENS["read"], "next": "https://elsewhere.example/"})
    assert response.status_code == 303 and response.headers["location"] == "/pages/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "path=/pages" in cookie and "samesite=lax" in cookie
    page = _page(loaded, f"/pages/persons/{PERSON}", Cookie=response.headers["set-cookie"]
                 .split(";")[0])
    assert page.status_code == 200 and 'id="balances"' in page.text
    api = _page(loaded, f"/v1/persons/{PERSON}/balances",
                Cookie=response.headers["set-cookie"].split(";")[0])
    assert api.status_code == 401  # the cookie opens the pages, never the API
    refused = httpx.post(loaded.base_url + "/pages/login", data={"token": "nope"}, timeout=60)
    assert refused.status_code == 401 and "set-cookie" not in refused.headers


def test_the_docs_link_the_pages(loaded: Server) -> None:
    assert 'href="/pages/"' in _page(loaded, "/docs").text


def test_an_unknown_person_is_a_page_not_a_trace(loaded: Server) -> None:
    bearer = {"Authorization": f"Bearer {TOKENS['read']}"}
    assert _page(loaded, "/pages/persons/123", **bearer).status_code == 400
    unknown = _page(loaded, f"/pages/persons/{STRANGER}", **bearer)
    assert unknown.status_code == 200 and "Traceback" not in unknown.text
    message = _page(loaded, "/pages/audit/messages?source=dsn&message_id=nothing",
                    Authorization=f"Bearer {TOKENS['audit']}")
    assert message.status_code == 404 and "<h1>" in message.text


def test_the_auditor_verifies_and_looks_up_a_message(loaded: Server) -> None:
    audit = {"Authorization": f"Bearer {TOKENS['audit']}"}
    verified = _page(loaded, "/pages/audit/verify", **audit)
    assert verified.status_code == 200 and 'id="verdict" data-value="ok"' in verified.text
    found = _page(loaded, "/pages/audit/messages?source=marketplace&message_id=pages20", **audit)
    assert found.status_code == 200
    document = _api(loaded, "/v1/messages/marketplace/pages20", scope="audit")
    assert f'data-value="{document["outcome"]}"' in found.text
    assert document["detail"] in found.text
