"""Balances from postings: the one fold that every reader and every decision uses.

Postings carry their effective date, account, signed amount and unit. Folding them in date order
as of a day gives each account's balance in that day's unit (hours before the euro switch, EUR
from it), the holds, each top-up grant's state, and the derived lines that no message records by
itself: the 2019 conversion and the expiry or withdrawal of a grant's unused part.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ledger.parameters import Parameters
from ledger.state import HELD, Posting

EUR, HOURS, POINTS = "EUR", "hours", "points"
MONEY_ACCOUNTS = ("cpf", "dif", "cec", "topups")
# The public agents' counter (rules §10): hours at every date, never converted in 2019, never
# in `available` (it funds public orders only).
PUBLIC = "cpf_public"
_RATE_PARAMETER = {
    "cpf": "conversion_eur_per_hour_cpf",
    "dif": "conversion_eur_per_hour_dif",
    "cec": "conversion_eur_per_hour_cec",
    "topups": "conversion_eur_per_hour_topups",
}


def euro_from(parameters: Parameters) -> dt.date:
    return parameters.day("euro_regime_from", dt.date(2015, 1, 1))


def unit_on(parameters: Parameters, day: dt.date) -> str:
    return EUR if day >= euro_from(parameters) else HOURS


def hours_to_cents(parameters: Parameters, account: str, hundredths: int) -> int:
    """Hundredths of an hour to cents at the account's 2019 rate (exact: integer rates)."""
    rate_cents = parameters.amount(_RATE_PARAMETER[account], euro_from(parameters))
    return hundredths * rate_cents // 100


def in_unit(parameters: Parameters, account: str, amount: int, unit: str, target: str) -> int:
    """An amount of `account` expressed in `target` unit (hours convert to EUR only)."""
    if unit == target or account in ("c2p", PUBLIC):
        return amount
    if unit == HOURS and target == EUR:
        return hours_to_cents(parameters, account, amount)
    raise ValueError(f"cannot convert {account} {unit} to {target}")


def bucket_of(posting: Posting) -> str:
    """The bucket a posting moves: an account, or `grant:<id>` for a top-up."""
    account = str(posting.get("bucket", posting["account"]))
    grant_id = posting.get("grant_id")
    return f"grant:{grant_id}" if account == "topups" and grant_id else account


@dataclass(slots=True)
class GrantView:
    grant_id: str
    balance: int = 0
    held: int = 0
    closed_amount: int = 0
    closed_on: str | None = None
    closed_as: str | None = None


@dataclass(slots=True)
class Book:
    """Balances of one person as of a day, in `unit` (points for c2p)."""

    as_of: dt.date
    unit: str
    balances: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*MONEY_ACCOUNTS, PUBLIC), 0)
    )
    points: int = 0
    held: dict[str, int] = field(default_factory=dict)  # bucket -> held amount
    grants: dict[str, GrantView] = field(default_factory=dict)
    derived: list[Posting] = field(default_factory=list)
    minimum: dict[str, int] | None = None  # bucket -> lowest available since a day

    def available(self, bucket: str) -> int:
        if bucket.startswith("grant:"):
            grant = self.grants.get(bucket[6:])
            return 0 if grant is None else grant.balance - grant.held
        return self.balances.get(bucket, 0) - self.held.get(bucket, 0)

    def held_total(self) -> int:
        """Holds on the money buckets (the public counter's, in hours, are apart)."""
        return sum(amount for bucket, amount in self.held.items() if bucket != PUBLIC)

    def lowest_available(self, bucket: str) -> int:
        """The least this bucket had available from the tracked day on (never over-draw). A
        grant that closed since counts only until it closed."""
        current = self.available(bucket)
        if self.minimum is None or bucket not in self.minimum:
            return current
        grant = self.grants.get(bucket[6:]) if bucket.startswith("grant:") else None
        if grant is not None and grant.closed_on is not None:
            return self.minimum[bucket]
        return min(current, self.minimum[bucket])


