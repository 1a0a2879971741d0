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
        # Hours-regime years whose rate band a posting may have moved since their row.
        self.unsure: set[int] = set()

    @classmethod
    def restored(cls, rows: list[dict[str, Any]]) -> PendingYears:
        """The open years' rows as a document listed them (`current`'s rows, all of them)."""
        pending = cls()
        pending.rows = {int(row["year"]): row for row in rows}
        return pending

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
                replaced = before.fact(change.key)  # a fact recorded again replaces it
                if replaced is not None:
                    self._forget_fact(replaced["type"], replaced["data"])
            elif isinstance(change, FactRemoved):
                fact = before.fact(change.key)
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
        """A posting moves the statutory balance, which sets the hours regime's rate band (by
        the regime of the year, whatever the unit of its row): such a year is kept but its
        band is checked again (`current`). The public counter's explanation shows its balance:
        a year that has one is recomputed, whatever its regime."""
        for year, row in list(self.rows.items()):
            explanation = row["explanation"]
            if "cpf_public" in explanation:
                del self.rows[year]
            elif explanation["unit"] == HOURS:
                self.unsure.add(year)

    def current(self, state: PersonState, context: Context) -> list[dict[str, Any]]:
        """Unclosed years with facts: their entitlement before the ceiling (the balance query
        applies the room left), computed for the years not remembered."""
        rows = []
        for year in sorted(state.accrual_years()):
            if str(year) in state.years:
                continue
            row = self.rows.get(year)
            if row is not None and year in self.unsure and \
                    accrual.pending_rate_band(state, year, context) != \
                    row["explanation"]["parameters"]["rate_band"]:
                row = None
            if row is None:
                row = self.rows[year] = pending_row(state, year, context)
            rows.append(row)
        for year in [year for year in self.rows if str(year) in state.years]:
            del self.rows[year]
        self.unsure.clear()
        return rows


def pending_row(state: PersonState, year: int, context: Context) -> dict[str, Any]:
    entitled, ceiling, unit, explanation = accrual.pending_entitlement(state, year, context)
    return {"year": year, "entitled": entitled, "ceiling": ceiling, "unit": unit,
            "explanation": explanation}
