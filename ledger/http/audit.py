"""The audit side: a person's stored events with their hash-chain values, and `verify`.

The chain is `projections.models`': each stored event hashes as SHA-256(topic "\\n" stored
bytes); `link` chains every event of the log in notification order, `person_link` the events of
one person in version order. On PostgreSQL both come from the `audit_chain` read model (null for
events the projection has not reached yet). The embedded default keeps no global chain: there
`person_link` is computed from the person's own events and `link` is null.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL

from ledger.application import Ledger
from ledger.http import cursors
from ledger.http.problems import Problem
from ledger.identity import aggregate_id
from projections.models import GENESIS_LINK, chain, event_hash
from projections.operations import verify, verify_events
from projections.runner import Runner

VERIFY_LOCK_NAME = "cpa-ledger-http-verify"
LOCK_CONNECT_TIMEOUT_SECONDS = 10


class AuditTrail:
    def __init__(self, ledger: Ledger, runner: Runner | None) -> None:
        self.ledger = ledger
        self.runner = runner

    def events_page(self, person: str, cursor: str | None, limit: int) -> dict[str, Any]:
        """The events of the person's own aggregate (merges are not followed: an absorbed
        identifier keeps its own events), oldest first, after the cursor's version."""
        originator = aggregate_id(self.ledger.person_key(person))
        fingerprint = cursors.fingerprint("audit", person)
        after = 0 if cursor is None else cursors.integer(cursors.decode(cursor, fingerprint),
                                                         "v")
        stored = list(self.ledger.app.recorder.select_events(originator, gt=after,
                                                             limit=limit + 1))
        page = stored[:limit]
        links = self._links(originator, page)
        next_cursor = None
        if len(stored) > limit:
            next_cursor = cursors.encode({"q": fingerprint, "v": page[-1].originator_version})
        return {"person": person, "events": [_event(e, links) for e in page], "limit": limit,
                "next_cursor": next_cursor}

    def _links(self, originator: uuid.UUID,
               page: Sequence[StoredEvent]) -> dict[int, dict[str, Any]]:
        if not page:
            return {}
        if self.runner is not None:
            return self._projected_links(originator, page)
        return self._computed_links(originator, page[-1].originator_version)

    def _projected_links(self, originator: uuid.UUID,
                         page: Sequence[StoredEvent]) -> dict[int, dict[str, Any]]:
        assert self.runner is not None
        statement = SQL("SELECT originator_version, notification_id, link, person_link FROM {}"
                        " WHERE originator_id = %s AND originator_version BETWEEN %s AND %s"
                        ).format(self.runner.names.table("audit_chain"))
        with self.runner.datastore().transaction(commit=False) as curs:
            curs.execute(statement, (originator, page[0].originator_version,
                                     page[-1].originator_version))
            rows = curs.fetchall()
        return {int(row["originator_version"]): dict(row) for row in rows}

    def _computed_links(self, originator: uuid.UUID, last: int) -> dict[int, dict[str, Any]]:
        """The person chain from the first event (bounded by this person's history)."""
        links: dict[int, dict[str, Any]] = {}
        link = GENESIS_LINK
        for stored in self.ledger.app.recorder.select_events(originator, lte=last):
            link = chain(link, event_hash(stored.topic, stored.state))
            links[stored.originator_version] = {"person_link": link}
        return links

    def verify(self, database_url: str) -> dict[str, Any]:
        if self.runner is None:
            return self._chain_head()
        with _Exclusive(database_url):
            return verify(self.ledger).as_document()

    def _chain_head(self) -> dict[str, Any]:
        """Embedded default: the events decode and the chain over the whole log."""
        return verify_events(self.ledger).as_document()


def _event(stored: StoredEvent, links: dict[int, dict[str, Any]]) -> dict[str, Any]:
    chained = links.get(stored.originator_version, {})
    return {
        "version": stored.originator_version,
        "topic": stored.topic,
        # The exact stored bytes (orjson writes UTF-8), so auditors can recompute event_hash.
        "stored_state": bytes(stored.state).decode("utf-8"),
        "event_hash": event_hash(stored.topic, stored.state),
        "person_link": chained.get("person_link"),
        "link": chained.get("link"),
        "notification_id": chained.get("notification_id"),
    }


class _Exclusive:
    """One verify at a time across processes: it projects into shared `__verify` tables."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        self.conninfo = urlunsplit(parts._replace(query="", fragment=""))
        self.connection: psycopg.Connection[Any] | None = None

    def __enter__(self) -> None:
        self.connection = psycopg.connect(self.conninfo, autocommit=True,
                                          connect_timeout=LOCK_CONNECT_TIMEOUT_SECONDS)
        row = self.connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                      (VERIFY_LOCK_NAME,)).fetchone()
        if not row or not row[0]:
            self.connection.close()
            raise Problem(409, "verify_in_progress", "another verify is running; try later",
                          headers={"Retry-After": "10"})

    def __exit__(self, *exc: object) -> None:
        assert self.connection is not None
        self.connection.close()  # ends the session, which releases its advisory lock