class _Folder:
    def __init__(
        self,
        parameters: Parameters,
        grants: Mapping[str, Mapping[str, Any]],
        as_of: dt.date,
        track_from: dt.date | None,
    ) -> None:
        self.parameters = parameters
        self.grant_defs = grants
        self.switch = euro_from(parameters)
        self.book = Book(as_of=as_of, unit=HOURS)
        self.track_from = track_from
        self.checkpoints = self._checkpoints(as_of)

    def _checkpoints(self, as_of: dt.date) -> list[tuple[dt.date, str]]:
        points: list[tuple[dt.date, str]] = []
        if self.switch <= as_of:
            points.append((self.switch, ""))
        for grant_id, grant in self.grant_defs.items():
            closing = grant_closing(grant)
            if closing is not None and dt.date.fromisoformat(closing[0]) <= as_of:
                points.append((dt.date.fromisoformat(closing[0]), grant_id))
        points.sort()
        return points

    def run(self, postings: Sequence[Posting]) -> Book:
        ordered = sorted(
            (p for p in postings if p["on"] <= self.book.as_of.isoformat()),
            key=lambda posting: posting["on"],
        )
        self.apply_all(ordered)
        return self.finish()

    def apply_all(self, ordered: Iterable[Posting]) -> None:
        """Fold postings already in date order (and dated on or before `book.as_of`)."""
        for posting in ordered:
            day = dt.date.fromisoformat(posting["on"])
            self._start_tracking(day)
            self._pass_checkpoints(day)
            self._apply(posting)
            self._reclose(posting, day)
            self._track()

    def finish(self) -> Book:
        self._pass_checkpoints(self.book.as_of)
        self._start_tracking(self.book.as_of + dt.timedelta(days=1))
        return self.book

    @classmethod
    def going_on(cls, parameters: Parameters, grants: Mapping[str, Mapping[str, Any]],
                 checkpoints: list[tuple[dt.date, str]], book: Book) -> _Folder:
        """A fold that goes on from `book` with these checkpoints still ahead (no tracking:
        see `FoldMemo`)."""
        folder = object.__new__(cls)
        folder.parameters, folder.grant_defs, folder.switch = (
            parameters, grants, euro_from(parameters))
        folder.track_from = None
        folder.checkpoints = checkpoints
        folder.book = book
        return folder

    def copy(self, as_of: dt.date) -> _Folder:
        """This fold so far, to go on with as of `as_of` (no tracking: see `FoldMemo`)."""
        assert self.track_from is None and self.book.minimum is None
        book = self.book
        return _Folder.going_on(
            self.parameters, self.grant_defs, list(self.checkpoints),
            Book(as_of=as_of, unit=book.unit, balances=dict(book.balances), points=book.points,
                 held=dict(book.held),
                 grants={g: replace(view) for g, view in book.grants.items()},
                 derived=list(book.derived)))

    def _pass_checkpoints(self, until: dt.date) -> None:
        """Conversion and grant closings dated on or before `until` happen before the
        postings of that day: a grant expiring on D is no longer usable on D."""
        while self.checkpoints and self.checkpoints[0][0] <= until:
            day, grant_id = self.checkpoints.pop(0)
            self._start_tracking(day)
            if grant_id == "":
                self._convert(day)
            else:
                self._close_grant(grant_id, day)
            self._track()

    def _start_tracking(self, day: dt.date) -> None:
        if self.track_from is not None and self.book.minimum is None and day > self.track_from:
            self.book.minimum = {}
            self._track()

    def _track(self) -> None:
        minimum = self.book.minimum
        if minimum is None:
            return
        # A grant's expiry or withdrawal is not spending: once closed, it no longer lowers the
        # minimum (an order before that day may still draw on it).
        open_grants = (f"grant:{g}" for g, view in self.book.grants.items() if not view.closed_on)
        for bucket in [*MONEY_ACCOUNTS, PUBLIC, *open_grants]:
            value = self.book.available(bucket)
            minimum[bucket] = min(minimum.get(bucket, value), value)

    def _amount(self, posting: Posting) -> int:
        unit = posting["unit"]
        if unit == HOURS and self.book.unit == EUR and bucket_of(posting) != PUBLIC:
            return hours_to_cents(self.parameters, _rate_account(posting), posting["amount"])
        return int(posting["amount"])

    def _apply(self, posting: Posting) -> None:
        account = posting["account"]
        if account == "c2p":
            self.book.points += posting["amount"]
            return
        amount = self._amount(posting)
        bucket = bucket_of(posting)
        if account == HELD:
            self.book.held[bucket] = self.book.held.get(bucket, 0) + amount
            if bucket.startswith("grant:"):
                self._grant(bucket[6:]).held += amount
            return
        self.book.balances[account] += amount
        if bucket.startswith("grant:"):
            self._grant(bucket[6:]).balance += amount

    def _grant(self, grant_id: str) -> GrantView:
        return self.book.grants.setdefault(grant_id, GrantView(grant_id))

    def _convert(self, day: dt.date) -> None:
        if self.book.unit == EUR:
            return
        book = self.book
        book.unit = EUR
        for account in MONEY_ACCOUNTS:
            hours = book.balances[account]
            book.balances[account] = hours_to_cents(self.parameters, account, hours)
            if hours:
                book.derived.extend(_conversion_lines(day, account, hours, book.balances[account]))
        for bucket, hours in list(book.held.items()):
            if bucket == PUBLIC:
                continue
            book.held[bucket] = hours_to_cents(self.parameters, _bucket_account(bucket), hours)
        for grant in book.grants.values():
            grant.balance = hours_to_cents(self.parameters, "topups", grant.balance)
            grant.held = hours_to_cents(self.parameters, "topups", grant.held)

    def _close_grant(self, grant_id: str, day: dt.date) -> None:
        closing = grant_closing(self.grant_defs[grant_id])
        assert closing is not None
        grant = self._grant(grant_id)
        grant.closed_on, grant.closed_as = closing
        self._expire_unused(grant, day)

    def _reclose(self, posting: Posting, day: dt.date) -> None:
        """A credit or release reaching a closed grant is not revived: it closes again."""
        grant_id = posting.get("grant_id")
        if grant_id and grant_id in self.book.grants and self.book.grants[grant_id].closed_on:
            self._expire_unused(self.book.grants[grant_id], day)

    def _expire_unused(self, grant: GrantView, day: dt.date) -> None:
        unused = grant.balance - grant.held
        if unused <= 0:
            return
        grant.balance -= unused
        grant.closed_amount += unused
        self.book.balances["topups"] -= unused
        self.book.derived.append(
            {
                "on": day.isoformat(),
                "account": "topups",
                "amount": -unused,
                "unit": self.book.unit,
                "kind": grant.closed_as or "expired",
                "grant_id": grant.grant_id,
                "memo": _closing_memo(self.grant_defs[grant.grant_id], grant.closed_as),
            }
        )


