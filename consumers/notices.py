"""Expiry notices: the top-ups that expire within NOTICE_DAYS, announced on the outbound topic
(`cpa.ledger.postings.v1`, beside the postings), so that the portal can tell the person before
the rights are lost (`cpa-ledger notices`, run once a day).

A sweep on day D reads every person account (a page of ids at a time, one account in memory)
and sends, keyed by person key, one `topup_expiry_notice` record per active top-up with
something left that expires in (D, D + NOTICE_DAYS] and became due since the previous sweep:
its notice day, max(expiry - NOTICE_DAYS, granted_on), falls after the last swept day (all of
them on a first sweep). After the broker confirmed every record, the sweep records D as its
position (`kafka-notices:<topic>`, a tracking row holding D's ordinal), so the next day sends
only the newly due notices. A sweep that stopped before recording D is simply run again; each
notice carries a stable event id (`expiry-notice:<person key>:<grant>:<expiry>`, header
`event-id` and body) for downstream deduplication.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from consumers.deadletters import confirm
from consumers.positions import process_recorder
from consumers.publisher import OutboundRecord
from ledger.application import Ledger
from ledger.config import Settings
from ledger.statements.content import KeyedReader
from ledger.statements.run import person_keys

NOTICE_KIND = "topup_expiry_notice"
NOTICE_DAYS = 90
SEND_BATCH_RECORDS = 500


def position_name(topic: str) -> str:
    return f"kafka-notices:{topic}"


def notice_record(person_key: str, grant: dict[str, Any], unit: str, on: dt.date,
                  days: int) -> OutboundRecord:
    expires_on = dt.date.fromisoformat(grant["expires_on"])
    event_id = f"expiry-notice:{person_key}:{grant['grant_id']}:{grant['expires_on']}"
    body = {"event_id": event_id, "kind": NOTICE_KIND, "person_key": person_key,
            "grant_id": grant["grant_id"], "funder_type": grant["funder_type"],
            "funder_id": grant["funder_id"], "expires_on": grant["expires_on"],
            "balance": grant["balance"], "unit": unit, "refundable": grant["refundable"],
            "days_left": (expires_on - on).days, "noticed_on": on.isoformat(),
            "notice_days": days}
    headers = [("event-id", event_id.encode("ascii")), ("kind", NOTICE_KIND.encode("ascii"))]
    return OutboundRecord(person_key.encode("ascii"), orjson.dumps(body), headers)


def due_notices(ledger: Ledger, on: dt.date, since: dt.date | None,
                days: int = NOTICE_DAYS) -> Iterator[OutboundRecord]:
    """The notices due on `on` that were not due on `since` (the last sweep)."""
    reader = KeyedReader(ledger)
    horizon = on + dt.timedelta(days=days)
    for key in person_keys(ledger, reader):
        state = reader.view(key).state
        if state is None or state.merged_into is not None or (
                state.died_on is not None and state.died_on <= on.isoformat()):
            continue
        if not any(_expiring(grant, on, horizon) for grant in state.grants.values()):
            continue
        balance = reader.balance(key, on)
        topups = balance["accounts"]["topups"]
        for grant in topups["grants"]:
            if grant["status"] != "active" or not _expiring(grant, on, horizon) \
                    or Decimal(grant["balance"]) <= 0:
                continue
            expires_on = dt.date.fromisoformat(grant["expires_on"])
            due = max(expires_on - dt.timedelta(days=days),
                      dt.date.fromisoformat(grant["granted_on"]))
            if since is None or due > since:
                yield notice_record(key, grant, topups["unit"], on, days)


def _expiring(grant: dict[str, Any], on: dt.date, horizon: dt.date) -> bool:
    expires_on = grant.get("expires_on")
    return bool(expires_on) and on.isoformat() < str(expires_on) <= horizon.isoformat() \
        and grant.get("withdrawn_on") is None


class NoticeSweep:
    def __init__(self, ledger: Ledger, producer: Any, topic: str,
                 days: int = NOTICE_DAYS) -> None:
        self.ledger = ledger
        self.producer = producer
        self.topic = topic
        self.days = days
        self.recorder = process_recorder(ledger)

    def last_swept(self) -> dt.date | None:
        ordinal = self.recorder.max_tracking_id(position_name(self.topic))
        return None if not ordinal else dt.date.fromordinal(ordinal)

    def run(self, on: dt.date) -> int:
        """Send the notices due on `on`, then record `on`; the number sent (0 when `on` was
        already swept)."""
        since = self.last_swept()
        if since is not None and since >= on:
            return 0
        sent = 0
        futures: list[Any] = []
        for record in due_notices(self.ledger, on, since, self.days):
            futures.append(self.producer.send(self.topic, key=record.key, value=record.value,
                                              headers=record.headers))
            if len(futures) >= SEND_BATCH_RECORDS:
                confirm(self.producer, futures)
                sent += len(futures)
                futures = []
        confirm(self.producer, futures)
        sent += len(futures)
        self.recorder.insert_tracking(Tracking(position_name(self.topic), on.toordinal()))
        return sent


def run_notices(arguments: argparse.Namespace, settings: Settings) -> int:
    from consumers import clients
    from consumers.metrics import log
    from consumers.settings import KafkaSettings

    kafka_settings = KafkaSettings.from_environment(settings)
    on: dt.date = arguments.on or dt.date.today()
    with Ledger(settings) as ledger:
        producer = clients.producer(kafka_settings, "notices")
        try:
            sweep = NoticeSweep(ledger, producer, kafka_settings.postings_topic, arguments.days)
            since = sweep.last_swept()
            sent = sweep.run(on)
        finally:
            producer.close()
    log(sys.stdout, "notices_sent", topic=kafka_settings.postings_topic, on=on.isoformat(),
        previous_sweep=None if since is None else since.isoformat(), sent=sent)
    return 0
