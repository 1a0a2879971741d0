"""The `balances` read model: postings with effective date and recording time (so that
"as of D, as known at T" is a query), derived lines (2019 conversion, top-up expiry and
withdrawal) superseded when they change, and one account document per person with history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from ledger.changes import Absorbed, Change, GrantOpened, GrantWithdrawn, Posted, StatusChanged
from ledger.domain import LedgerCalendar
from ledger.parameters import Parameters
from ledger.rules import accrual, cpf, public
from ledger.rules.book import euro_from, fold
from ledger.rules.common import FAR_FUTURE, Context
from ledger.state import PersonState, Posting, stamped
from projections.memo import Memo, MemoStore
from projections.model import Projected
from projections.pending import PendingYears
from projections.running import RUNNING_COLUMNS, Timeline, grant_days
from projections.schema import Names
from projections.tracker import PersonTracker, first_versions

# Derived lines are numbered after an event's own postings.
DERIVED_LINE_OFFSET = 1_000_000
# Changes other than postings that can alter the derived lines (see `_may_derive`).
DERIVING_CHANGE_CLASSES: tuple[type[Change], ...] = (GrantOpened, GrantWithdrawn, Absorbed)
STATUS_FACT_TYPES = frozenset({"qualification.declared", "disability.recognised"})
_POSTING_COLUMNS = (
    "notification_id, person_key, line, effective_on, account, amount, unit, kind, bucket,"
    " grant_id, order_id, year, memo, source, message_id, recorded_at, derived, superseded_at"
)


def _row(notification_id: int, person_key: str, line: int, posting: Posting, recorded_at: str,
         derived: bool) -> list[Any]:
    return [notification_id, person_key, line, posting["on"], posting["account"],
            posting["amount"], posting["unit"], posting["kind"], posting.get("bucket"),
            posting.get("grant_id"), posting.get("order_id"), posting.get("year"),
            posting.get("memo"), posting.get("source"), posting.get("message_id"), recorded_at,
            derived, None]


_SUPERSEDED_AT = -1
_DERIVED = -2


def account_document(state: PersonState, parameters: Parameters,
                     pending: PendingYears | None = None) -> dict[str, Any]:
    """What the balance query needs besides postings: a function of the person's state only
    (the query drops pending years that the calendar has closed since). `pending` remembers
    open years' rows between calls (the projector's, event after event)."""
    context = Context(parameters, {})
    with_facts = accrual.years_with_facts(state)
    return {
        "merged_into": state.merged_into,
        "retired_on": state.retired_on,
        "died_on": state.died_on,
        "absorbed": state.absorbed,
        "grants": state.grants,
        "status_facts": _status_facts(state),
        "pending": (pending or PendingYears()).current(state, context),
        # Settled years that still have facts (a year whose facts were all retracted since is
        # no longer pending: `accrual.pending` lists years with facts only).
        "settled": {year: {"settled_on": r["settled_on"], "credited": r["credited"],
                           "unit": r["unit"]} for year, r in sorted(state.years.items())
                    if int(year) in with_facts},
        # The public counter's years and ceilings (rules §10).
        "public": public.document_part(state, parameters),
    }


def _status_facts(state: PersonState) -> dict[str, Any]:
    """The facts that decide a year's profile: status declarations and ESAT employment."""
    keys = [key for kind in STATUS_FACT_TYPES for key in state.index.by_type.get(kind, ())]
    keys.extend(state.index.by_regime.get("esat", ()))
    facts = state.hot_facts  # indexed facts are never left encoded (`is_cold_eligible`)
    return {key: facts[key] for key in sorted(keys, key=lambda k: facts[k]["seq"])}


