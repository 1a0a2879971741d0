"""The ledger application: validated messages in, events and outcomes recorded, in batches.

One batch is one transaction: the events of every person it touches, the outcome of every
message, the year index and the consumed positions are recorded together or not at all. A
conflicting concurrent write (optimistic concurrency on a person's version, or the same message
key recorded by another process) rolls the batch back; it is then decided again from fresh state.
"""

from __future__ import annotations

import functools
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent, Tracking, Transcoder

from ledger import limits, postgres
from ledger.batch import Batch, Result
from ledger.changes import Absorbed, Change, FactRecorded, from_builtins
from ledger.clock import Clock, system_clock
from ledger.config import Settings
from ledger.decide import decide, merge, reconcile_everything
from ledger.domain import (
    CALENDAR_ID,
    LedgerCalendar,
    PersonAccount,
    PersonSnapshot,
    open_account,
    start_calendar,
)
from ledger.identity import InvalidPerson, aggregate_id, person_key
from ledger.outcomes import MessageOutcome, Reason, reason_of
from ledger.parameters import Parameters
from ledger.parameters import load as load_parameters
from ledger.rules import accrual
from ledger.rules.common import Context, Incoming, Outcome, Rejected
from ledger.rules.cpf import year_of_fact
from ledger.state import PersonState, fact_year
from ledger.storage import BatchRecords, LedgerRecorder, LedgerSQLiteRecorder, Receipt
from ledger.store_identity import open_identity
from ledger.transcoder import LedgerMapper, OrjsonTranscoder
from schemas import Message, Rejection

Item = Message | Rejection
YEAR_CLOSE_TYPE = "accrual.year.closed"
REJECTED = MessageOutcome.REJECTED
T = TypeVar("T")


@dataclass(slots=True)
class AccountLoads:
    """How the ledger found the accounts its batches asked for, since it started: from its
    cache, or loaded from the store (a snapshot and the events recorded since it)."""

    cached: int = 0
    loaded: int = 0
    snapshots: int = 0
    replayed_events: int = 0


class ConflictingWriters(RuntimeError):
    """A batch kept conflicting with other writers past `BATCH_CONFLICT_RETRIES_MAX` tries."""


def database_environment(database_url: str) -> dict[str, str]:
    """eventsourcing's persistence settings for a CPA_DATABASE_URL."""
    if database_url.startswith("sqlite:///"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": database_url.removeprefix("sqlite:///") or ":memory:",
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": "ledger.storage:LedgerSQLiteRecorder",
        }
    if database_url.startswith(("postgresql://", "postgres://")):
        return postgres.database_environment(database_url)
    raise ValueError(f"unsupported CPA_DATABASE_URL scheme: {database_url.split(':', 1)[0]}")


class LedgerApplication(Application[uuid.UUID]):
    name = "cpa_ledger"
    snapshotting_intervals = {PersonAccount: limits.SNAPSHOT_INTERVAL_EVENTS}  # noqa: RUF012
    snapshot_class = PersonSnapshot

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        return LedgerMapper(transcoder=self.construct_transcoder())

    @property
    def ledger_recorder(self) -> LedgerRecorder:
        recorder = self.recorder
        assert isinstance(recorder, LedgerSQLiteRecorder | postgres.LedgerPostgresRecorder)
        return recorder


