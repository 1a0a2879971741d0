"""Key ranges of the projector, and the positions that let several processes share the log.

The person key's leading byte (an account's aggregate id is the key's first 128 bits, see
`ledger.identity.aggregate_id`) falls in one of `SLOTS` equal slots. A runner handles a
`Part` — a contiguous range of slots — and keeps one position per slot, plus one for the
log-wide read models (the audit hash chain runs over the whole log in order) that part 1
keeps. Positions per slot, not per part, so that any number of parts can follow any other
(`--part 1/2` after four processes, or one process after two): every slot resumes exactly
where it stopped, whichever process takes it.

Rows of the positions table for a runner named `live`: `live` for the log-wide models (the
single position of a store projected before parts existed, which the slots start from) and
`live@00` .. `live@63` for the slots.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from projections.schema import Names

# Slots of the key space: the most processes one projection can be split across.
SLOTS = 64
KEY_BYTE_VALUES = 256
LOG_UNIT = ""
UNIT_SEPARATOR = "@"


class InvalidPart(ValueError):
    """A `--part` that is not K/N with 1 <= K <= N <= SLOTS."""


def slot_of(originator_id: uuid.UUID) -> int:
    """The slot of an aggregate (a person's account, or the calendar: slot 0)."""
    return originator_id.bytes[0] * SLOTS // KEY_BYTE_VALUES


def slot_unit(slot: int) -> str:
    return f"{UNIT_SEPARATOR}{slot:02d}"


ALL_UNITS = (LOG_UNIT, *(slot_unit(slot) for slot in range(SLOTS)))


@dataclass(frozen=True, slots=True)
class Part:
    """Part `number` of `count`: the slots from `first_slot` to `end_slot` (exclusive)."""

    number: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.number <= self.count <= SLOTS:
            raise InvalidPart(f"a part is K/N with 1 <= K <= N <= {SLOTS}:"
                              f" {self.number}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Part:
        number, slash, count = text.partition("/")
        if not slash or not number.isdigit() or not count.isdigit():
            raise InvalidPart(f"a part is K/N, e.g. 2/4: {text}")
        return cls(int(number), int(count))

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def first_slot(self) -> int:
        return (self.number - 1) * SLOTS // self.count

    @property
    def end_slot(self) -> int:
        return self.number * SLOTS // self.count

    @property
    def keeps_log(self) -> bool:
        """Part 1 also keeps the log-wide read models (the audit hash chain)."""
        return self.number == 1

    def units(self) -> tuple[str, ...]:
        slots = tuple(slot_unit(slot) for slot in range(self.first_slot, self.end_slot))
        return (LOG_UNIT, *slots) if self.keeps_log else slots

    def key_bounds(self) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """The lowest aggregate id of the part and the lowest above it (None: unbounded)."""
        return _lowest_id(self.first_slot), _lowest_id(self.end_slot)


def _lowest_id(slot: int) -> uuid.UUID | None:
    if slot in (0, SLOTS):
        return None
    leading = (slot * KEY_BYTE_VALUES + SLOTS - 1) // SLOTS
    return uuid.UUID(bytes=bytes([leading]) + bytes(15))


WHOLE = Part()


class Positions:
    """The position rows of one runner (`name`) in the positions table of `names`."""

    def __init__(self, names: Names, name: str) -> None:
        self.names = names
        self.name = name

    def row(self, unit: str) -> str:
        return self.name + unit

    def create(self, curs: Cursor[DictRow]) -> None:
        """Every unit's row, starting where the log-wide row stands (a store projected by one
        runner before parts existed had that row only, and every model at its position)."""
        table = self.names.positions()
        curs.execute(SQL("INSERT INTO {} (projection, position) VALUES (%s, 0)"
                         " ON CONFLICT DO NOTHING").format(table), (self.name,))
        curs.execute(SQL("INSERT INTO {} (projection, position) SELECT unnest(%s::text[]),"
                         " (SELECT position FROM {} WHERE projection = %s)"
                         " ON CONFLICT DO NOTHING").format(table, table),
                     ([self.row(unit) for unit in ALL_UNITS[1:]], self.name))

    def read(self, curs: Cursor[DictRow], units: tuple[str, ...], *,
             lock: bool) -> dict[str, int]:
        """Unit -> position; locked (in the units' order, so two runners never deadlock)
        for the transaction when `lock`."""
        rows = {self.row(unit): unit for unit in units}
        statement = SQL("SELECT projection, position FROM {} WHERE projection = ANY(%s)"
                        " ORDER BY projection" + (" FOR UPDATE" if lock else ""))
        curs.execute(statement.format(self.names.positions()), (sorted(rows),))
        found = {rows[row["projection"]]: int(row["position"]) for row in curs.fetchall()}
        assert len(found) == len(units), "create() first"
        return found

    def write(self, curs: Cursor[DictRow], positions: Mapping[str, int]) -> None:
        if not positions:
            return
        curs.execute(SQL("UPDATE {} AS p SET position = t.position FROM unnest(%s::text[],"
                         " %s::bigint[]) AS t(projection, position)"
                         " WHERE p.projection = t.projection").format(self.names.positions()),
                     ([self.row(unit) for unit in positions], list(positions.values())))

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute(SQL("DELETE FROM {} WHERE projection = ANY(%s)")
                     .format(self.names.positions()),
                     ([self.row(unit) for unit in ALL_UNITS],))