class BalancesProjection:
    name = "balances"
    needs_events = True
    needs_states = True
    log_wide = False

    def __init__(self, tracker: PersonTracker, parameters: Parameters) -> None:
        self.tracker = tracker
        self.parameters = parameters
        self.closed_years: dict[int, str] = {}
        self.loaded_closed_years = False
        self.euro_switch = euro_from(parameters).isoformat()
        self.memos = MemoStore()
        self.reset()

    def reset(self) -> None:
        self.postings: list[list[Any]] = []
        self.page_rows: dict[str, list[int]] = {}  # person key -> this page's posting rows
        self.supersede: list[tuple[str, str]] = []  # (recorded_at, person_key) of derived rows
        self.superseded_people: list[tuple[str, str]] = []  # absorbed persons' rows
        self.accounts: dict[str, tuple[int, str, bytes]] = {}
        self.history: list[tuple[str, int, str, bytes]] = []
        self.running: list[tuple[str, str, int, str, str]] = []
        self.years: list[tuple[int, str, int, str]] = []
        self.touched: set[str] = set()  # persons whose cached balance document is now stale

    def forget(self) -> None:
        self.reset()
        self.memos.forget()
        self.loaded_closed_years = False

    def load(self, curs: Cursor[DictRow], names: Names, notifications: Sequence[Any]) -> None:
        self.memos.load(curs, names, self._unremembered(notifications))
        if self.loaded_closed_years:
            return
        curs.execute(SQL("SELECT year, credited_on FROM {}").format(names.table("closed_years")))
        self.closed_years = {r["year"]: r["credited_on"].isoformat() for r in curs.fetchall()}
        self.loaded_closed_years = True

    def _unremembered(self, notifications: Sequence[Any]) -> list[Any]:
        """The accounts whose first event of the page finds no memo in memory."""
        return [originator_id for originator_id, version in first_versions(notifications).items()
                if version > 1 and not self.tracker.remembers(originator_id, version - 1)
                and originator_id not in self.tracker.evicted]

    def handle(self, item: Projected) -> None:
        event, notification_id, before = item.event, item.notification_id, item.before
        recorded_at = event.timestamp.isoformat()
        if isinstance(event, LedgerCalendar.YearClosed):
            self.closed_years[event.year] = event.credited_on
            self.years.append((event.year, event.credited_on, notification_id, recorded_at))
            return
        if before is None:
            return
        memo = self._recalled(event, before)
        memo.pending.forget_stale(getattr(event, "changes", ()), before)
        state = item.after()
        self.tracker.extra[event.originator_id] = memo
        self.touched.add(state.person_key)
        self._own_postings(event, notification_id, state.person_key, recorded_at,
                           memo.timeline)
        if self._may_derive(getattr(event, "changes", ())):
            self._derived(state, memo, notification_id, recorded_at)
        self._account(state, memo, notification_id, recorded_at)
        self.running.extend((state.person_key, day, notification_id, recorded_at, totals)
                            for day, totals in memo.timeline.settle(grant_days(state.grants)))

    def _recalled(self, event: Any, before: PersonState) -> Memo:
        """What the person's previous event left: nothing for a new account; else the memo
        held with their state, or of a person let go this page, or stored, or recomputed from
        the state (a restarted runner writes exactly what an uninterrupted one writes)."""
        if event.originator_version == 1:
            return Memo.new(self.euro_switch)
        version = event.originator_version - 1
        memo: Memo | None = self.tracker.extra.get(event.originator_id) \
            or self.tracker.recall_evicted(event.originator_id, version)
        if memo is not None:
            self.memos.recalls["memory"] += 1
            return memo
        memo = self.memos.take(event.originator_id, version, self.euro_switch)
        if memo is not None:
            return memo
        self.memos.recalls["computed"] += 1
        return self._written(before)

    def _may_derive(self, changes: Iterable[Change]) -> bool:
        """Whether these changes can alter the derived lines: those come from the balances at
        the euro switch (postings dated before it) and from the top-up grants (their
        definitions and the postings that move them). Any other change leaves them as they
        are, so the fold over the person's postings is skipped (it is the one part of
        projecting an event whose cost grows with the history)."""
        for change in changes:
            if isinstance(change, DERIVING_CHANGE_CLASSES):
                return True
            if isinstance(change, Posted):
                line = change.posting
                if line.get("grant_id") or line["on"] < self.euro_switch:
                    return True
        return False

    def _written(self, state: PersonState) -> Memo:
        pending = PendingYears()
        derived = fold(state.postings, state.grants, FAR_FUTURE, self.parameters).derived
        return Memo(derived, orjson.dumps(account_document(state, self.parameters, pending)),
                    pending, Timeline.of(state, derived, self.euro_switch))

    def _own_postings(self, event: Any, notification_id: int, person_key: str,
                      recorded_at: str, timeline: Timeline) -> None:
        changes = stamped(getattr(event, "changes", ()), recorded_at)
        line = 0
        for change in changes:
            if isinstance(change, Posted):
                line += 1
                self._add(_row(notification_id, person_key, line, change.posting,
                               recorded_at, False))
                timeline.add(change.posting, derived=False)
            elif isinstance(change, Absorbed):
                line = self._absorbed(change, notification_id, person_key, recorded_at, line)
                for posting in change.state["postings"]:
                    timeline.add(posting, derived=False)
            elif isinstance(change, StatusChanged) and change.merged_into:
                self._supersede(person_key, recorded_at, derived_only=False)

    def _absorbed(self, change: Absorbed, notification_id: int, person_key: str,
                  recorded_at: str, line: int) -> int:
        """The absorbed identifier's postings now count for the survivor."""
        for posting in change.state["postings"]:
            line += 1
            self._add(_row(notification_id, person_key, line, posting, recorded_at, False))
        return line

    def _add(self, row: list[Any]) -> None:
        self.page_rows.setdefault(row[1], []).append(len(self.postings))
        self.postings.append(row)

    def _supersede(self, person_key: str, recorded_at: str, *, derived_only: bool) -> None:
        """Rows stop counting from `recorded_at`: this page's in memory, earlier ones in SQL."""
        for index in self.page_rows.get(person_key, ()):
            row = self.postings[index]
            if row[_SUPERSEDED_AT] is None and (row[_DERIVED] or not derived_only):
                row[_SUPERSEDED_AT] = recorded_at
        target = self.supersede if derived_only else self.superseded_people
        target.append((recorded_at, person_key))

    def _derived(self, state: PersonState, memo: Memo, notification_id: int,
                 recorded_at: str) -> None:
        derived = fold(state.postings, state.grants, FAR_FUTURE, self.parameters).derived
        if memo.derived == derived:
            return
        memo.derived = derived
        self._supersede(state.person_key, recorded_at, derived_only=True)
        timeline = memo.timeline
        timeline.drop_derived()
        for number, posting in enumerate(derived, start=DERIVED_LINE_OFFSET):
            self._add(_row(notification_id, state.person_key, number, posting, recorded_at,
                           True))
            timeline.add(posting, derived=True)

    def _account(self, state: PersonState, memo: Memo, notification_id: int,
                 recorded_at: str) -> None:
        document = orjson.dumps(account_document(state, self.parameters, memo.pending))
        if memo.document == document:
            return
        memo.document = document
        self.accounts[state.person_key] = (notification_id, recorded_at, document)
        self.history.append((state.person_key, notification_id, recorded_at, document))

    def _supersede_earlier_pages(self, curs: Cursor[DictRow], postings: Any) -> None:
        """Rows of earlier pages stop counting, in one statement per kind rather than one per
        event: a person's earliest time of each kind is the one that marks them (a later
        marking finds them marked), and a derived-only marking that comes after the person's
        whole rows were marked marks nothing."""
        people = _earliest(self.superseded_people)
        derived = {key: at for key, at in _earliest(self.supersede).items()
                   if key not in people or at < people[key]}
        for rows, condition in ((derived, " AND p.derived"), (people, "")):
            if rows:
                curs.execute(
                    SQL("UPDATE {} AS p SET superseded_at = t.at FROM unnest(%s::timestamptz[],"
                        " %s::text[]) AS t(at, key) WHERE p.person_key = t.key"
                        " AND p.superseded_at IS NULL" + condition).format(postings),
                    (list(rows.values()), list(rows)))

    def flush(self, curs: Cursor[DictRow], names: Names) -> None:
        """Write the page's rows (the caller's transaction commits them with the position)."""
        postings = names.table("postings")
        self.memos.write(curs, names, self.tracker.take_evicted())
        self._supersede_earlier_pages(curs, postings)
        copy_rows(curs, postings, _POSTING_COLUMNS, self.postings)
        copy_rows(curs, names.table("account_history"),
              "person_key, notification_id, recorded_at, document",
              [(k, n, at, doc.decode()) for k, n, at, doc in self.history])
        if self.accounts:
            # Each person's latest document of the page, from the history rows just written:
            # sent and parsed once, not twice.
            curs.execute(
                SQL("INSERT INTO {} (person_key, notification_id, recorded_at, document)"
                    " SELECT h.person_key, h.notification_id, h.recorded_at, h.document"
                    " FROM unnest(%s::text[], %s::bigint[]) AS t(k, n) JOIN {} AS h"
                    " ON h.person_key = t.k AND h.notification_id = t.n"
                    " ON CONFLICT (person_key) DO UPDATE SET"
                    " notification_id = excluded.notification_id,"
                    " recorded_at = excluded.recorded_at, document = excluded.document")
                .format(names.table("accounts"), names.table("account_history")),
                (list(self.accounts), [n for n, _, _ in self.accounts.values()]))
        copy_rows(curs, names.table("closed_years"),
                  "year, credited_on, notification_id, recorded_at", self.years)
        copy_rows(curs, names.table("running_balances"), RUNNING_COLUMNS, self.running)
        if self.touched:
            invalidate(curs, names, sorted(self.touched))
        self.reset()


