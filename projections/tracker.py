"""Person states as of the projector's position in the notification log.

Read models that need more than one event at a time (derived lines, the account document)
keep each person's state here, evolved event by event, so that what they write for event N is
computed from exactly what was known at event N — never from later events.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.application import LedgerApplication
from ledger.domain import PersonAccount
from ledger.state import PersonState, evolve, stamped

TRACKED_PERSONS_MAX = 50_000


class PersonTracker:
    """An LRU of person states at the projector's position."""

    def __init__(self, app: LedgerApplication, size_max: int = TRACKED_PERSONS_MAX) -> None:
        self.app = app
        self.size_max = size_max
        self._states: OrderedDict[uuid.UUID, tuple[int, PersonState]] = OrderedDict()
        self.extra: dict[uuid.UUID, dict[str, Any]] = {}

    def before(self, event: Any) -> PersonState:
        """The person's state just before this event (version - 1)."""
        originator_id, version = event.originator_id, event.originator_version
        cached = self._states.get(originator_id)
        if cached is not None and cached[0] == version - 1:
            self._states.move_to_end(originator_id)
            return cached[1]
        return self._load(originator_id, version - 1, event)

    def _load(self, originator_id: uuid.UUID, version: int, event: Any) -> PersonState:
        if version < 1:
            return PersonState(person_key=getattr(event, "person_key", ""))
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
        self._states[event.originator_id] = (event.originator_version, state)
        self._states.move_to_end(event.originator_id)
        while len(self._states) > self.size_max:
            evicted, _ = self._states.popitem(last=False)
            self.extra.pop(evicted, None)
        return state

    def forget(self) -> None:
        self._states.clear()
        self.extra.clear()
