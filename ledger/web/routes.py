"""The pages' endpoints, under `/pages/`, beside the API in the same application.

Each page checks the request's token (header or login cookie, see `session`) with the API's
authenticator and the page's scopes; without a valid token it answers the login problem (401,
the login form, no data); with a token lacking the scope, 403. Errors are pages too, in the
reader's language: a browser shows them as they are. An address that failed to log in too often
is refused for a while without its token being checked (429, see `logins`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ledger.http import limits, parameters
from ledger.http.auth import SCOPES, Authenticator
from ledger.http.problems import Problem
from ledger.http.service import STORE_ERRORS, LedgerService
from ledger.web import i18n, session, views
from ledger.web.i18n import Words
from ledger.web.logins import FailedLogins

PREFIX = session.PATH
READ = ("read",)
AUDIT = ("audit",)
AUDIT_PAGE_EVENTS = 50
# Nothing is fetched from anywhere: no script at all, styles inline, images inline (SVG).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Vary": "Accept-Language, Authorization, Cookie",
}
STATUS_TITLES = {401: "login_needed", 403: "forbidden_title", 404: "not_found_title",
                 503: "unavailable_title"}

Page = Callable[[Request, Words], Awaitable[Response]]


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ledger.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    environment.filters["urlpart"] = lambda text: quote(str(text), safe="")
    return environment


class Pages:
    def __init__(self, service: LedgerService, authenticator: Authenticator,
                 logins: FailedLogins) -> None:
        self.service = service
        self.authenticator = authenticator
        self.logins = logins
        self.environment = templates()

    # Rendering.

    def render(self, request: Request, words: Words, name: str, status: int = 200,
               headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        body = self.environment.get_template(name).render(
            t=words, lang=words.language, path=request.url.path,
            switch=_language_links(request), **context)
        return HTMLResponse(body, status_code=status, headers={
            **SECURITY_HEADERS, "Content-Language": words.language, **(headers or {})})

    def problem(self, request: Request, words: Words, problem: Problem) -> HTMLResponse:
        if problem.status == 401:
            return self.render(request, words, "login.html", 401, problem.headers,
                               needed=True, failed=False, next=_here(request))
        title = STATUS_TITLES.get(problem.status, "problem_title")
        detail = words("unavailable_detail") if problem.status == 503 else problem.detail
        return self.render(request, words, "problem.html", problem.status, problem.headers,
                           title=words(title), detail=detail, reason=problem.reason)

    def page(self, handler: Page, scopes: tuple[str, ...]) -> Callable[[Request],
                                                                         Awaitable[Response]]:
        """The handler, answered for a client holding one of `scopes` (none: anyone)."""

        async def endpoint(request: Request) -> Response:
            words = Words(i18n.choose(request.headers.get("accept-language"),
                                      request.query_params.get("lang")))
            try:
                if scopes:
                    self.authenticator.authorise(session.authorization(request), scopes)
                return await handler(request, words)
            except Problem as problem:
                return self.problem(request, words, problem)
            except STORE_ERRORS:
                return self.problem(request, words, Problem(
                    503, "store_unavailable", "", headers={"Retry-After": "1"}))

        return endpoint

    # Public pages.

    async def index(self, request: Request, words: Words) -> Response:
        return self.render(request, words, "index.html")

    async def login_form(self, request: Request, words: Words) -> Response:
        return self.render(request, words, "login.html", needed=False, failed=False,
                           next=session.safe_next(request.query_params.get("next")))

    async def login(self, request: Request, words: Words) -> Response:
        fields = await session.form(request)
        token = fields.get("token", "").strip()
        target = session.safe_next(fields.get("next"))
        address = request.client.host if request.client else ""
        retry_after = self.logins.retry_after(address)
        if retry_after is not None:
            return self.render(request, words, "login.html", 429,
                               {"Retry-After": str(retry_after)}, needed=False, failed=False,
                               next=target, blocked_minutes=math.ceil(retry_after / 60))
        try:
            self.authenticator.authorise(f"Bearer {token}" if token else None, SCOPES)
        except Problem:
            self.logins.failed(address)
            return self.render(request, words, "login.html", 401, needed=False, failed=True,
                               next=target)
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        session.remember(response, request, token)
        return response

    async def logout(self, request: Request, words: Words) -> Response:
        response = self.render(request, words, "login.html", needed=False, failed=False,
                               next=PREFIX + "/", logged_out=True)
        session.forget(response)
        return response

    # A person's page (read).

    async def find_person(self, request: Request, words: Words) -> Response:
        person = parameters.person(request.query_params.get("person", ""))
        query = {name: value for name in ("as_of", "known_at", "lang")
                 if (value := request.query_params.get(name))}
        target = f"{PREFIX}/persons/{person}" + (f"?{urlencode(query)}" if query else "")
        return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)

    async def person(self, request: Request, words: Words) -> Response:
        person = parameters.person(request.path_params["person"])
        as_of = parameters.date(request.query_params, "as_of") or dt.date.today()
        known_at = parameters.timestamp(request.query_params, "known_at")
        page = await run_in_threadpool(views.person_page, self.service, person, as_of,
                                       known_at, words)
        return self.render(request, words, "person.html", as_of=as_of, known_at=known_at,
                           **page)

    # The auditor's pages (audit).

    async def find_audit_person(self, request: Request, words: Words) -> Response:
        person = parameters.person(request.query_params.get("person", ""))
        lang = request.query_params.get("lang")
        target = f"{PREFIX}/audit/persons/{person}" + (f"?{urlencode({'lang': lang})}"
                                                       if lang else "")
        return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)

    async def audit(self, request: Request, words: Words) -> Response:
        return self.render(request, words, "audit.html")

    async def audit_person(self, request: Request, words: Words) -> Response:
        person = parameters.person(request.path_params["person"])
        cursor = request.query_params.get("cursor")
        limit = parameters.limit(request.query_params, AUDIT_PAGE_EVENTS,
                                 limits.AUDIT_PAGE_EVENTS_MAX)
        page = await run_in_threadpool(self.service.audit_events, person, cursor, limit)
        return self.render(request, words, "audit_person.html", page=page)

    async def audit_message(self, request: Request, words: Words) -> Response:
        source = request.query_params.get("source", "").strip()
        message_id = request.query_params.get("message_id", "").strip()
        if not source or not message_id:
            raise Problem(400, "invalid_parameter", "give both a source and a message id")
        # A year close still being swept has a status (outcome `in_progress`) for a record.
        _, document = await run_in_threadpool(self.service.message, source, message_id)
        return self.render(request, words, "audit_message.html", message=document)

    async def audit_verify(self, request: Request, words: Words) -> Response:
        result = await run_in_threadpool(self.service.verify)
        return self.render(request, words, "audit_verify.html", result=result)


def build(service: LedgerService, authenticator: Authenticator,
          logins: FailedLogins) -> list[Route]:
    pages = Pages(service, authenticator, logins)
    table: list[tuple[str, Page, tuple[str, ...], str]] = [
        ("/", pages.index, (), "GET"),
        ("/login", pages.login_form, (), "GET"),
        ("/login", pages.login, (), "POST"),
        ("/logout", pages.logout, (), "POST"),
        ("/persons", pages.find_person, READ, "GET"),
        ("/persons/{person}", pages.person, READ, "GET"),
        ("/audit", pages.audit, AUDIT, "GET"),
        ("/audit/persons", pages.find_audit_person, AUDIT, "GET"),
        ("/audit/persons/{person}", pages.audit_person, AUDIT, "GET"),
        ("/audit/messages", pages.audit_message, AUDIT, "GET"),
        ("/audit/verify", pages.audit_verify, AUDIT, "GET"),
    ]
    return [Route(PREFIX + path, pages.page(handler, scopes), methods=[method])
            for path, handler, scopes, method in table]


def docs_link(page: str) -> str:
    """The API's /docs page, with a link to these pages after its title (or its body tag)."""
    link = (f'<p><strong>For people:</strong> <a href="{PREFIX}/">web pages</a> (a person\'s '
            f'rights, the auditor\'s view; log in with a token)</p>')
    for tag in ("</h1>", "<body>"):
        marker = page.find(tag)
        if marker != -1:
            return page[:marker + len(tag)] + link + page[marker + len(tag):]
    return page


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _language_links(request: Request) -> dict[str, str]:
    """This page in each language (the `lang` parameter overrides Accept-Language)."""
    links = {}
    for language in i18n.LANGUAGES:
        query = {**request.query_params, "lang": language}
        links[language] = f"{request.url.path}?{urlencode(query)}"
    return links
