"""The working set of one transaction, and what callers learn about each message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ledger.storage import Receipt


@dataclass(frozen=True, slots=True)
class Result:
    """What the caller learns about one message."""

    outcome: str
    reason: str | None
    detail: str
    source: str | None
    message_id: str | None
    person_key: str | None = None

    def as_document(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "detail": self.detail,
                "source": self.source, "message_id": self.message_id}


@dataclass(slots=True)
class Batch:
    """Accounts changed, outcomes and index rows of one transaction."""

    touched: dict[uuid.UUID, Any] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)
    repeats: list[Receipt] = field(default_factory=list)
    person_years: set[tuple[int, str]] = field(default_factory=set)
    seen: dict[tuple[str, str], Receipt] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    # Accounts the batch's prefetch found absent from the store: opened without asking again.
    absent: set[uuid.UUID] = field(default_factory=set)
