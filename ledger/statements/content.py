"""What a person's yearly statement says, computed from the recorded events (the source of
truth: a statement does not depend on how far the read models have caught up).

The store holds HMAC person keys, not identifiers, so a statement run reads persons by key
(`KeyedReader`): the statement shows the key, and the identifier only when the caller gave it
(`--person`), the key's holder (the operator's address book) matching one to the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger import limits
from ledger.application import Ledger
from ledger.domain import PersonAccount
from ledger.money import format_hundredths
from ledger.parameters import ParameterNotInForce
from ledger.rules import accrual
from ledger.web.i18n import Words
from ledger.web.views import explain
from projections.reader import Reader, View

MONEY_BUCKETS = ("cpf", "dif", "cec", "topups")
EXPIRY_HORIZON_DAYS = 366


class KeyedReader(Reader):
    """The reader of the embedded default, addressed by person key instead of identifier; it
    keeps the last account it loaded (one person at a time: memory stays bounded)."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        self._last: tuple[str, View] | None = None

    def view(self, identifier: str, known_at: dt.datetime | None = None) -> View:
        key = identifier
        if known_at is None and self._last is not None and self._last[0] == key:
            return self._last[1]
        found = key
        for _ in range(limits.MERGE_CHAIN_LENGTH_MAX):
            account = self._account(found, known_at)
            if account is None or account.state.merged_into is None:
                view = View(key, found, None if account is None else account.state)
                if known_at is None:
                    self._last = (key, view)
                return view
            found = account.state.merged_into
        raise RuntimeError("merge chain too long")

    def remember(self, account: PersonAccount) -> None:
        """Keep an account loaded by id as the last one (the enumeration loads it first)."""
        key = account.person_key
        if account.state.merged_into is None:
            self._last = (key, View(key, key, account.state))

    def account(self, originator: Any) -> PersonAccount | None:
        """The person account of an aggregate id (None for another kind of aggregate)."""
        try:
            aggregate: object = self.ledger.app.repository.get(originator)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, PersonAccount) else None


@dataclass
class Statement:
    person_key: str
    identifier: str | None
    year: int
    balance: dict[str, Any]
    credits: list[dict[str, Any]] = field(default_factory=list)
    uses: list[dict[str, Any]] = field(default_factory=list)
    conversions: list[dict[str, Any]] = field(default_factory=list)
    why: dict[int, list[str]] = field(default_factory=dict)
    expiring: list[dict[str, Any]] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    c2p_uses: list[str] = field(default_factory=list)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year, 12, 31)


def concerned(reader: KeyedReader, key: str, year: int) -> bool:
    """Whether the person gets a statement for `year`: an account of their own (not merged
    into another), alive at the end of the year, with something recorded by then."""
    view = reader.view(key)
    state = view.state
    if state is None or state.merged_into is not None or view.person_key != key:
        return False
    end = dt.date(year, 12, 31).isoformat()
    if state.died_on is not None and state.died_on <= end:
        return False
    return (any(posting["on"] <= end for posting in state.postings)
            or any(fact_year <= year for fact_year in accrual.years_with_facts(state))
            or any(grant["granted_on"] <= end for grant in state.grants.values()))


def build(reader: KeyedReader, key: str, year: int, words: Words,
          identifier: str | None = None) -> Statement:
    end = dt.date(year, 12, 31)
    first = dt.date(year, 1, 1).isoformat()
    balance = reader.balance(key, end)
    lines = [line for line in reader.statement(key, None, end) if line["on"] >= first]
    statement = Statement(key, identifier, year, balance)
    for line in lines:
        if line["account"] == "held":
            continue
        if line["kind"] == "conversion":
            if line["unit"] != "hours":
                statement.conversions.append(line)
        elif Decimal(str(line["amount"])) > 0:
            statement.credits.append(line)
        elif Decimal(str(line["amount"])) < 0:
            statement.uses.append(line)
    for accrual_year in sorted({int(line["year"]) for line in statement.credits
                                if line.get("year") is not None
                                and line["kind"] in ("accrual", "regularisation")}):
        try:
            statement.why[accrual_year] = explain(reader.explain(key, accrual_year), words)
        except ParameterNotInForce:
            continue
    statement.expiring = expiring(balance, end)
    statement.options, statement.c2p_uses = options(reader, balance, end, words)
    return statement


