"""The person aggregate: one per person key, all of a person's rights in one consistency
boundary. Its events carry the changes decided by `ledger.decide`; `ledger.state.evolve`
applies them. A calendar aggregate records the closed acquisition years."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.utils import get_topic, resolve_topic

from ledger import snapshots
from ledger.changes import AnyChange
from ledger.state import PersonState, evolve_recorded

CALENDAR_ID = uuid.UUID("00000000-0000-0000-0000-00000000ca1e")


class PersonAccount(Aggregate):
    """A person's account (keyed by the HMAC person key, never the identifier)."""

    class Opened(Aggregate.Created):
        person_key: str

    def __init__(self, person_key: str) -> None:
        self.person_key = person_key
        self.state = PersonState(person_key=person_key)
        # The version of the account's latest snapshot (0: none): a load replays the events
        # since it, so the ledger snapshots again once they are many (`Ledger._take_snapshots`).
        self.snapshot_version = 0

    class Applied(Aggregate.Event):
        """A step of the decision of one message: its changes, in order."""

        source: str
        message_id: str
        message_type: str
        changes: list[AnyChange]
        notes: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            account = cast(PersonAccount, aggregate)
            recorded_at = self.timestamp.isoformat()
            evolve_recorded(account.state, self.changes, recorded_at)

    def record(
        self,
        source: str,
        message_id: str,
        message_type: str,
        changes: list[AnyChange],
        notes: list[str],
        timestamp: dt.datetime,
    ) -> None:
        """Trigger the next `Applied` event: what `trigger_event` does (next version, apply,
        then version, modified time and pending event), without its keyword copies and its
        frozen dataclass's per-field `__init__` (measured: 15 µs an event against 11 µs, on
        the hot path of every message). The event is built the way eventsourcing's own mapper
        builds the events it reads."""
        event = object.__new__(self.Applied)
        object.__setattr__(event, "__dict__", {
            "originator_id": self.id,
            "originator_version": self.version + 1,
            "timestamp": timestamp,
            "source": source,
            "message_id": message_id,
            "message_type": message_type,
            "changes": changes,
            "notes": notes,
        })
        event.apply(self)
        self.version = event.originator_version
        self.modified_on = timestamp
        self._pending_events.append(event)


class PersonSnapshot(Snapshot):
    """A person's state as JSON, so that long careers load in one read."""

    @classmethod
    def take(cls, aggregate: Any) -> PersonSnapshot:
        account = cast(PersonAccount, aggregate)
        return cls(
            originator_id=account.id,
            originator_version=account.version,
            timestamp=cls.create_timestamp(),
            topic=get_topic(type(account)),
            state={
                "person_key": account.person_key,
                # Encoded as soon as taken (`Ledger._take_snapshots`): no copy needed.
                "state": snapshots.stored_document(account.state),
                "created_on": account.created_on.isoformat(),
                "modified_on": account.modified_on.isoformat(),
            },
        )

    def mutate(self, _: Any) -> Any:
        cls = resolve_topic(self.topic)
        account = object.__new__(cls)
        account.__dict__.update(
            {
                "_id": self.originator_id,
                "_version": self.originator_version,
                "_created_on": dt.datetime.fromisoformat(self.state["created_on"]),
                "_modified_on": dt.datetime.fromisoformat(self.state["modified_on"]),
                "_pending_events": [],
                "person_key": self.state["person_key"],
                "state": _state(self.state["state"]),
                "snapshot_version": self.originator_version,
            }
        )
        return account


def _state(stored: snapshots.StoredState | dict[str, Any]) -> PersonState:
    if isinstance(stored, snapshots.StoredState):
        return snapshots.adopt(stored)
    return PersonState.adopt(stored)


class LedgerCalendar(Aggregate):
    """The acquisition years closed by the operator (one aggregate for the whole ledger)."""

    class Started(Aggregate.Created):
        pass

    def __init__(self) -> None:
        self.closed: dict[str, dict[str, str]] = {}

    class YearClosed(Aggregate.Event):
        year: int
        credited_on: str
        source: str
        message_id: str

        def apply(self, aggregate: Aggregate) -> None:
            cast(LedgerCalendar, aggregate).closed[str(self.year)] = {
                "credited_on": self.credited_on,
                "source": self.source,
                "message_id": self.message_id,
            }

    def close_year(self, year: int, credited_on: str, source: str, message_id: str,
                   timestamp: dt.datetime) -> None:
        self.trigger_event(
            self.YearClosed,
            year=year,
            credited_on=credited_on,
            source=source,
            message_id=message_id,
            timestamp=timestamp,
        )

    def closed_years(self) -> dict[int, str]:
        return {int(year): record["credited_on"] for year, record in self.closed.items()}


def open_account(aggregate_id: uuid.UUID, person_key: str,
                 timestamp: dt.datetime) -> PersonAccount:
    return PersonAccount._create(PersonAccount.Opened, id=aggregate_id, person_key=person_key,
                                 timestamp=timestamp)


def start_calendar(timestamp: dt.datetime) -> LedgerCalendar:
    return LedgerCalendar._create(LedgerCalendar.Started, id=CALENDAR_ID, timestamp=timestamp)
