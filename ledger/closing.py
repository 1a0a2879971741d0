"""Closing an acquisition year (`accrual.year.closed`): a sweep over every person with facts in
that year, one transaction per page of persons.

The year is first marked closed in the calendar (so that any fact arriving from then on is
regularised at once), then the sweep settles the persons page by page, then the message's
outcome is recorded. A crash anywhere is safe: the message is not yet `accepted`, so it is
delivered again; the calendar already holds the year, and persons already settled are skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from eventsourcing.persistence import Tracking

from ledger import limits
from ledger.batch import Batch, Result
from ledger.identity import aggregate_id
from ledger.outcomes import MessageOutcome, Reason
from ledger.rules import accrual
from ledger.rules.common import Context, Incoming
from ledger.storage import BatchRecords, Receipt
from ledger.texts import plural
from schemas import Message

if TYPE_CHECKING:
    from ledger.application import Item, Ledger


def close_year(
    ledger: Ledger,
    entry: tuple[tuple[str, str], Item],
    trackings: Sequence[Tracking],
    channel: str | None,
    progress: Callable[[int], None] | None = None,
) -> list[Result]:
    key, message = entry
    assert isinstance(message, Message)
    prior = ledger.app.ledger_recorder.select_receipts([key]).get(key)
    if prior is not None:
        return [_repeat(ledger, key, message, prior, trackings, channel)]
    year, credited_on = int(message.data["year"]), str(message.data["credited_on"])
    refusal = _check(ledger, year, credited_on) or _mark_closed(ledger, year, credited_on, message)
    if refusal is not None:
        reason, detail = refusal
        receipt = _receipt(ledger, key, message, MessageOutcome.REJECTED, reason, detail, channel)
        _save_receipt(ledger, receipt, trackings)
        return [receipt.result()]
    incoming = Incoming(message.source, message.message_id, message.type, message.published_on,
                        message.data)
    settled = _sweep(ledger, year, credited_on, incoming, progress)
    detail = f"year {year} closed on {credited_on}: {plural(settled, 'person')} settled"
    receipt = _receipt(ledger, key, message, MessageOutcome.ACCEPTED, None, detail, channel)
    _save_receipt(ledger, receipt, trackings)
    return [receipt.result()]


def _receipt(ledger: Ledger, key: tuple[str, str], message: Message, outcome: MessageOutcome,
             reason: Reason | None, detail: str, channel: str | None) -> Receipt:
    return Receipt(source=key[0], message_id=key[1], digest=message.digest, outcome=outcome,
                   reason=reason, detail=detail, person_key=None, message_type=message.type,
                   recorded_at=ledger.now(), channel=channel)


def _repeat(
    ledger: Ledger,
    key: tuple[str, str],
    message: Item,
    prior: Receipt,
    trackings: Sequence[Tracking],
    channel: str | None,
) -> Result:
    same = message.digest == prior.digest
    outcome, reason = ((MessageOutcome.DUPLICATE, None) if same
                       else (MessageOutcome.REJECTED, Reason.CONFLICTING_DUPLICATE))
    detail = f"already received: {prior.outcome}" if same else "same id, different content"
    repeat = Receipt(source=key[0], message_id=key[1], digest=message.digest, outcome=outcome,
                     reason=reason, detail=detail, person_key=None,
                     message_type=prior.message_type, recorded_at=ledger.now(), channel=channel)
    ledger.app.save(records=BatchRecords(repeats=[repeat], trackings=trackings))
    return repeat.result()


def _check(ledger: Ledger, year: int, credited_on: str) -> tuple[Reason, str] | None:
    first = ledger.parameters.day("rulebook_first_day", dt.date(2015, 1, 1))
    if year < first.year:
        return Reason.NOT_IN_FORCE, f"data.year {year} is before the rulebook's start"
    if credited_on < f"{year + 1}-01-01":
        return Reason.INCONSISTENT_DATES, "data.credited_on must be after the year it closes"
    return None


def _mark_closed(
    ledger: Ledger, year: int, credited_on: str, message: Item
) -> tuple[Reason, str] | None:
    """Record the year in the calendar; a refusal when another message closed it."""
    calendar = ledger.calendar()
    existing = calendar.closed.get(str(year))
    if existing is None:
        calendar.close_year(year, credited_on, str(message.source), str(message.message_id),
                            ledger.clock())
        ledger.app.save(calendar)
        return None
    if (existing["source"], existing["message_id"]) == (message.source, message.message_id):
        return None  # this very message closed it before a crash: resume the sweep
    return (Reason.YEAR_ALREADY_CLOSED,
            f"year {year} was already closed by {existing['source']}/{existing['message_id']}")


def _sweep(ledger: Ledger, year: int, credited_on: str, incoming: Incoming,
           progress: Callable[[int], None] | None) -> int:
    settled, after = 0, ""
    context = ledger.context()
    while True:
        keys = ledger.app.ledger_recorder.select_year_persons(
            year, after, limits.YEAR_CLOSE_PERSONS_PER_BATCH
        )
        if not keys:
            return settled
        settled += _settle_page(ledger, keys, year, credited_on, incoming, context)
        after = keys[-1]
        if progress is not None:
            progress(settled)


def _settle_page(
    ledger: Ledger,
    keys: list[str],
    year: int,
    credited_on: str,
    incoming: Incoming,
    context: Context,
) -> int:
    return ledger.write_batch(
        lambda batch: _settle_accounts(ledger, batch, keys, year, credited_on, incoming, context))


def _settle_accounts(
    ledger: Ledger,
    batch: Batch,
    keys: list[str],
    year: int,
    credited_on: str,
    incoming: Incoming,
    context: Context,
) -> int:
    count = 0
    ledger.prefetch_accounts((aggregate_id(key) for key in keys), batch)
    for key in keys:
        account = ledger.load_account(key, batch)
        state = account.state
        if state.merged_into is not None or str(year) in state.years:
            continue
        outcome = accrual.settle(state, year, credited_on, incoming, context)
        ledger.record(account, incoming, outcome, batch)
        count += 1
    return count


def _save_receipt(ledger: Ledger, receipt: Receipt, trackings: Sequence[Tracking]) -> None:
    ledger.app.save(records=BatchRecords(receipts=[receipt], trackings=trackings))
