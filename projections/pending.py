"""The pending years of a person's account document, kept between events.

An open year's entitlement is computed from that year's facts, the person's status facts and
retirement, and (in the hours regime only) the statutory balance. Most events change none of
these for most years, so the projector remembers each open year's row and recomputes only the
years an event makes stale: constant work per event, not one computation per open year.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger.changes import Absorbed, Change, FactRecorded, FactRemoved, Posted, StatusChanged
from ledger.rules import accrual
from ledger.rules.book import HOURS
from ledger.rules.common import Context
from ledger.rules.cpf import STATUS_FACT_TYPES
from ledger.state import PersonState, fact_year

# Changes after which every open year is recomputed (a merge brings facts of any year; a
# status change such as a retirement shortens every year from it).
RESET_CHANGE_CLASSES: tuple[type[Change], ...] = (Absorbed, StatusChanged)


class PendingYears:
    """One person's open years' rows (year -> row), as of the projector's position."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}

    def forget_stale(self, changes: Iterable[Change], before: PersonState) -> None:
        """Drop the rows these changes make stale; call before the changes are applied (a
        removed fact's year is read from the state before)."""
        for change in changes:
            if isinstance(change, RESET_CHANGE_CLASSES):
                self.rows.clear()
            elif isinstance(change, Posted):
                self._forget_hours_years()
            elif isinstance(change, FactRecorded):
                self._forget_fact(change.type, change.data)
            elif isinstance(change, FactRemoved):
                fact = before.facts.get(change.key)
                if fact is not None:
                    self._forget_fact(fact["type"], fact["data"])

    def _forget_fact(self, fact_type: str, data: Mapping[str, Any]) -> None:
        if fact_type in STATUS_FACT_TYPES:
            self.rows.clear()
            return
        year = fact_year(fact_type, data)
        if year is not None:
            self.rows.pop(year, None)

    def _forget_hours_years(self) -> None:
        """A posting moves the statutory balance, which sets the hours regime's rate."""
        for year in [year for year, row in self.rows.items() if row["unit"] == HOURS]:
            del self.rows[year]

    def current(self, state: PersonState, context: Context) -> list[dict[str, Any]]:
        """Unclosed years with facts: their entitlement before the ceiling (the balance query
        applies the room left), computed for the years not remembered."""
        rows = []
        for year in sorted(state.accrual_years()):
            if str(year) in state.years:
                continue
            row = self.rows.get(year)
            if row is None:
                row = self.rows[year] = pending_row(state, year, context)
            rows.append(row)
        for year in [year for year in self.rows if str(year) in state.years]:
            del self.rows[year]
        return rows


def pending_row(state: PersonState, year: int, context: Context) -> dict[str, Any]:
    entitled, ceiling, unit, explanation = accrual.pending_entitlement(state, year, context)
    return {"year": year, "entitled": entitled, "ceiling": ceiling, "unit": unit,
            "explanation": explanation}