def grant_closing(grant: Mapping[str, Any]) -> tuple[str, str] | None:
    """(day, "expired" | "withdrawn") when the grant's unused part goes, if ever."""
    options = []
    if grant.get("expires_on"):
        options.append((str(grant["expires_on"]), "expired"))
    if grant.get("withdrawn_on"):
        options.append((str(grant["withdrawn_on"]), "withdrawn"))
    return min(options) if options else None


def _closing_memo(grant: Mapping[str, Any], closed_as: str | None) -> str:
    if closed_as == "withdrawn":
        return "unused part withdrawn by the funder"
    if grant.get("refundable"):
        return "unused part expired; refunded to the funder"
    return "unused part expired"


def _rate_account(posting: Posting) -> str:
    account = str(posting["account"])
    return _bucket_account(bucket_of(posting)) if account == HELD else account


def _bucket_account(bucket: str) -> str:
    return "topups" if bucket.startswith("grant:") else bucket


def _conversion_lines(day: dt.date, account: str, hours: int, cents: int) -> list[Posting]:
    """The 2019 conversion as two lines: the hours leave, the euros arrive."""
    common = {"on": day.isoformat(), "account": account, "kind": "conversion",
              "memo": f"{hours / 100:.2f} h converted to EUR"}
    return [{**common, "amount": -hours, "unit": HOURS}, {**common, "amount": cents, "unit": EUR}]


def fold(
    postings: Iterable[Posting],
    grants: Mapping[str, Mapping[str, Any]],
    as_of: dt.date,
    parameters: Parameters,
    *,
    track_from: dt.date | None = None,
) -> Book:
    """Balances as of `as_of` (inclusive). With `track_from`, also the lowest availability of
    every bucket on any day after it (so that a decision never spends what a later-dated
    decision already holds)."""
    folder = _Folder(parameters, grants, as_of, track_from)
    return _in_unit_of_day(folder.run(list(postings)), folder)


def _in_unit_of_day(book: Book, folder: _Folder) -> Book:
    if book.as_of >= folder.switch:
        book.unit = EUR
    return book


@dataclass(slots=True)
class FoldMemo:
    """A fold paused after the first `count` postings of a person (in recording order), all
    dated on or before `frontier`. Postings mostly arrive in date order, so the next fold
    as of a later day goes on from here with the new postings only: its cost no longer grows
    with the history. Transient (never stored); rebuilt when its assumptions break."""

    parameters: Parameters
    closings: dict[str, tuple[str, str] | None]
    count: int
    frontier: str
    folder: _Folder