class Ledger:
    """Decides and records messages; the composition root builds one per process."""

    def __init__(self, settings: Settings, parameters: Parameters | None = None,
                 clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.parameters = parameters or load_parameters()
        self.app = LedgerApplication(env=database_environment(settings.database_url))
        try:
            self.identity = open_identity(self.app.recorder.datastore,  # type: ignore[attr-defined]
                                          settings.person_key_secret)
        except BaseException:
            self.app.close()
            raise
        self._cache: OrderedDict[uuid.UUID, PersonAccount] = OrderedDict()
        self.loads = AccountLoads()
        # A message names its person twice (prefetch, decision) and a person has many
        # messages: the HMAC and the identifier's validation are worth remembering.
        self._person_keys = functools.lru_cache(maxsize=limits.PERSON_KEYS_CACHED_MAX)(
            functools.partial(person_key, secret=settings.person_key_secret))

    def close(self) -> None:
        self.app.close()

    def now(self) -> str:
        """The recording time of an outcome, from the ledger's clock."""
        return self.clock().isoformat()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Identity.

    def person_key(self, identifier: str) -> str:
        return self._person_keys(identifier)

    # Ingestion.

    def ingest(
        self,
        items: Sequence[Item],
        *,
        fallback_keys: Sequence[tuple[str, str]] | None = None,
        trackings: Sequence[Tracking] = (),
        channel: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Result]:
        """Decide and record a batch, in order. `fallback_keys` name messages that have no
        readable (source, message_id); `trackings` commit with the batch's last transaction;
        `progress` hears the persons a year close has settled so far, after each page."""
        self.identity.refuse_writes()
        keys = [_key(item, fallback_keys[i] if fallback_keys else None)
                for i, item in enumerate(items)]
        results: list[Result] = []
        for segment, is_close in _segments(list(zip(keys, items, strict=True))):
            last = segment[-1][0] == keys[-1] and segment[-1][1] is items[-1]
            tracked = trackings if last else ()
            if is_close:
                results.extend(self._close_year(segment[0], tracked, channel, progress))
            else:
                results.extend(self._ingest_segment(segment, tracked, channel))
        return results

    def _ingest_segment(
        self, segment: list[tuple[tuple[str, str], Item]], trackings: Sequence[Tracking],
        channel: str | None,
    ) -> list[Result]:
        def decide_segment(batch: Batch) -> list[Result]:
            self._decide_segment(segment, batch, channel)
            return batch.results

        return self.write_batch(decide_segment, trackings)

    def write_batch(self, decide: Callable[[Batch], T], trackings: Sequence[Tracking] = ()) -> T:
        """The one way to write: `decide` fills a fresh batch (accounts loaded with
        `load_account`, changes recorded with `record`), then the batch's events, outcomes,
        index rows and `trackings` commit in one transaction. A concurrent writer's conflict
        (optimistic concurrency) rolls it back and `decide` runs again from fresh state."""
        for _ in range(limits.BATCH_CONFLICT_RETRIES_MAX):
            batch = Batch()
            try:
                decided = decide(batch)
                self._save(batch, trackings)
            except IntegrityError:
                self._evict(batch.touched)
                continue
            except BaseException:
                self._evict(batch.touched)
                raise
            return decided
        raise ConflictingWriters(
            f"the batch conflicted with concurrent writers {limits.BATCH_CONFLICT_RETRIES_MAX}"
            " times; giving up")

    def _decide_segment(
        self, segment: list[tuple[tuple[str, str], Item]], batch: Batch, channel: str | None
    ) -> None:
        existing = self.app.ledger_recorder.select_receipts(key for key, _ in segment)
        self._prefetch((item for key, item in segment if key not in existing), batch)
        context = self.context()
        for key, item in segment:
            prior = batch.seen.get(key) or existing.get(key)
            if prior is not None:
                self._repeat(batch, key, item, prior, channel)
            elif isinstance(item, Rejection):
                self._receipt(batch, key, item.digest, REJECTED, reason_of(item.reason),
                              item.detail, None, None, channel)
            else:
                self._decide_message(batch, key, item, context, channel)

    def _repeat(
        self, batch: Batch, key: tuple[str, str], item: Item, prior: Receipt, channel: str | None
    ) -> None:
        outcome: MessageOutcome
        if item.digest is not None and item.digest == prior.digest:
            outcome, reason = MessageOutcome.DUPLICATE, None
            detail = f"already received: {prior.outcome}"
        else:
            outcome, reason = REJECTED, Reason.CONFLICTING_DUPLICATE
            detail = "same (source, message_id) with different content"
        receipt = Receipt(source=key[0], message_id=key[1], digest=item.digest, outcome=outcome,
                          reason=reason, detail=detail, person_key=prior.person_key,
                          message_type=prior.message_type, recorded_at=self.now(),
                          channel=channel)
        batch.repeats.append(receipt)
        batch.results.append(receipt.result())

    def _receipt(
        self,
        batch: Batch,
        key: tuple[str, str],
        digest: str | None,
        outcome: MessageOutcome,
        reason: Reason | None,
        detail: str,
        person: str | None,
        message_type: str | None,
        channel: str | None,
    ) -> None:
        receipt = Receipt(source=key[0], message_id=key[1], digest=digest, outcome=outcome,
                          reason=reason, detail=detail, person_key=person,
                          message_type=message_type, recorded_at=self.now(), channel=channel)
        batch.seen[key] = receipt
        batch.receipts.append(receipt)
        batch.results.append(receipt.result())

    def _decide_message(
        self,
        batch: Batch,
        key: tuple[str, str],
        message: Message,
        context: Context,
        channel: str | None,
    ) -> None:
        assert message.person is not None
        account_key = self.person_key(message.person)
        try:
            account = self._account(account_key, batch)
            self._catch_up(account, batch, message, context)
            if message.type == "person.merged":
                notes = self._merge(account, message, batch, context)
            else:
                notes = self._apply(account, _incoming(message), context, batch)
        except Rejected as refusal:
            self._receipt(batch, key, message.digest, REJECTED, refusal.reason, refusal.detail,
                          account_key, message.type, channel)
            return
        except InvalidPerson as refusal:
            self._receipt(batch, key, message.digest, REJECTED, InvalidPerson.reason,
                          str(refusal), account_key, message.type, channel)
            return
        self._receipt(batch, key, message.digest, MessageOutcome.ACCEPTED, None,
                      "; ".join(notes), account.person_key, message.type, channel)

    def _apply(
        self, account: PersonAccount, incoming: Incoming, context: Context, batch: Batch
    ) -> list[str]:
        """Run the decision's steps on the account; only the first step may reject."""
        notes: list[str] = []
        for index, step in enumerate(decide(account.state, incoming, context)):
            try:
                outcome = step(account.state)
            except Rejected:
                assert index == 0, "a rejection after a recorded step is a programming error"
                raise
            if outcome.changes or index == 0:
                self.record(account, incoming, outcome, batch)
            notes.extend(outcome.notes)
        return notes

    def record(
        self, account: PersonAccount, incoming: Incoming, outcome: Outcome, batch: Batch
    ) -> None:
        # Dict-shaped changes (`{"kind": ...}`) are read as the typed ones they stand for.
        changes = [from_builtins(change) for change in outcome.changes]
        account.record(incoming.source, incoming.message_id, incoming.type, changes,
                       outcome.notes, self.clock())
        batch.touched[account.id] = account
        batch.person_years.update(_years_of(account.person_key, changes))

    def _catch_up(
        self, account: PersonAccount, batch: Batch, message: Message, context: Context
    ) -> None:
        """Settle closed years that the closing sweep has not reached for this person yet."""
        for close, outcome in settlements_due(account.state, context):
            self.record(account, close, outcome, batch)

    def _merge(
        self, survivor: PersonAccount, message: Message, batch: Batch, context: Context
    ) -> list[str]:
        absorbed_key = self.person_key(str(message.data["absorbed"]))
        absorbed = self.load_account(absorbed_key, batch)
        incoming = _incoming(message)
        gone, moved = merge(survivor.state, absorbed.state, absorbed_key, incoming)
        return self.record_merge(survivor, absorbed, (gone, moved), incoming, context, batch)

    def record_merge(self, survivor: PersonAccount, absorbed: PersonAccount,
                     decided: tuple[Outcome, Outcome], incoming: Incoming, context: Context,
                     batch: Batch) -> list[str]:
        """Records a decided merge (`decide.merge`: what the absorbed account and the survivor
        become) and what the survivor's merged history then calls for; the notes of it all.
        `absorbed` is the absorbed identifier's account here (one store) or on the survivor's
        shard (`ledger.transfers`)."""
        gone, moved = decided
        self.record(absorbed, incoming, gone, batch)
        self.record(survivor, incoming, moved, batch)
        followup = reconcile_everything(survivor.state, incoming, context)
        if followup.changes:
            self.record(survivor, incoming, followup, batch)
        return gone.notes + moved.notes + followup.notes

    # Accounts.

    def load_account(self, key: str, batch: Batch) -> PersonAccount:
        """The account of a person key, opened (unsaved) when the ledger never saw it."""
        account_id = aggregate_id(key)
        account: PersonAccount | None = (batch.touched.get(account_id)
                                         or batch.loaded.get(account_id)
                                         or self._cache.get(account_id))
        if account is None and account_id in batch.absent:
            # A concurrent opening fails the batch.
            account = open_account(account_id, key, self.clock())
        elif account is None:
            try:
                account = self.app.repository.get(account_id)
            except AggregateNotFoundError:
                account = open_account(account_id, key, self.clock())
        assert isinstance(account, PersonAccount)
        self._remember(account)
        return account

    def _prefetch(self, items: Iterable[Item], batch: Batch) -> None:
        """Load the batch's accounts missing from the cache in two statements (PostgreSQL):
        at France scale most accounts of a batch are not in memory, and one snapshot query and
        one events query per account would cost more than deciding the whole batch."""
        self.prefetch_accounts(self._account_ids(items), batch)

    def prefetch_accounts(self, account_ids: Iterable[uuid.UUID], batch: Batch) -> None:
        """`_prefetch` for accounts named by id (the year-close sweep's pages), then the
        accounts they were merged into, link by link: a message for an absorbed identifier is
        decided on its survivor's account (measured: read one at a time, the survivors of a
        long feed's merges took a tenth of its last year's ingestion)."""
        asked = list(dict.fromkeys(account_ids))
        for _ in range(limits.MERGE_CHAIN_LENGTH_MAX):
            accounts = self._prefetch_once(asked, batch)
            survivors = {aggregate_id(account.state.merged_into) for account in accounts
                         if account.state.merged_into is not None}
            asked = [account_id for account_id in survivors
                     if not (account_id in batch.loaded or account_id in batch.absent
                             or account_id in self._cache)]
            if not asked:
                return

    def _prefetch_once(self, asked: list[uuid.UUID], batch: Batch) -> list[PersonAccount]:
        """The asked accounts found in the cache or loaded (none loaded on SQLite)."""
        cached = [self._cache[account_id] for account_id in asked if account_id in self._cache]
        wanted = [account_id for account_id in asked if account_id not in self._cache]
        for account in cached:
            # Made the most recent first, so that the accounts loaded below let go of persons
            # of earlier batches, not of this one (each would be read again one by one).
            self._cache.move_to_end(account.id)
        accounts = load_accounts(self.app, wanted, loads=self.loads)
        if accounts is None:
            return []
        self.loads.cached += len(cached)
        for account in accounts:
            batch.loaded[account.id] = account
            self._remember(account)
        batch.absent.update(set(wanted) - {account.id for account in accounts})
        return cached + accounts

    def _account_ids(self, items: Iterable[Item]) -> Iterator[uuid.UUID]:
        for item in items:
            if not isinstance(item, Message) or item.person is None:
                continue
            identifiers = [item.person]
            if item.type == "person.merged":
                identifiers.append(str(item.data.get("absorbed", "")))
            for identifier in identifiers:
                try:
                    yield aggregate_id(self.person_key(identifier))
                except InvalidPerson:
                    continue  # rejected when decided

    def _account(self, key: str, batch: Batch) -> PersonAccount:
        """The account that answers for a person key, following identity merges."""
        account = self.load_account(key, batch)
        for _ in range(limits.MERGE_CHAIN_LENGTH_MAX):
            if account.state.merged_into is None:
                return account
            account = self.load_account(account.state.merged_into, batch)
        raise RuntimeError(f"merge chain longer than {limits.MERGE_CHAIN_LENGTH_MAX}")

    def _remember(self, account: PersonAccount) -> None:
        self._cache[account.id] = account
        self._cache.move_to_end(account.id)
        while len(self._cache) > limits.PERSON_CACHE_SIZE_MAX:
            self._cache.popitem(last=False)

    def forget_accounts(self) -> None:
        """Let every cached account go (the next batches load them from the store)."""
        self._cache.clear()

    def _evict(self, accounts: Iterable[uuid.UUID]) -> None:
        for account_id in list(accounts):
            self._cache.pop(account_id, None)

    def _save(self, batch: Batch, trackings: Sequence[Tracking]) -> None:
        """One transaction: the batch's events with its outcomes, index rows and positions.
        (Pending events are collected here rather than by Application.save, whose runtime
        protocol checks and snapshot re-reads cost more than the writes.)"""
        records = BatchRecords(batch.receipts, batch.repeats, sorted(batch.person_years),
                               trackings)
        accounts = list(batch.touched.values())
        events = [event for account in accounts for event in account.collect_events()]
        self.app.events.put(events, records=records)
        self._take_snapshots(accounts)

    def _take_snapshots(self, accounts: list[PersonAccount]) -> None:
        """Snapshot, from memory, every account with `SNAPSHOT_INTERVAL_EVENTS` events or more
        since its latest snapshot: the next load of any account replays fewer events than that."""
        due = [account for account in accounts
               if account.version - account.snapshot_version >= limits.SNAPSHOT_INTERVAL_EVENTS]
        if not due or self.app.snapshots is None:
            return
        self.app.snapshots.put([PersonSnapshot.take(account) for account in due])
        for account in due:
            account.snapshot_version = account.version

    # The calendar of closed years.

    def calendar(self) -> LedgerCalendar:
        try:
            calendar: object = self.app.repository.get(CALENDAR_ID)
        except AggregateNotFoundError:
            return start_calendar(self.clock())
        assert isinstance(calendar, LedgerCalendar)
        return calendar

    def context(self) -> Context:
        return Context(self.parameters, self.calendar().closed_years())

    def closed_years(self) -> dict[int, str]:
        return self.calendar().closed_years()

    def year_closed_by(self, source: str, message_id: str) -> int | None:
        """The year that this message marked closed, if any (its sweep may still be going)."""
        for year, record in self.calendar().closed.items():
            if (record["source"], record["message_id"]) == (source, message_id):
                return int(year)
        return None

    def _close_year(
        self,
        entry: tuple[tuple[str, str], Item],
        trackings: Sequence[Tracking],
        channel: str | None,
        progress: Callable[[int], None] | None,
    ) -> list[Result]:
        from ledger.closing import close_year  # closing drives this class: import at use

        return close_year(self, entry, trackings, channel, progress)


def _key(item: Item, fallback: tuple[str, str] | None) -> tuple[str, str]:
    if item.source is not None and item.message_id is not None:
        return (item.source, item.message_id)
    if fallback is not None:
        return fallback
    return ("unknown", f"digest:{item.digest or 'none'}")


def _segments(
    entries: list[tuple[tuple[str, str], Item]],
) -> Iterator[tuple[list[tuple[tuple[str, str], Item]], bool]]:
    """Runs of person messages, with each year close on its own (it sweeps every person)."""
    run: list[tuple[tuple[str, str], Item]] = []
    for entry in entries:
        item = entry[1]
        if isinstance(item, Message) and item.type == YEAR_CLOSE_TYPE:
            if run:
                yield run, False
                run = []
            yield [entry], True
        else:
            run.append(entry)
    if run:
        yield run, False


def _incoming(message: Message) -> Incoming:
    return Incoming(message.source, message.message_id, message.type, message.published_on,
                    message.data, message.supersedes)


def _years_of(key: str, changes: Iterable[Change]) -> set[tuple[int, str]]:
    """Index rows (year, person key) for the facts these changes record or move here."""
    rows: set[tuple[int, str]] = set()
    for change in changes:
        years: Iterable[int | None] = ()
        if isinstance(change, FactRecorded):
            years = (fact_year(change.type, change.data),)
        elif isinstance(change, Absorbed):
            years = map(year_of_fact, change.state["facts"].values())
        rows.update((year, key) for year in years if year is not None)
    return rows


def load_accounts(app: LedgerApplication, account_ids: Sequence[uuid.UUID],
                  versions: Sequence[int] | None = None,
                  loads: AccountLoads | None = None) -> list[PersonAccount] | None:
    """Many accounts (at `versions`, else their latest) in two statements per
    `limits.PREFETCH_ACCOUNTS_MAX` of them; None when the store cannot (SQLite: its per-account
    reads are in-process and fast). Accounts never recorded are absent from the list; `loads`
    counts those found, their snapshots and the events replayed after them."""
    select_latest = getattr(app.recorder, "select_latest", None)
    if select_latest is None or app.snapshots is None:
        return None
    table = str(getattr(app.snapshots.recorder, "events_table_name", "snapshots"))
    accounts: list[PersonAccount] = []
    step = limits.PREFETCH_ACCOUNTS_MAX
    for start in range(0, len(account_ids), step):
        chunk = account_ids[start:start + step]
        until = None if versions is None else versions[start:start + step]
        snapshots, events = select_latest(chunk, table, until)
        if loads is not None:
            loads.snapshots += len(snapshots)
            loads.replayed_events += len(events)
        by_id: dict[uuid.UUID | str, list[StoredEvent]] = {s.originator_id: [s] for s in snapshots}
        for event in events:
            by_id.setdefault(event.originator_id, []).append(event)
        for stored in by_id.values():
            account: Any = None
            # eventsourcing's project_aggregate, without its per-event runtime protocol check
            # (measured: a tenth of a large batch's time).
            for event in map(app.mapper.to_domain_event, stored):
                account = event.mutate(account)  # type: ignore[attr-defined]
            if isinstance(account, PersonAccount):
                accounts.append(account)
    if loads is not None:
        loads.loaded += len(accounts)
    return accounts


def settlements_due(state: PersonState, context: Context) -> Iterator[tuple[Incoming, Outcome]]:
    """The closed years with facts of this person that the closing sweep has not settled yet,
    one settlement at a time, in year order: the caller applies each outcome to `state` before
    asking for the next (a year's credit changes the room under the next year's ceiling)."""
    if all(str(year) in state.years for year in context.closed_years):
        return
    for year in sorted(accrual.years_with_facts(state)):
        if year in context.closed_years and str(year) not in state.years:
            credited_on = context.closed_years[year]
            close = Incoming("operator", f"catch-up:{year}", YEAR_CLOSE_TYPE, credited_on,
                             {"year": year})
            yield close, accrual.settle(state, year, credited_on, close, context)
