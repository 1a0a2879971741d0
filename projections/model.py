"""What the runner asks of every read model, and what it hands them for each event.

The runner reads a page of the notification log and, for each read model: `load` what the
page needs from the tables, `handle` each event in log order, `flush` the rows in the page's
transaction; after a failed page, `forget` everything held in memory (the next page starts
again from the tables). It knows nothing else of a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from psycopg import Cursor
from psycopg.rows import DictRow

from ledger.domain import PersonAccount
from ledger.state import PersonState
from projections.schema import Names
from projections.tracker import PersonTracker


class Projected:
    """One notification as the read models see it: the stored event, its decoded domain event
    and, for a person's event, the person's state before it and (once asked) after it. Made
    one at a time, in log order: a person's state before an event is the state after the
    previous one."""

    __slots__ = ("_after", "_tracker", "before", "event", "notification")

    def __init__(self, notification: Any, event: Any, tracker: PersonTracker | None) -> None:
        self.notification = notification
        self.event = event
        self._tracker = tracker
        self._after: PersonState | None = None
        is_person = isinstance(event, PersonAccount.Applied | PersonAccount.Opened)
        self.before = tracker.before(event) if tracker is not None and is_person else None

    @property
    def notification_id(self) -> int:
        return int(self.notification.id)

    @property
    def person_key(self) -> str | None:
        """The person an event is about (None for other aggregates' events)."""
        if self.before is None:
            return None
        return self.before.person_key or getattr(self.event, "person_key", "")

    def after(self) -> PersonState:
        """The person's state with this event applied (applied once, however often asked)."""
        if self._after is None:
            assert self._tracker is not None and self.before is not None, "a person's event"
            self._after = self._tracker.after(self.event, self.before)
        return self._after

    def settle(self) -> None:
        """Apply the event to the tracked state if no model did (the next event needs it)."""
        if self.before is not None:
            self.after()


class ReadModel(Protocol):
    """A read model the runner drives; `name` is its key in `projections.schema.PROJECTIONS`."""

    name: str
    # Whether the model reads decoded domain events, and the persons' states (tracked).
    needs_events: bool
    needs_states: bool
    # Whether the model follows the whole log in order (the audit chain) rather than persons:
    # split across processes, only part 1 runs it (see `projections.parts`).
    log_wide: bool

    def load(self, curs: Cursor[DictRow], names: Names, notifications: Sequence[Any]) -> None:
        """Read what this page of the log needs from the tables (before any `handle`)."""

    def handle(self, item: Projected) -> None:
        """Take one event into the page's rows (events come in log order)."""

    def flush(self, curs: Cursor[DictRow], names: Names) -> None:
        """Write the page's rows in the caller's transaction, then start a new page."""

    def forget(self) -> None:
        """Drop everything held in memory: the page failed, the tables are the truth."""