def stored_fold(memo: FoldMemo) -> dict[str, Any]:
    """A fold memo as a snapshot keeps it (`ledger.snapshots`): a person loaded later goes on
    from it instead of folding the whole career again (the year close folds every person)."""
    folder, book = memo.folder, memo.folder.book
    assert folder.track_from is None and book.minimum is None
    return {
        "rules": fold_rules(memo.parameters),
        "count": memo.count,
        "frontier": memo.frontier,
        "closings": {grant_id: list(closing) if closing else None
                     for grant_id, closing in memo.closings.items()},
        "checkpoints": [[day.isoformat(), grant_id] for day, grant_id in folder.checkpoints],
        "unit": book.unit,
        "balances": book.balances,
        "points": book.points,
        "held": book.held,
        "grants": {grant_id: [view.balance, view.held, view.closed_amount, view.closed_on,
                              view.closed_as] for grant_id, view in book.grants.items()},
        "derived": book.derived,
    }


@functools.lru_cache(maxsize=8)  # once per rulebook, not at every snapshot
def fold_rules(parameters: Parameters) -> str:
    """What a fold reads of the rulebook (the euro switch, the 2019 conversion rates): a
    stored fold made under other values is not gone on from."""
    switch = euro_from(parameters)
    rates = (str(parameters.amount(name, switch)) for name in _RATE_PARAMETER.values())
    return "/".join((switch.isoformat(), *rates))


def restored_fold(stored: Mapping[str, Any], grants: Mapping[str, Mapping[str, Any]],
                  parameters: Parameters) -> FoldMemo | None:
    """The fold memo `stored_fold` kept, to go on with (its own values, not copies: a freshly
    decoded document's); None when it was made under other rules. `_advanced` starts afresh
    when the grants' closings changed since."""
    if stored.get("rules") != fold_rules(parameters):
        return None
    folder = _Folder.going_on(
        parameters, grants,
        [(dt.date.fromisoformat(day), grant_id) for day, grant_id in stored["checkpoints"]],
        Book(as_of=dt.date.max, unit=stored["unit"], balances=stored["balances"],
             points=stored["points"], held=stored["held"],
             grants={grant_id: GrantView(grant_id, *view)
                     for grant_id, view in stored["grants"].items()},
             derived=stored["derived"]))
    closings = {grant_id: (closing[0], closing[1]) if closing else None
                for grant_id, closing in stored["closings"].items()}
    return FoldMemo(parameters, closings, stored["count"], stored["frontier"], folder)


def fold_remembered(
    postings: Sequence[Posting],
    grants: Mapping[str, Mapping[str, Any]],
    as_of: dt.date,
    parameters: Parameters,
    memo: FoldMemo | None,
) -> tuple[Book, FoldMemo | None]:
    """`fold(postings, grants, as_of, parameters)`, going on from `memo` when it can; the
    memo to keep for the next call. As of a day before postings already known, a plain fold,
    and `memo` is kept as it was for the later days."""
    advanced = _advanced(memo, postings, grants, as_of, parameters)
    if advanced is None:
        return fold(postings, grants, as_of, parameters), memo
    folder = advanced.folder.copy(as_of)
    return _in_unit_of_day(folder.finish(), folder), advanced


def _advanced(
    memo: FoldMemo | None,
    postings: Sequence[Posting],
    grants: Mapping[str, Mapping[str, Any]],
    as_of: dt.date,
    parameters: Parameters,
) -> FoldMemo | None:
    closings = {grant_id: grant_closing(grant) for grant_id, grant in grants.items()}
    if (memo is None or memo.parameters is not parameters or memo.closings != closings
            or memo.count > len(postings)):
        memo = FoldMemo(parameters, closings, 0, "", _Folder(parameters, grants, dt.date.max, None))
    new = postings[memo.count:]
    day = as_of.isoformat()
    if memo.frontier > day or any(p["on"] > day for p in new):
        return None  # as of a day before postings already known: a plain fold
    if any(p["on"] < memo.frontier for p in new):  # dated before what was folded: refold
        return _advanced(None, postings, grants, as_of, parameters)
    memo.folder.apply_all(sorted(new, key=lambda posting: posting["on"]))
    memo.count = len(postings)
    memo.frontier = max((p["on"] for p in new), default=memo.frontier)
    return memo
