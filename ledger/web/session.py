"""How a browser authenticates to the pages.

A link cannot carry an `Authorization: Bearer` header, so the pages also accept the token
from a cookie: `POST /pages/login` takes the token typed in a form, checks it against the
same hashed-token table as the API (`Authenticator`), and sets it in the `cpa_token` cookie
(HttpOnly: no script can read it; SameSite=Lax: not sent by other sites' sub-requests or
forms; Path=/pages: never sent to the API; Secure when the page was served over HTTPS;
expires after SESSION_SECONDS). Every page request checks that token again, with the scopes of
the page (`read` for a person's page, `audit` for the auditor's), so revoking a token in the
tokens file revokes its sessions at the next restart, as for the API. A request with an
`Authorization` header (a script, a test) is checked as the API checks it.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from ledger.http.problems import Problem

COOKIE = "cpa_token"
PATH = "/pages"
SESSION_SECONDS = 8 * 3600
FORM_BYTES_MAX = 8 * 1024


def authorization(request: Request) -> str | None:
    """The Authorization header to check: the request's own, else the cookie's token."""
    header = request.headers.get("authorization")
    if header:
        return header
    token = _decode(request.cookies.get(COOKIE))
    return f"Bearer {token}" if token else None


def remember(response: Response, request: Request, token: str) -> None:
    response.set_cookie(COOKIE, _encode(token), max_age=SESSION_SECONDS, path=PATH,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax")


async def form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body of at most FORM_BYTES_MAX bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES_MAX:
            raise Problem(413, "payload_too_large", "the form is too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a page of ours, never another site."""
    if target and target.startswith(PATH + "/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return PATH + "/"


def _encode(token: str) -> str:
    return base64.urlsafe_b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")


def _decode(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
