"""Statement pages: a cursor resumes after the last line it gave, wherever that line moved."""

from __future__ import annotations

import pytest

from ledger.http import cursors, pages
from ledger.http.problems import Problem

FINGERPRINT = cursors.fingerprint("postings", "someone")


def _lines(*names: str) -> list[dict[str, str]]:
    return [{"on": "2024-01-01", "memo": name} for name in names]


def _memos(lines: list[dict[str, str]]) -> list[str]:
    return [line["memo"] for line in lines]


def test_pages_cover_the_lines_once() -> None:
    lines = _lines(*"abcdefg")
    first, cursor = pages.lines_page(lines, FINGERPRINT, None, 3)
    second, cursor = pages.lines_page(lines, FINGERPRINT, cursor, 3)
    third, last = pages.lines_page(lines, FINGERPRINT, cursor, 3)
    assert [_memos(first), _memos(second), _memos(third)] == [list("abc"), list("def"), ["g"]]
    assert last is None


def test_a_line_inserted_before_the_cursor_is_not_given_again_nor_skips_any() -> None:
    _, cursor = pages.lines_page(_lines(*"abcdef"), FINGERPRINT, None, 3)
    page, _ = pages.lines_page(_lines("backdated", *"abcdef"), FINGERPRINT, cursor, 3)
    assert _memos(page) == list("def")


def test_a_line_inserted_after_the_cursor_is_given() -> None:
    _, cursor = pages.lines_page(_lines(*"abcdef"), FINGERPRINT, None, 3)
    page, _ = pages.lines_page(_lines(*"abc", "new", *"def"), FINGERPRINT, cursor, 3)
    assert _memos(page) == ["new", "d", "e"]


def test_a_cursor_whose_line_is_gone_is_stale() -> None:
    _, cursor = pages.lines_page(_lines(*"abcdef"), FINGERPRINT, None, 3)
    with pytest.raises(Problem) as raised:
        pages.lines_page(_lines(*"abdef"), FINGERPRINT, cursor, 3)
    assert (raised.value.status, raised.value.reason) == (409, "cursor_stale")


@pytest.mark.parametrize("cursor", ["", "%%%", "bm90IGpzb24", cursors.encode({"q": "other"}),
                                    cursors.encode({"q": FINGERPRINT, "o": -1, "a": "x"}),
                                    cursors.encode({"q": FINGERPRINT, "o": True, "a": "x"}),
                                    "A" * 600])
def test_foreign_cursors_are_invalid(cursor: str) -> None:
    with pytest.raises(Problem) as raised:
        pages.lines_page(_lines(*"abc"), FINGERPRINT, cursor, 3)
    assert (raised.value.status, raised.value.reason) == (400, "invalid_cursor")
