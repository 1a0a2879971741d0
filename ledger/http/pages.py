"""Cursor pages over a person's statement.

The statement is computed whole (it is bounded by one person's history) and cut into pages. A
cursor remembers how far the client read and the last line it was given (the anchor): the next
page starts after the anchor, found where it was or, when lines were inserted before it since
(a backdated fact), wherever it moved to. A cursor whose anchor is gone (the line was
superseded or retracted) is refused with 409 `cursor_stale`: the client starts again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ledger.http import cursors
from ledger.http.problems import Problem

ANCHOR_CHARS = 24
ACCOUNTS = ("cpf", "dif", "cec", "topups", "c2p", "cpf_public", "held")


@dataclass(frozen=True, slots=True)
class LinesQuery:
    start: dt.date | None
    end: dt.date | None
    account: str | None

    def fingerprint(self, person: str) -> str:
        return cursors.fingerprint("postings", person, self.start, self.end, self.account)


def anchor(line: Any) -> str:
    return hashlib.sha256(orjson.dumps(line, option=orjson.OPT_SORT_KEYS)).hexdigest()[
        :ANCHOR_CHARS]


def lines_page(
    lines: Sequence[Any], fingerprint: str, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """The page of `limit` lines after the cursor, and the cursor of the next page (None at
    the end)."""
    start = 0 if cursor is None else _resume_at(lines, cursors.decode(cursor, fingerprint))
    page = list(lines[start:start + limit])
    if start + len(page) >= len(lines):
        return page, None
    return page, cursors.encode({"q": fingerprint, "o": start + len(page),
                                 "a": anchor(page[-1])})


def _resume_at(lines: Sequence[Any], fields: dict[str, Any]) -> int:
    offset = cursors.integer(fields, "o")
    expected = cursors.text(fields, "a")
    if 0 < offset <= len(lines) and anchor(lines[offset - 1]) == expected:
        return offset
    for index, line in enumerate(lines):
        if anchor(line) == expected:
            return index + 1
    raise Problem(409, "cursor_stale",
                  "the statement changed under this cursor (a line was superseded or "
                  "retracted); start again without a cursor")