def invalidate(curs: Cursor[DictRow], names: Names, person_keys: list[str]) -> None:
    """The cached balance documents of these persons become stale, in this transaction: each
    gets a new version (this transaction's id, never reused) and no body; see
    `projections.documents`."""
    curs.execute(
        SQL("INSERT INTO {} (person_key, version)"
            " SELECT unnest(%s::text[]), pg_current_xact_id()::text::bigint"
            " ON CONFLICT (person_key) DO UPDATE SET version = excluded.version,"
            " as_of = NULL, body = NULL").format(names.table("balance_documents")),
        (person_keys,))


# Rows looked at per statement when old bodies are dropped (one short transaction each).
CLEAN_CHUNK_ROWS = 10_000


def clean_old_bodies(datastore: Any, names: Names, today: dt.date) -> int:
    """Drop the bodies stored for days before `today` (a body answers for one day only), in
    short transactions of `CLEAN_CHUNK_ROWS` rows in key order; the number dropped. The
    projector runs it once a day, so the cache holds at most the bodies read today."""
    table = names.table("balance_documents")
    chunk = SQL("SELECT person_key FROM {} WHERE person_key > %s ORDER BY person_key"
                " LIMIT %s").format(table)
    drop = SQL("UPDATE {} SET as_of = NULL, body = NULL WHERE person_key > %s"
               " AND person_key <= %s AND as_of < %s").format(table)
    after, dropped = "", 0
    while True:
        with datastore.transaction(commit=True) as curs:
            curs.execute(SQL("SELECT max(person_key) AS last FROM ({}) AS chunk").format(chunk),
                         (after, CLEAN_CHUNK_ROWS))
            row = curs.fetchone()
            if row is None or row["last"] is None:
                return dropped
            curs.execute(drop, (after, row["last"], today))
            dropped += curs.rowcount
            after = row["last"]


def _earliest(markings: list[tuple[str, str]]) -> dict[str, dt.datetime]:
    """Person key -> the earliest of its (recorded_at, person key) markings."""
    earliest: dict[str, dt.datetime] = {}
    for recorded_at, person_key in markings:
        at = dt.datetime.fromisoformat(recorded_at)
        if person_key not in earliest or at < earliest[person_key]:
            earliest[person_key] = at
    return earliest


def copy_rows(curs: Cursor[DictRow], table: Any, columns: str, rows: list[Any]) -> None:
    """COPY rows in (the fastest bulk path of PostgreSQL)."""
    if not rows:
        return
    statement = SQL("COPY {} ({}) FROM STDIN").format(table, SQL(columns))
    with curs.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def enhanced(year: int, status_facts: dict[str, Any], parameters: Parameters) -> str:
    return cpf.profile_of(year, status_facts, parameters)