def expiring(balance: dict[str, Any], end: dt.date) -> list[dict[str, Any]]:
    """Active top-ups with something left that expire in the year after `end`."""
    horizon = (end + dt.timedelta(days=EXPIRY_HORIZON_DAYS)).isoformat()
    return [grant for grant in balance["accounts"]["topups"]["grants"]
            if grant["status"] == "active" and grant.get("expires_on")
            and end.isoformat() < grant["expires_on"] <= horizon
            and Decimal(grant["balance"]) > 0]


def options(reader: KeyedReader, balance: dict[str, Any], end: dt.date,
            words: Words) -> tuple[list[str], list[str]]:
    """The DIF and conversion options open on `end`, in words; the C2P uses apart."""
    parameters = reader.parameters
    accounts = balance["accounts"]
    sentences = []
    dif = accounts["dif"]
    if Decimal(dif["balance"]) > 0:
        sentences.append(words("dif_have", amount=words.amount(dif["balance"], dif["unit"])))
    else:
        deadline = _last_open_day(reader, "dif_registration_open")
        if deadline is not None and end <= deadline:
            hours = format_hundredths(parameters.amount("dif_hours_max", end))
            sentences.append(words("dif_open", hours=words.number(hours, 0),
                                   day=words.date(deadline)))
        elif deadline is not None:
            sentences.append(words("dif_closed", day=words.date(deadline)))
    switch = parameters.day("euro_regime_from", end)
    if end < switch:
        rate = format_hundredths(parameters.amount("conversion_eur_per_hour_cpf", switch))
        sentences.append(words("hours_to_euros", day=words.date(switch),
                               rate=words.amount(rate, "EUR")))
    uses: list[str] = []
    points = int(accounts["c2p"]["balance"])
    if points > 0:
        sentences.append(words("c2p_have", points=words.amount(points, "points")))
        uses = _c2p_uses(reader, end, words)
    return sentences, uses


def _c2p_uses(reader: KeyedReader, end: dt.date, words: Words) -> list[str]:
    parameters = reader.parameters
    allowed = parameters.find("c2p_uses", end) or []
    uses = []
    if "training" in allowed:
        row = parameters.table("c2p_training_value_per_point").row_on(end)
        if row is not None:
            uses.append(words("c2p_training",
                              value=words.amount(format_hundredths(row.value), row.unit)))
    if "part_time" in allowed:
        uses.append(words("c2p_part_time",
                          points=parameters.find("c2p_part_time_block_points", end),
                          months=parameters.find("c2p_part_time_months_per_block", end)))
    if "retirement" in allowed:
        uses.append(words("c2p_retirement",
                          points=parameters.find("c2p_retirement_block_points", end),
                          age=parameters.find("c2p_retirement_min_age_years", end),
                          max=parameters.find("c2p_retirement_lifetime_points_max", end)))
    if "reconversion" in allowed:
        uses.append(words("c2p_reconversion"))
    return uses


def _last_open_day(reader: KeyedReader, flag: str) -> dt.date | None:
    """The last day a flag parameter is true (None when it never closes)."""
    ends = [row.effective_to for row in reader.parameters.table(flag).rows if row.value]
    return None if not ends or None in ends else max(day for day in ends if day is not None)


def describe(line: dict[str, Any], words: Words) -> str:
    """A statement line in words."""
    text = words(f"kind_{line['kind']}", year=line.get("year", ""),
                 grant=line.get("grant_id", ""), order=line.get("order_id", ""))
    if text == f"kind_{line['kind']}":
        text = line.get("memo") or line["kind"]
    return text
