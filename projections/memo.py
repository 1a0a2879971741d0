"""What the balances model remembers of a person between two of their events, and its stored
form.

Projecting a person's event needs what the previous one left: the derived lines, the account
document (to write a history row only when it changes), the open years' rows and the running
timeline. Recomputed from the person's state, that costs a fold over the whole history; it is
what a projector pays for every person it does not hold in memory, and at France's scale it
holds few of a partition's persons. So when the tracker lets a person go, the memo is stored
(`person_memos`, in the page's transaction, keyed by the account and the version it describes)
and read back, in one statement per page, when that person comes again.

A memo is a cache: one whose version is not the state's before the event is ignored and the
memo recomputed (`BalancesProjection._written`), which is what a projector without memos does;
both give the same rows (tests/test_projections.py).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL

from ledger.state import Posting
from projections.pending import PendingYears
from projections.running import StoredTimeline, Timeline
from projections.schema import Names

MEMO_TABLE = "person_memos"


@dataclass(slots=True)
class Memo:
    """What the last projected event of a person left (see the module's text)."""

    derived: list[Posting]
    document: bytes
    pending: PendingYears
    timeline: Timeline

    @classmethod
    def new(cls, switch: str) -> Memo:
        """A new account's: nothing written yet."""
        return cls([], b"", PendingYears(), Timeline(switch))


class StoredMemo(msgspec.Struct, array_like=True):
    derived: list[dict[str, Any]]
    document: msgspec.Raw
    timeline: StoredTimeline


_DECODER = msgspec.json.Decoder(StoredMemo)


def encode(memo: Memo) -> bytes:
    """The memo's stored form; the open years' rows are those of its document."""
    return msgspec.json.encode(StoredMemo(memo.derived, msgspec.Raw(memo.document),
                                          memo.timeline.stored()))


def decode(data: bytes, switch: str) -> Memo:
    stored = _DECODER.decode(data)
    document = bytes(stored.document)
    rows = orjson.loads(document)["pending"]
    return Memo(stored.derived, document, PendingYears.restored(rows),
                Timeline.restored(stored.timeline, switch))


class MemoStore:
    """The stored memos of one set of tables: those a page may need, read before it, and those
    of the persons the tracker let go, written with it. `recalls` counts where each person's
    memo came from: `memory`, `stored` or `computed` (recomputed from the state)."""

    def __init__(self) -> None:
        self.loaded: dict[uuid.UUID, tuple[int, bytes]] = {}
        self.recalls: Counter[str] = Counter()

    def load(self, curs: Cursor[DictRow], names: Names, originator_ids: Sequence[uuid.UUID],
             ) -> None:
        self.loaded = {}
        if not originator_ids:
            return
        with curs.connection.cursor(row_factory=tuple_row) as rows:
            rows.execute(SQL("SELECT originator_id, version, memo FROM {}"
                             " WHERE originator_id = ANY(%b)").format(names.table(MEMO_TABLE)),
                         (list(originator_ids),), binary=True)
            self.loaded = {originator_id: (version, bytes(memo))
                           for originator_id, version, memo in rows.fetchall()}

    def take(self, originator_id: uuid.UUID, version: int, switch: str) -> Memo | None:
        """The stored memo of this account at `version`, if read for this page."""
        stored = self.loaded.pop(originator_id, None)
        if stored is None or stored[0] != version:
            return None
        self.recalls["stored"] += 1
        return decode(stored[1], switch)

    @staticmethod
    def write(curs: Cursor[DictRow], names: Names,
              memos: dict[uuid.UUID, tuple[int, Memo]]) -> None:
        """Store these memos (account -> (version, memo)), replacing older ones."""
        kept = [(originator_id, version, encode(memo))
                for originator_id, (version, memo) in memos.items() if memo.document]
        if not kept:
            return
        ids, versions, data = zip(*kept, strict=True)
        curs.execute(
            SQL("INSERT INTO {} (originator_id, version, memo)"
                " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::bytea[])"
                " ON CONFLICT (originator_id) DO UPDATE SET version = excluded.version,"
                " memo = excluded.memo").format(names.table(MEMO_TABLE)),
            (list(ids), list(versions), list(data)))

    def forget(self) -> None:
        self.loaded = {}
