"""The projection runner: follows the notification log page by page and commits each page's
rows for every read model together with the new positions, in one transaction. A crash at any
point loses nothing and repeats nothing: the positions and the rows commit together, and the
position rows are locked for the page so that two runners never write the same page.

Several runners share the work by key range (`projections.parts`): each reads the log but
projects only its persons' events, under its own position rows; part 1 also keeps the
log-wide audit chain. Their rows are disjoint (every row belongs to one person) except the
statistics, which each adds to with commuting delta upserts."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from ledger import limits
from ledger.application import Ledger
from projections.balances import BalancesProjection, clean_old_bodies
from projections.model import Projected, ReadModel
from projections.models import AccrualsProjection, AuditChainProjection, StatisticsProjection
from projections.parts import ALL_UNITS, LOG_UNIT, WHOLE, Part, Positions, slot_of, slot_unit
from projections.schema import PROJECTIONS, Names, create_positions, create_tables
from projections.tracker import TRACKED_PERSONS_MAX, PersonTracker

LIVE = "live"
IDLE_POLL_SECONDS = 0.5
NO_STOP = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Progress:
    position: int
    head: int


class Runner:
    """Projects the ledger's events into one set of tables (`names`) under the position rows
    named `position_name` (see `projections.parts`); `part` chooses the key range it handles
    (the whole log by default); `tracked_persons`, how many persons' states it holds in memory
    (the others' are loaded again, with their memos: `projections.memo`)."""

    def __init__(self, ledger: Ledger, names: Names, position_name: str = LIVE,
                 page_size: int = limits.NOTIFICATION_PAGE_EVENTS_MAX,
                 projections: Iterable[str] = tuple(PROJECTIONS), part: Part = WHOLE,
                 tracked_persons: int = TRACKED_PERSONS_MAX) -> None:
        self.enabled = frozenset(projections)
        unknown = self.enabled - set(PROJECTIONS)
        if unknown:
            raise ValueError(f"unknown projections: {', '.join(sorted(unknown))}")
        self.ledger = ledger
        self.app = ledger.app
        self.names = names
        self.position_name = position_name
        self.page_size = page_size
        self.part = part
        self.positions = Positions(names, position_name)
        self.tracker = PersonTracker(self.app, tracked_persons)
        self.balances = BalancesProjection(self.tracker, ledger.parameters)
        # In this order: the balances read each person's state before an event, then apply it.
        every: list[ReadModel] = [self.balances,
                                  AccrualsProjection(),
                                  AuditChainProjection(), StatisticsProjection()]
        chosen = [model for model in every if model.name in self.enabled]
        self.person_models = [model for model in chosen if not model.log_wide]
        self.log_models = [model for model in chosen if model.log_wide and part.keeps_log]
        self.models = self.person_models + self.log_models
        self.units = part.units()
        # The positions this runner's last page left (None: remembers nothing yet).
        self.left_at: dict[str, int] | None = None
        self.reading = NotificationReader(ledger, part, whole_log=bool(self.log_models))

    def datastore(self) -> Any:
        return self.app.recorder.datastore  # type: ignore[attr-defined]

    def create(self) -> None:
        with self.datastore().transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('cpa-ledger-projections'))")
            create_positions(curs, self.names)
            for projection in sorted(self.enabled):
                create_tables(curs, self.names, projection)
            self.positions.create(curs)

    def position(self) -> int:
        """The position up to which every part's read models are complete."""
        with self.datastore().transaction(commit=False) as curs:
            return min(self.positions.read(curs, ALL_UNITS, lock=False).values())

    def part_position(self) -> int:
        """The position up to which this runner's part is complete."""
        with self.datastore().transaction(commit=False) as curs:
            return min(self.positions.read(curs, self.units, lock=False).values())

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def run_page(self, stop_at: int | None = None) -> int:
        """Project the next page; the number of events read (0 when caught up)."""
        try:
            with self.datastore().transaction(commit=True) as curs:
                return self.page(curs, stop_at)
        except BaseException:
            self._forget()
            raise

    def page(self, curs: Cursor[DictRow], stop_at: int | Mapping[str, int] | None) -> int:
        """One page in `curs`'s transaction, under the lock of this part's position rows: each
        unit (see `projections.parts`) up to the head, or its `stop_at`."""
        positions = self.positions.read(curs, self.units, lock=True)
        if positions != self.left_at:
            # Another runner moved these positions since this one's last page (two processes
            # given overlapping parts take turns): what this one remembers is stale.
            self._forget()
        head = self.reading.head(curs)
        stops = {unit: min(head, _stop(stop_at, unit)) for unit in self.units}
        open_units = [unit for unit in self.units if positions[unit] < stops[unit]]
        if not open_units:
            return 0
        ceiling = max(stops[unit] for unit in open_units)
        notifications = self.reading.page(curs, min(positions[u] for u in open_units),
                                          ceiling, self.page_size)
        # Fewer rows than asked: every unit's events up to the ceiling have been read.
        covered = ceiling if len(notifications) < self.page_size else notifications[-1].id
        self.project(curs, notifications, Window(positions, stops))
        moved = {unit: max(at, min(covered, stops[unit])) for unit, at in positions.items()}
        self.positions.write(curs, {u: at for u, at in moved.items() if at != positions[u]})
        self.left_at = moved
        return len(notifications)

    def project(self, curs: Cursor[DictRow], notifications: Sequence[Any],
                window: Window) -> None:
        """Every read model's rows for these notifications, written in `curs`'s transaction:
        a person's event goes to the person models if its slot is open, any event to the
        log-wide ones if the log is."""
        persons = [n for n in notifications if window.takes(slot_unit(slot_of(n.originator_id)),
                                                            n.id)]
        logged = [n for n in notifications if window.takes(LOG_UNIT, n.id)] \
            if self.log_models else []
        for model in self.person_models:
            model.load(curs, self.names, persons)
        for model in self.log_models:
            model.load(curs, self.names, logged)
        decoding = any(model.needs_events for model in self.person_models)
        events = {n.id: self.app.mapper.to_domain_event(n) if decoding else None
                  for n in persons}
        tracker = self.tracker if any(m.needs_states for m in self.person_models) else None
        if tracker is not None:
            tracker.prefetch(list(events.values()))
        for notification in _merged(persons, logged):
            self._handle(notification, events, tracker, window)
        for model in self.models:
            model.flush(curs, self.names)

    def _handle(self, notification: Any, events: dict[int, Any], tracker: PersonTracker | None,
                window: Window) -> None:
        if notification.id not in events:
            item = Projected(notification, None, None)
            for model in self.log_models:
                model.handle(item)
            return
        item = Projected(notification, events[notification.id], tracker)
        for model in self.person_models:
            model.handle(item)
        if self.log_models and window.takes(LOG_UNIT, notification.id):
            for model in self.log_models:
                model.handle(item)
        item.settle()

    def _forget(self) -> None:
        """After a failed page, nothing in memory may be trusted: start again from the store."""
        self.left_at = None
        self.tracker.forget()
        for model in self.models:
            model.forget()

    def drop_positions(self, curs: Cursor[DictRow]) -> None:
        self.positions.drop(curs)

    def catch_up(self, progress: Any = None, stop_at: int | None = None) -> int:
        """Project until the head (or `stop_at`); the number of events read."""
        total = 0
        while True:
            count = self.run_page(stop_at)
            if count == 0:
                return total
            total += count
            if progress is not None:
                progress.update(count)

    def follow(self, stopping: threading.Event, progress: Any = None,
               today: Callable[[], dt.date] = dt.date.today) -> None:
        """Project forever, until `stopping` is set (SIGTERM): the current page finishes.
        When idle on a new day, part 1 drops the cached balance documents of the days before."""
        cleaned_on: dt.date | None = None
        while not stopping.is_set():
            if self.run_page() > 0:
                if progress is not None:
                    progress.update(1)
                continue
            if "balances" in self.enabled and self.part.keeps_log and cleaned_on != today():
                cleaned_on = today()
                clean_old_bodies(self.datastore(), self.names, cleaned_on)
            stopping.wait(IDLE_POLL_SECONDS)


