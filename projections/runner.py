"""The projection runner: follows the notification log page by page and commits each page's
rows for every read model together with the new position, in one transaction. A crash at any
point loses nothing and repeats nothing: the position and the rows commit together, and the
position row is locked for the page so that two runners never write the same page."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from ledger import limits
from ledger.application import Ledger
from projections.balances import BalancesProjection, clean_old_bodies
from projections.model import Projected, ReadModel
from projections.models import AccrualsProjection, AuditChainProjection, StatisticsProjection
from projections.schema import PROJECTIONS, Names, create_positions, create_tables
from projections.tracker import PersonTracker

LIVE = "live"
IDLE_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Progress:
    position: int
    head: int


class Runner:
    """Projects the ledger's events into one set of tables (`names`) under one position row."""

    def __init__(self, ledger: Ledger, names: Names, position_name: str = LIVE,
                 page_size: int = limits.NOTIFICATION_PAGE_EVENTS_MAX,
                 projections: Iterable[str] = tuple(PROJECTIONS)) -> None:
        self.enabled = frozenset(projections)
        unknown = self.enabled - set(PROJECTIONS)
        if unknown:
            raise ValueError(f"unknown projections: {', '.join(sorted(unknown))}")
        self.ledger = ledger
        self.app = ledger.app
        self.names = names
        self.position_name = position_name
        self.page_size = page_size
        self.tracker = PersonTracker(self.app)
        # In this order: the balances read each person's state before an event, then apply it.
        every: list[ReadModel] = [BalancesProjection(self.tracker, ledger.parameters),
                                  AccrualsProjection(),
                                  AuditChainProjection(), StatisticsProjection()]
        self.models = [model for model in every if model.name in self.enabled]

    def datastore(self) -> Any:
        return self.app.recorder.datastore  # type: ignore[attr-defined]

    def create(self) -> None:
        with self.datastore().transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('cpa-ledger-projections'))")
            create_positions(curs, self.names)
            for projection in sorted(self.enabled):
                create_tables(curs, self.names, projection)
            curs.execute(SQL("INSERT INTO {} (projection, position) VALUES (%s, 0)"
                             " ON CONFLICT DO NOTHING").format(self.names.positions()),
                         (self.position_name,))

    def position(self) -> int:
        with self.datastore().transaction(commit=False) as curs:
            return self._position(curs, lock=False)

    def _position(self, curs: Cursor[DictRow], *, lock: bool) -> int:
        statement = SQL("SELECT position FROM {} WHERE projection = %s" +
                        (" FOR UPDATE" if lock else "")).format(self.names.positions())
        curs.execute(statement, (self.position_name,))
        row = curs.fetchone()
        assert row is not None, "create() first"
        return int(row["position"])

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def run_page(self, stop_at: int | None = None) -> int:
        """Project the next page; the number of events projected (0 when caught up)."""
        try:
            with self.datastore().transaction(commit=True) as curs:
                return self._page(curs, stop_at)
        except BaseException:
            self._forget()
            raise

    def _page(self, curs: Cursor[DictRow], stop_at: int | None) -> int:
        position = self._position(curs, lock=True)
        limit = self.page_size if stop_at is None else min(self.page_size, stop_at - position)
        if limit <= 0:
            return 0
        notifications = self.app.recorder.select_notifications(
            start=position + 1, limit=limit, inclusive_of_start=True)
        if not notifications:
            return 0
        self.project(curs, notifications)
        curs.execute(SQL("UPDATE {} SET position = %s WHERE projection = %s")
                     .format(self.names.positions()), (notifications[-1].id, self.position_name))
        return len(notifications)

    def project(self, curs: Cursor[DictRow], notifications: Sequence[Any]) -> None:
        """Every read model's rows for these notifications, written in `curs`'s transaction."""
        for model in self.models:
            model.load(curs, self.names, notifications)
        decoding = any(model.needs_events for model in self.models)
        events = [self.app.mapper.to_domain_event(n) if decoding else None
                  for n in notifications]
        tracker = self.tracker if any(model.needs_states for model in self.models) else None
        if tracker is not None:
            tracker.prefetch(events)
        for notification, event in zip(notifications, events, strict=True):
            item = Projected(notification, event, tracker)
            for model in self.models:
                model.handle(item)
            item.settle()
        for model in self.models:
            model.flush(curs, self.names)

    def _forget(self) -> None:
        """After a failed page, nothing in memory may be trusted: start again from the store."""
        self.tracker.forget()
        for model in self.models:
            model.forget()

    def catch_up(self, progress: Any = None, stop_at: int | None = None) -> int:
        """Project until the head (or `stop_at`); the number of events projected."""
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
        When idle on a new day, drop the cached balance documents of the days before."""
        cleaned_on: dt.date | None = None
        while not stopping.is_set():
            if self.run_page() > 0:
                if progress is not None:
                    progress.update(1)
                continue
            if "balances" in self.enabled and cleaned_on != today():
                cleaned_on = today()
                clean_old_bodies(self.datastore(), self.names, cleaned_on)
            stopping.wait(IDLE_POLL_SECONDS)


def live_names(ledger: Ledger) -> Names:
    schema = ledger.app.recorder.datastore.schema  # type: ignore[attr-defined]
    return Names(str(schema))
