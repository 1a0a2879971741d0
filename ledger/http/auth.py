"""Bearer tokens and their scopes (interfaces.md §2, §4).

The tokens file (CPA_API_TOKENS_FILE) is read once at start-up: one client a line,
`NAME sha256:HEX SCOPE[,SCOPE...]`, `#` starts a comment. Only SHA-256 digests are stored; a
presented token is hashed and compared with every digest in constant time.

Rules:
- a tokens file is set: a request needs a listed token (401 otherwise) holding one of the
  endpoint's scopes (403 otherwise); the `admin` scope holds every scope;
- no tokens file, CPA_ENV=development: every request holds every scope, with or without a token
  (a first run on a laptop needs no set-up); a warning is logged at start-up;
- no tokens file, CPA_ENV=production: no token is accepted (401 on every guarded endpoint).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ledger.config import ConfigurationError
from ledger.http import limits
from ledger.http.problems import Problem

SCOPES = ("ingest", "read", "audit", "admin")
ADMIN = "admin"
REALM = "cpa-ledger"
_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    digest: bytes
    scopes: frozenset[str]

    def holds(self, scopes: Iterable[str]) -> bool:
        return ADMIN in self.scopes or any(scope in self.scopes for scope in scopes)


DEVELOPMENT_CLIENT = Client("development", b"", frozenset(SCOPES))


def parse_tokens(text: str, origin: str) -> tuple[Client, ...]:
    """The clients of a tokens file; ConfigurationError naming the line of any mistake."""
    clients: list[Client] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            clients.append(_client(line, f"{origin}:{number}"))
    _refuse_repeats(clients, origin)
    return tuple(clients)


def _client(line: str, where: str) -> Client:
    fields = line.split()
    if len(fields) != 3:
        raise ConfigurationError(f"{where}: expected NAME sha256:HEX SCOPE[,SCOPE...]")
    name, digest, scope_list = fields
    if not _NAME.match(name):
        raise ConfigurationError(f"{where}: client name must be 1-64 of A-Z a-z 0-9 . _ @ -")
    matched = _DIGEST.match(digest)
    if matched is None:
        raise ConfigurationError(f"{where}: token must be sha256: and 64 hex digits")
    scopes = frozenset(scope_list.split(","))
    unknown = scopes - set(SCOPES)
    if unknown:
        raise ConfigurationError(f"{where}: unknown scope {sorted(unknown)[0]!r};"
                                 f" scopes are {', '.join(SCOPES)}")
    return Client(name, bytes.fromhex(matched.group(1)), scopes)


def _refuse_repeats(clients: list[Client], origin: str) -> None:
    if len({client.name for client in clients}) != len(clients):
        raise ConfigurationError(f"{origin}: a client name is listed twice")
    if len({client.digest for client in clients}) != len(clients):
        raise ConfigurationError(f"{origin}: a token digest is listed twice")


def read_tokens(path: str) -> tuple[Client, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"CPA_API_TOKENS_FILE: cannot read {path}: {error}") from error
    return parse_tokens(text, path)


class Authenticator:
    """Decides who a request is and whether it holds a scope."""

    def __init__(self, clients: tuple[Client, ...] | None, *, open_to_all: bool) -> None:
        self.clients = clients or ()
        self.open_to_all = open_to_all

    @classmethod
    def from_settings(cls, tokens_file: str | None, development: bool) -> Authenticator:
        if tokens_file is None:
            return cls(None, open_to_all=development)
        return cls(read_tokens(tokens_file), open_to_all=False)

    def authorise(self, authorization: str | None, scopes: tuple[str, ...]) -> Client:
        """The client, when it holds one of `scopes`; Problem 401/403 otherwise."""
        if self.open_to_all:
            return DEVELOPMENT_CLIENT
        client = self._identify(_bearer(authorization))
        if not client.holds(scopes):
            challenge = f'Bearer realm="{REALM}", error="insufficient_scope", ' \
                        f'scope="{" ".join(scopes)}"'
            raise Problem(403, "insufficient_scope",
                          f"this token lacks the scope {' or '.join(scopes)}",
                          headers={"WWW-Authenticate": challenge})
        return client

    def _identify(self, token: str) -> Client:
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: Client | None = None
        # Every digest is compared, in constant time, whatever matched before.
        for client in self.clients:
            if hmac.compare_digest(client.digest, digest):
                found = client
        if found is None:
            raise _unauthorised("invalid_token", "the bearer token is not valid", invalid=True)
        return found


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise _unauthorised("missing_token", "send Authorization: Bearer TOKEN", invalid=False)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorised("invalid_token", "the Authorization header must be Bearer TOKEN",
                            invalid=True)
    if len(token) > limits.TOKEN_LENGTH_MAX_CHARS:
        raise _unauthorised("invalid_token", "the bearer token is not valid", invalid=True)
    return token


def _unauthorised(reason: str, detail: str, *, invalid: bool) -> Problem:
    challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid else "")
    return Problem(401, reason, detail, headers={"WWW-Authenticate": challenge})