@dataclass(frozen=True, slots=True)
class Window:
    """A page's bounds per unit: an event is taken if `positions[unit] < id <= stops[unit]`."""

    positions: Mapping[str, int]
    stops: Mapping[str, int]

    def takes(self, unit: str, notification_id: int) -> bool:
        position = self.positions.get(unit)
        return position is not None and position < notification_id <= self.stops[unit]


def _stop(stop_at: int | Mapping[str, int] | None, unit: str) -> int:
    if stop_at is None:
        return NO_STOP
    if isinstance(stop_at, int):
        return stop_at
    return stop_at[unit]


def _merged(persons: list[Any], logged: list[Any]) -> list[Any]:
    """Both lists' notifications once each, in log order."""
    if not logged:
        return persons
    if not persons:
        return logged
    return sorted({n.id: n for n in (*persons, *logged)}.values(), key=lambda n: n.id)


class NotificationReader:
    """Pages of the notification log in the runner's transaction, only the part's key range
    unless it follows the whole log (part 1 with the log-wide models)."""

    def __init__(self, ledger: Ledger, part: Part, *, whole_log: bool) -> None:
        recorder: Any = ledger.app.recorder
        table = SQL("{}.{}").format(Identifier(recorder.datastore.schema),
                                    Identifier(recorder.events_table_name))
        low, high = (None, None) if whole_log else part.key_bounds()
        self.bounds = [bound for bound in (low, high) if bound is not None]
        conditions = (" AND originator_id >= %s" if low is not None else "") + \
            (" AND originator_id < %s" if high is not None else "")
        self.select = SQL("SELECT notification_id, originator_id, originator_version, topic,"
                          " state FROM {} WHERE notification_id > %s AND notification_id <= %s"
                          + conditions + " ORDER BY notification_id LIMIT %s").format(table)
        self.maximum = SQL("SELECT max(notification_id) AS head FROM {}").format(table)

    def head(self, curs: Cursor[DictRow]) -> int:
        """The last notification; the ledger commits notifications in order (its inserts
        lock the table), so every one up to it is visible to the next statement."""
        curs.execute(self.maximum)
        row = curs.fetchone()
        return int(row["head"] or 0) if row else 0

    def page(self, curs: Cursor[DictRow], after: int, until: int,
             limit: int) -> list[Notification]:
        with curs.connection.cursor(row_factory=tuple_row) as rows:
            rows.execute(self.select, (after, until, *self.bounds, limit), binary=True)
            return [Notification(id=n, originator_id=o, originator_version=v, topic=t,
                                 state=s) for n, o, v, t, s in rows.fetchall()]


def live_names(ledger: Ledger) -> Names:
    schema = ledger.app.recorder.datastore.schema  # type: ignore[attr-defined]
    return Names(str(schema))
