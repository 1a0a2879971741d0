"""Running balances: each person's posting totals up to each effective date, as known after
each event, so that "as of D, as known at T" is one index lookup instead of a sum over the
person's postings (`running_balances`: the row with the latest effective date on or before D,
and of that date the latest version recorded on or before T).

A row holds the totals of the visible posting rows (`postings` without the superseded ones)
dated on or before its `effective_on`, summed by every column the balance document
distinguishes (`projections.tables._Sums`). An event that changes a person's rows dated D or
later writes a new version of every row of that person dated D or later: the usual event posts
at the person's latest date and writes one row; a back-dated one writes the later dates again.

Which dates a person has rows for must never shrink, or the last version of a date that is
gone would keep answering for it. The dates are the person's own posting dates, the euro
switch and the dates of their grants' expiry and withdrawal: every derived line (conversion,
expiry) falls on one of these, grants are never removed and own postings never retracted, so
the set only grows, and it is a function of the person's state (a restarted projector finds
the same set).

An identity merge makes the absorbed identifier's rows stop counting in `postings`; its running
rows are left as they are: a read of that identifier as known at or after the merge answers for
the survivor (`TableReader.resolve`), so they are never asked for it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import orjson

from ledger.state import PersonState, Posting

# (account, unit, bucket, grant_id, kind, derived). Kinds the balance document does not tell
# apart are summed together.
Group = tuple[str, str, str | None, str | None, str, bool]
Totals = dict[Group, int]
DISTINCT_KINDS = frozenset({"conversion", "expired", "withdrawn"})
OTHER_KIND = ""
RUNNING_COLUMNS = "person_key, effective_on, notification_id, recorded_at, totals"


def group_of(posting: Posting, derived: bool) -> Group:
    kind = str(posting["kind"])
    return (str(posting["account"]), str(posting["unit"]), posting.get("bucket"),
            posting.get("grant_id"), kind if kind in DISTINCT_KINDS else OTHER_KIND, derived)


def grant_days(grants: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The dates on which a grant's unused part can go (its derived lines fall there)."""
    days = set()
    for grant in grants.values():
        for name in ("expires_on", "withdrawn_on"):
            if grant.get(name):
                days.add(str(grant[name]))
    return days


def encoded(totals: Totals) -> str:
    """The stored form: [account, unit, bucket, grant_id, kind, derived, amount] per non-zero
    group, in a fixed order (a replay writes the same text)."""
    rows = [[*group, amount] for group, amount in totals.items() if amount]
    rows.sort(key=lambda row: tuple("" if value is None else str(value) for value in row))
    return orjson.dumps(rows).decode()


def decoded(rows: Iterable[list[Any]]) -> list[dict[str, Any]]:
    """The stored form as the rows `TableReader._totals` returns."""
    return [{"account": row[0], "unit": row[1], "bucket": row[2], "grant_id": row[3],
             "kind": row[4], "derived": row[5], "amount": row[6]} for row in rows]


class StoredTimeline(msgspec.Struct, array_like=True):
    """A settled `Timeline` in JSON types: each day's rows `[*group, amount]`."""

    days: dict[str, list[list[Any]]]
    order: list[str]
    derived_days: list[str]


class Timeline:
    """One person's visible posting rows summed by date, and the dates that have rows."""

    def __init__(self, switch: str) -> None:
        self.days: dict[str, Totals] = {}  # date -> that date's totals (never removed)
        self.total: Totals = {}  # every date's totals
        self.order: list[str] = [switch]  # the dates with rows, sorted
        self.derived_days: set[str] = set()
        self.new_days: set[str] = set()  # dates added since the last `settle`
        self.changed_from: str | None = None

    @classmethod
    def of(cls, state: PersonState, derived: Iterable[Posting], switch: str) -> Timeline:
        """The timeline a projector holds after the event that left `state` (restart)."""
        timeline = cls(switch)
        for posting in state.postings:
            timeline.add(posting, derived=False)
        for posting in derived:
            timeline.add(posting, derived=True)
        timeline.settled(grant_days(state.grants))
        return timeline

    def stored(self) -> StoredTimeline:
        """What `restored` needs, in JSON types: a settled timeline (after `settle`)."""
        return StoredTimeline(
            days={day: [[*group, amount] for group, amount in totals.items()]
                  for day, totals in self.days.items()},
            order=self.order, derived_days=sorted(self.derived_days))

    @classmethod
    def restored(cls, stored: StoredTimeline, switch: str) -> Timeline:
        """The timeline `stored` was taken from (its totals summed again from its days)."""
        timeline = cls(switch)
        for day, rows in stored.days.items():
            totals: Totals = {}
            for row in rows:
                group: Group = (row[0], row[1], row[2], row[3], row[4], row[5])
                totals[group] = row[6]
                timeline.total[group] = timeline.total.get(group, 0) + row[6]
            timeline.days[day] = totals
        timeline.order = list(stored.order)
        timeline.derived_days = set(stored.derived_days)
        return timeline

    def add(self, posting: Posting, *, derived: bool) -> None:
        day = str(posting["on"])
        amount = int(posting["amount"])
        group = group_of(posting, derived)
        totals = self.days.get(day)
        if totals is None:
            totals = self.days[day] = {}
            self.new_days.add(day)
        totals[group] = totals.get(group, 0) + amount
        self.total[group] = self.total.get(group, 0) + amount
        if derived:
            self.derived_days.add(day)
        self._changed(day)

    def drop_derived(self) -> None:
        """The derived lines stop counting (new ones follow)."""
        for day in self.derived_days:
            totals = self.days[day]
            for group in [group for group in totals if group[-1]]:
                self.total[group] -= totals.pop(group)
            self._changed(day)
        self.derived_days = set()

    def _changed(self, day: str) -> None:
        if self.changed_from is None or day < self.changed_from:
            self.changed_from = day

    def settled(self, extra_days: Iterable[str]) -> None:
        """As `settle`, without the rows: the timeline of a projector that wrote them."""
        self.order = sorted({*self.order, *self.new_days, *extra_days})
        self.new_days = set()
        self.changed_from = None

    def settle(self, extra_days: Iterable[str]) -> list[tuple[str, str]]:
        """(date, encoded totals up to it) of every date whose totals changed since the last
        call: the dates from the earliest change on, and any date new to the set."""
        for day in [*self.new_days, *extra_days]:
            index = bisect.bisect_left(self.order, day)
            if index == len(self.order) or self.order[index] != day:
                self.order.insert(index, day)
                self._changed(day)
        self.new_days = set()
        start, self.changed_from = self.changed_from, None
        if start is None:
            return []
        later = self.order[bisect.bisect_left(self.order, start):]
        running = dict(self.total)
        for day in later:
            for group, amount in self.days.get(day, {}).items():
                running[group] -= amount
        rows = []
        for day in later:
            for group, amount in self.days.get(day, {}).items():
                running[group] += amount
            rows.append((day, encoded(running)))
        return rows
