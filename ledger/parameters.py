"""The rulebook's parameter tables (rules.md), loaded once from `parameters/*.toml`.

Code asks "what is parameter P on date D?" and never hard-codes a figure. Each table row has
`effective_from`, optional `effective_to` (inclusive) and a `value`; rows with `unit = "EUR"` or
`unit = "hours"` hold decimal strings converted to integer cents or hundredths of an hour.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from typing import Any

from ledger.money import parse_hundredths

_SCALED_UNITS = frozenset({"EUR", "hours"})


class ParameterNotInForce(LookupError):
    """No row of the table covers the date asked (a programmer or data error)."""


@dataclass(frozen=True, slots=True)
class Row:
    effective_from: dt.date
    effective_to: dt.date | None
    value: Any
    unit: str | None


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    rows: tuple[Row, ...]  # sorted by effective_from, non-overlapping
    starts: tuple[dt.date, ...]

    def row_on(self, day: dt.date) -> Row | None:
        index = bisect.bisect_right(self.starts, day) - 1
        if index < 0:
            return None
        row = self.rows[index]
        if row.effective_to is not None and day > row.effective_to:
            return None
        return row


# Values remembered by (parameter, day) before the memory starts afresh: the rules ask the same
# few questions (a year's first day, a posting's day) millions of times; a table's bisection
# and row checks cost more than a dictionary lookup. About 100 bytes an entry.
PARAMETER_MEMORY_ENTRIES_MAX = 100_000
_NOT_IN_FORCE = object()


class Parameters:
    """Every rule parameter, effective-dated. Immutable once loaded (so its answers are
    remembered)."""

    def __init__(self, tables: Mapping[str, Table]) -> None:
        self._tables = dict(tables)
        self._values: dict[tuple[str, dt.date], Any] = {}
        self._fractions: dict[tuple[str, dt.date], Fraction] = {}

    def names(self) -> list[str]:
        return sorted(self._tables)

    def table(self, name: str) -> Table:
        return self._tables[name]

    def _value(self, name: str, day: dt.date) -> Any:
        """The value of `name` on `day`, or `_NOT_IN_FORCE`; remembered."""
        try:
            return self._values[name, day]
        except KeyError:
            row = self._tables[name].row_on(day)
            return _remember(self._values, (name, day),
                             _NOT_IN_FORCE if row is None else row.value)

    def find(self, name: str, day: dt.date) -> Any | None:
        """The value of `name` on `day`, or None when no row covers that day."""
        value = self._value(name, day)
        return None if value is _NOT_IN_FORCE else value

    def get(self, name: str, day: dt.date) -> Any:
        """The value of `name` on `day`; raises ParameterNotInForce when none covers it."""
        value = self._value(name, day)
        if value is _NOT_IN_FORCE:
            raise ParameterNotInForce(f"parameter {name} has no value on {day.isoformat()}")
        return value

    def amount(self, name: str, day: dt.date) -> int:
        """A money or hours parameter in cents or hundredths."""
        value = self.get(name, day)
        assert isinstance(value, int), f"{name} is not an amount"
        return value

    def fraction(self, name: str, day: dt.date) -> Fraction:
        fraction = self._fractions.get((name, day))
        if fraction is None:
            fraction = _remember(self._fractions, (name, day), Fraction(str(self.get(name, day))))
        return fraction

    def flag(self, name: str, day: dt.date) -> bool:
        value = self.find(name, day)
        return bool(value)

    def day(self, name: str, day: dt.date) -> dt.date:
        value = self.get(name, day)
        assert isinstance(value, dt.date)
        return value


def _remember(memory: dict[Any, Any], key: Any, value: Any) -> Any:
    """`value`, remembered under `key` (the memory starts afresh when full)."""
    if len(memory) >= PARAMETER_MEMORY_ENTRIES_MAX:
        memory.clear()
    memory[key] = value
    return value


def _row(entry: Mapping[str, Any]) -> Row:
    unit = entry.get("unit")
    value = entry["value"]
    if unit in _SCALED_UNITS:
        value = parse_hundredths(str(value))
    return Row(entry["effective_from"], entry.get("effective_to"), value, unit)


def _table(name: str, entries: list[Mapping[str, Any]]) -> Table:
    rows = tuple(sorted((_row(entry) for entry in entries), key=lambda row: row.effective_from))
    for before, after in itertools.pairwise(rows):
        if before.effective_to is None or before.effective_to >= after.effective_from:
            raise ValueError(f"parameter {name}: rows overlap at {after.effective_from}")
    return Table(name, rows, tuple(row.effective_from for row in rows))


def parse_tables(documents: Mapping[str, Mapping[str, Any]]) -> Parameters:
    """Build Parameters from parsed TOML documents (file name -> content)."""
    tables: dict[str, Table] = {}
    for file_name, document in sorted(documents.items()):
        for name, entries in document.items():
            if name in tables:
                raise ValueError(f"parameter {name} defined twice (again in {file_name})")
            tables[name] = _table(name, entries)
    return Parameters(tables)


def load() -> Parameters:
    """The rulebook shipped with the package (`ledger/parameters/*.toml`)."""
    folder = resources.files("ledger").joinpath("parameters")
    documents = {
        entry.name: tomllib.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }
    return parse_tables(documents)
