"""Outcomes and reason codes are enums whose values are the contract's strings, and receipts
keep them through their stored columns."""

from __future__ import annotations

import schemas
from ledger.outcomes import MessageOutcome, Reason, reason_of
from ledger.storage import Receipt

COLUMNS = ("s", "m", "digest", "rejected", "conflicting_duplicate", "same id", "pk",
           "employment.declared", "2026-01-01T00:00:00+00:00", "file")


def test_outcomes_are_the_contract_words() -> None:
    assert [str(outcome) for outcome in MessageOutcome] == ["accepted", "duplicate", "rejected"]


def test_every_schema_reason_is_a_ledger_reason() -> None:
    assert {reason.value for reason in schemas.Reason} <= {reason.value for reason in Reason}


def test_a_code_this_version_no_longer_gives_reads_back_as_itself() -> None:
    old = reason_of("retired_reason_code")
    assert isinstance(old, Reason) and old == "retired_reason_code"
    assert reason_of(None) is None and reason_of("malformed") is Reason.MALFORMED


def test_a_receipt_reads_its_columns_as_enums_and_writes_plain_strings() -> None:
    receipt = Receipt.stored(*COLUMNS)
    assert receipt.outcome is MessageOutcome.REJECTED
    assert receipt.reason is Reason.CONFLICTING_DUPLICATE
    assert receipt.row() == COLUMNS
    assert all(type(value) is str for value in receipt.row())
    result = receipt.result()
    assert (result.outcome, result.reason, result.source, result.person_key) == (
        MessageOutcome.REJECTED, Reason.CONFLICTING_DUPLICATE, "s", "pk")
