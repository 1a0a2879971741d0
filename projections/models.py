"""The small read models: accrual explanations, the audit hash chain, statistics."""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from ledger.changes import Posted, YearSettled
from projections.balances import copy_rows
from projections.model import Projected
from projections.schema import Names

GENESIS_LINK = "0" * 64
CHAINED_PERSONS_MAX = 100_000
CREDIT_KINDS = frozenset({
    "accrual", "regularisation", "dif_registration", "dif_correction", "cec_credit",
    "cec_regularisation", "topup_grant", "c2p_acquired", "c2p_regularisation",
    "training_refund",
})


class AccrualsProjection:
    name = "accruals"
    needs_events = True
    needs_states = True  # for the person key of each event
    log_wide = False

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def load(self, curs: Cursor[DictRow], names: Names, notifications: Sequence[Any]) -> None:
        return

    def handle(self, item: Projected) -> None:
        person_key = item.person_key
        if person_key is None:
            return
        recorded_at = item.event.timestamp.isoformat()
        for change in getattr(item.event, "changes", ()):
            if isinstance(change, YearSettled):
                self.rows.append((person_key, item.notification_id, change.year, recorded_at,
                                  orjson.dumps(change.explanation or {}).decode()))

    def forget(self) -> None:
        self.rows = []

    def flush(self, curs: Cursor[DictRow], names: Names) -> None:
        copy_rows(curs, names.table("accruals"),
              "person_key, notification_id, year, recorded_at, explanation", self.rows)
        self.rows = []


def event_hash(topic: str, state: bytes) -> str:
    """The hash of one stored event: its topic and its exact stored bytes."""
    return hashlib.sha256(topic.encode("utf-8") + b"\n" + bytes(state)).hexdigest()


def chain(previous: str, current: str) -> str:
    return hashlib.sha256((previous + current).encode("ascii")).hexdigest()


class AuditChainProjection:
    """A hash chain over the event log in notification order, and one per person."""

    name = "audit_chain"
    needs_events = False
    needs_states = False
    log_wide = True

    def __init__(self) -> None:
        self.last_link: str | None = None
        self.person_links: OrderedDict[uuid.UUID, tuple[int, str]] = OrderedDict()
        self.rows: list[tuple[Any, ...]] = []
        self.heads: dict[uuid.UUID, tuple[int, str]] = {}

    def load(self, curs: Cursor[DictRow], names: Names, notifications: Sequence[Any]) -> None:
        originators = {notification.originator_id for notification in notifications}
        if self.last_link is None:
            curs.execute(SQL("SELECT link FROM {} ORDER BY notification_id DESC LIMIT 1")
                         .format(names.table("audit_chain")))
            row = curs.fetchone()
            self.last_link = row["link"] if row else GENESIS_LINK
        missing = [o for o in originators if o not in self.person_links]
        if missing:
            curs.execute(SQL("SELECT originator_id, originator_version, link FROM {}"
                             " WHERE originator_id = ANY(%s)").format(names.table("person_chain")),
                         (missing,))
            for row in curs.fetchall():
                self._remember(row["originator_id"], row["originator_version"], row["link"])

    def _remember(self, originator: uuid.UUID, version: int, link: str) -> None:
        self.person_links[originator] = (version, link)
        self.person_links.move_to_end(originator)
        while len(self.person_links) > CHAINED_PERSONS_MAX:
            self.person_links.popitem(last=False)

    def handle(self, item: Projected) -> None:
        assert self.last_link is not None, "load() first"
        notification = item.notification
        digest = event_hash(notification.topic, notification.state)
        self.last_link = chain(self.last_link, digest)
        _, previous = self.person_links.get(notification.originator_id, (0, GENESIS_LINK))
        person_link = chain(previous, digest)
        self._remember(notification.originator_id, notification.originator_version, person_link)
        self.heads[notification.originator_id] = (notification.originator_version, person_link)
        self.rows.append((notification.id, notification.originator_id,
                          notification.originator_version, notification.topic, digest,
                          self.last_link, person_link))

    def flush(self, curs: Cursor[DictRow], names: Names) -> None:
        copy_rows(curs, names.table("audit_chain"), "notification_id, originator_id,"
              " originator_version, topic, event_hash, link, person_link", self.rows)
        if self.heads:
            curs.execute(
                SQL("INSERT INTO {} (originator_id, originator_version, link)"
                    " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[])"
                    " ON CONFLICT (originator_id) DO UPDATE SET originator_version ="
                    " excluded.originator_version, link = excluded.link")
                .format(names.table("person_chain")),
                (list(self.heads), [v for v, _ in self.heads.values()],
                 [link for _, link in self.heads.values()]))
        self.rows, self.heads = [], {}

    def forget(self) -> None:
        self.last_link = None
        self.person_links.clear()
        self.rows, self.heads = [], {}


class StatisticsProjection:
    """Credits and consumption by year, account and unit (own postings only, never the copies
    an identity merge makes, so nothing counts twice)."""

    name = "statistics"
    needs_events = True
    needs_states = False
    log_wide = False

    def __init__(self) -> None:
        self.sums: dict[tuple[int, str, str, str], int] = {}

    def load(self, curs: Cursor[DictRow], names: Names, notifications: Sequence[Any]) -> None:
        return

    def handle(self, item: Projected) -> None:
        for change in getattr(item.event, "changes", ()):
            if isinstance(change, Posted):
                self._count(change.posting)

    def forget(self) -> None:
        self.sums = {}

    def _count(self, posting: dict[str, Any]) -> None:
        measure = _measure(posting)
        if measure is None:
            return
        key = (int(posting["on"][:4]), posting["account"], posting["unit"], measure)
        self.sums[key] = self.sums.get(key, 0) + abs(int(posting["amount"]))

    def flush(self, curs: Cursor[DictRow], names: Names) -> None:
        if self.sums:
            rows = sorted(self.sums.items())
            curs.execute(
                SQL("INSERT INTO {} AS s (year, account, unit, measure, amount)"
                    " SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[], %s::text[],"
                    " %s::bigint[]) ON CONFLICT (year, account, unit, measure)"
                    " DO UPDATE SET amount = s.amount + excluded.amount")
                .format(names.table("statistics")),
                [[key[i] for key, _ in rows] for i in range(4)] + [[a for _, a in rows]])
        self.sums = {}


def _measure(posting: dict[str, Any]) -> str | None:
    if posting["account"] == "held":
        return None
    if posting["kind"] == "training_debit":
        return "consumption"
    if posting["kind"] in CREDIT_KINDS and posting["amount"] > 0:
        return "credits"
    if posting["amount"] < 0:
        return "debits"
    return None
