"""Person states as of the projector's position in the notification log.

Read models that need more than one event at a time (derived lines, the account document)
keep each person's state here, evolved event by event, so that what they write for event N is
computed from exactly what was known at event N — never from later events.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.application import LedgerApplication, load_accounts
from ledger.domain import PersonAccount
from ledger.state import PersonState, evolve, stamped

# Person states a projector holds (most recent first). At France's scale the log visits a
# partition's 625 000 persons between two events of one, so holding more buys no hits; below
# the store's size the rate does not depend on it (20 000 persons: 5 000 or 15 000 held, 1 970
# and 1 958 events/s; `tests/bench/project_memory.py`), while each state costs 13-50 kB. A
# page (`ledger.limits.NOTIFICATION_PAGE_EVENTS_MAX`, 1 000 events) must fit many times over.
TRACKED_PERSONS_MAX = 10_000


def first_versions(items: Iterable[Any]) -> dict[uuid.UUID, int]:
    """Each aggregate's first version among these events or notifications, in their order."""
    first: dict[uuid.UUID, int] = {}
    for item in items:
        first.setdefault(item.originator_id, item.originator_version)
    return first


class PersonTracker:
    """An LRU of person states at the projector's position."""

    def __init__(self, app: LedgerApplication, size_max: int = TRACKED_PERSONS_MAX) -> None:
        self.app = app
        self.size_max = size_max
        self._states: OrderedDict[uuid.UUID, tuple[int, PersonState]] = OrderedDict()
        # What read models keep of a person beside the state (at the state's version), and
        # that of the persons let go since the last `take_evicted`: account -> (version, extra).
        self.extra: dict[uuid.UUID, Any] = {}
        self.evicted: dict[uuid.UUID, tuple[int, Any]] = {}
        # States read one by one (two statements each) because no prefetch held them.
        self.single_loads = 0

    def before(self, event: Any) -> PersonState:
        """The person's state just before this event (version - 1)."""
        originator_id, version = event.originator_id, event.originator_version
        cached = self._states.get(originator_id)
        if cached is not None and cached[0] == version - 1:
            self._states.move_to_end(originator_id)
            return cached[1]
        return self._load(originator_id, version - 1, event)

    def prefetch(self, events: list[Any]) -> None:
        """Load, in two statements, the states before the first event of each person in a page
        that this tracker does not hold: a page of a large log touches persons of which few
        are still in memory, and `_load` costs two queries each."""
        wanted: dict[uuid.UUID, int] = {}
        persons = [event for event in events
                   if isinstance(event, PersonAccount.Applied | PersonAccount.Opened)]
        for originator_id, version in first_versions(persons).items():
            cached = self._states.get(originator_id)
            if version > 1 and (cached is None or cached[0] != version - 1):
                wanted[originator_id] = version - 1
            elif cached is not None:
                # Held: made the most recent first, so that the states loaded below let go of
                # persons of earlier pages, not of this one.
                self._states.move_to_end(originator_id)
        accounts = load_accounts(self.app, list(wanted), list(wanted.values()))
        for account in accounts or ():
            self.extra.pop(account.id, None)
            self._remember(account.id, account.version, account.state)

    def _load(self, originator_id: uuid.UUID, version: int, event: Any) -> PersonState:
        if version < 1:
            return PersonState(person_key=getattr(event, "person_key", ""))
        self.single_loads += 1
        try:
            account: object = self.app.repository.get(originator_id, version=version)
        except AggregateNotFoundError:
            return PersonState()
        assert isinstance(account, PersonAccount)
        self.extra.pop(originator_id, None)
        return account.state

    def after(self, event: Any, state: PersonState) -> PersonState:
        """Apply the event to the state and remember it at the event's version."""
        changes = getattr(event, "changes", None)
        if changes is not None:
            evolve(state, stamped(changes, event.timestamp.isoformat()))
        elif hasattr(event, "person_key"):
            state.person_key = event.person_key
        self._remember(event.originator_id, event.originator_version, state)
        return state

    def _remember(self, originator_id: uuid.UUID, version: int, state: PersonState) -> None:
        self._states[originator_id] = (version, state)
        self._states.move_to_end(originator_id)
        while len(self._states) > self.size_max:
            evicted, (evicted_version, _) = self._states.popitem(last=False)
            extra = self.extra.pop(evicted, None)
            if extra is not None:
                self.evicted[evicted] = (evicted_version, extra)

    def remembers(self, originator_id: uuid.UUID, version: int) -> bool:
        """Whether this account's state at `version` is held, with its extra."""
        cached = self._states.get(originator_id)
        return cached is not None and cached[0] == version and originator_id in self.extra

    def recall_evicted(self, originator_id: uuid.UUID, version: int) -> Any:
        """The extra of an account let go at `version` since the last `take_evicted`, or None."""
        evicted = self.evicted.get(originator_id)
        if evicted is None or evicted[0] != version:
            return None
        del self.evicted[originator_id]
        return evicted[1]

    def take_evicted(self) -> dict[uuid.UUID, tuple[int, Any]]:
        """The extras let go since the last call (to be stored), and forget them."""
        evicted, self.evicted = self.evicted, {}
        return evicted

    def forget(self) -> None:
        self._states.clear()
        self.extra.clear()
        self.evicted.clear()
