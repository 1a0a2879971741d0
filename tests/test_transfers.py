"""An identity merge across two shards (`ledger.transfers`), step by step on two PostgreSQL
databases: the absorbed identifier's shard gives up its history once however often it is asked
(a request delivered again after a crash), the survivor's shard takes it over once however
often the transfer arrives, and the survivor ends exactly as on a single store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy.local.postgres import PostgresServer
from ledger.application import Ledger
from ledger.config import Settings
from ledger.identity import with_key
from ledger.storage import BatchRecords
from ledger.transfers import (
    TRANSFER_SOURCE,
    Transfer,
    crossings,
    give_up,
    merging_marks,
    moved_partitions,
    moving_key,
    take_over,
)
from schemas import Message, parse
from tests.kafka import support

pytestmark = [pytest.mark.postgres]

SURVIVOR = with_key("1840375123456")
ABSORBED = with_key("7840375123457")
SURVIVOR_PARTITION = 3


def _message(message_id: str, person: str, kind: str, data: dict[str, Any]) -> Message:
    parsed = parse(json.dumps({"message_id": message_id, "source": "dsn", "type": kind,
                               "version": 1, "person": person,
                               "published_at": "2021-02-01T00:00:00+01:00", "data": data}))
    assert isinstance(parsed, Message), parsed
    return parsed


def _work(message_id: str, person: str, year: int) -> Message:
    return _message(message_id, person, "employment.declared", {
        "employer": "12345678901234", "period_start": f"{year}-01-01",
        "period_end": f"{year}-12-31", "hours_worked": "1607"})


MERGE = _message("m-1", SURVIVOR, "person.merged",
                 {"absorbed": ABSORBED, "merged_on": "2021-01-15"})


def _ledger(url: str) -> Ledger:
    return Ledger(Settings.from_environment({"CPA_DATABASE_URL": url,
                                             "CPA_PERSON_KEY_SECRET": support.PERSON_KEY_SECRET}))


def _survivor(ledger: Ledger) -> Any:
    return support.person_documents(ledger, [SURVIVOR])[SURVIVOR]


def test_a_merge_across_shards_moves_the_history_once_whatever_is_repeated(
    postgres_server: PostgresServer, second_postgres_server: PostgresServer,
) -> None:
    single = _ledger(support.fresh_schema(postgres_server.url, "transfer_single"))
    survivors = _ledger(support.fresh_schema(postgres_server.url, "transfer_a"))
    absorbeds = _ledger(support.fresh_schema(second_postgres_server.url, "transfer_b"))
    try:
        single.ingest([_work("w-1", SURVIVOR, 2019), _work("w-2", ABSORBED, 2020), MERGE])
        survivors.ingest([_work("w-1", SURVIVOR, 2019)])
        absorbeds.ingest([_work("w-2", ABSORBED, 2020)])

        first = give_up(absorbeds, MERGE, SURVIVOR_PARTITION)
        again = give_up(absorbeds, MERGE, SURVIVOR_PARTITION)  # the request delivered again
        assert again == first and first.state is not None
        transfers = [k for k in support.outcomes(absorbeds) if k[0] == TRANSFER_SOURCE]
        assert len(transfers) == 1
        key = absorbeds.person_key(ABSORBED)
        assert absorbeds.app.ledger_recorder.select_receipts([moving_key(key)])
        assert moved_partitions(absorbeds, [key]) == {}  # moved only once the transfer is sent

        decoded = Transfer.decode(first.encode())
        result = take_over(survivors, MERGE, decoded)
        assert result is not None and result.outcome == "accepted"
        assert take_over(survivors, MERGE, decoded) is None  # the transfer delivered again
        assert support.repeat_count(survivors) == 0
        assert _survivor(survivors) == _survivor(single)
        ours = support.outcomes(survivors)[("dsn", "m-1")]
        assert ours[1:] == support.outcomes(single)[("dsn", "m-1")][1:]
    finally:
        for ledger in (single, survivors, absorbeds):
            ledger.close()


def test_a_merge_refused_on_the_absorbed_side_is_refused_on_both(
    postgres_server: PostgresServer, second_postgres_server: PostgresServer,
) -> None:
    survivors = _ledger(support.fresh_schema(postgres_server.url, "refuse_a"))
    absorbeds = _ledger(support.fresh_schema(second_postgres_server.url, "refuse_b"))
    try:
        absorbeds.ingest([_work("w-2", ABSORBED, 2020)])
        give_up(absorbeds, MERGE, SURVIVOR_PARTITION)
        other = _message("m-2", with_key("2840375123458"), "person.merged",
                         {"absorbed": ABSORBED, "merged_on": "2021-01-20"})
        refused = give_up(absorbeds, other, SURVIVOR_PARTITION)
        assert refused.state is None and refused.reason == "already_merged"
        result = take_over(survivors, other, refused)
        assert result is not None and (result.outcome, result.reason) == (
            "rejected", "already_merged")
    finally:
        survivors.close()
        absorbeds.close()


def test_the_survivor_waits_while_any_of_its_merges_across_shards_is_in_flight(
    postgres_server: PostgresServer, second_postgres_server: PostgresServer,
) -> None:
    """Two merges across shards into one survivor, one after the other: its messages wait
    for the first's outcome, then again for the second's (its mark is a repeat of the
    first's), and a merge named twice is marked once."""
    survivors = _ledger(support.fresh_schema(postgres_server.url, "second_merge_a"))
    absorbeds = _ledger(support.fresh_schema(second_postgres_server.url, "second_merge_b"))
    other = with_key("2840375123458")
    second = _message("m-2", SURVIVOR, "person.merged",
                      {"absorbed": other, "merged_on": "2021-01-20"})
    survivor = survivors.person_key(SURVIVOR)

    def waiting() -> bool:
        return survivor in crossings(survivors, [survivor]).waiting

    def requested(message: Message) -> int:
        marks, repeats = merging_marks(survivors, survivor, message)
        survivors.app.save(records=BatchRecords(receipts=marks, repeats=repeats))
        return len(marks) + len(repeats)

    try:
        survivors.ingest([_work("w-1", SURVIVOR, 2019)])
        absorbeds.ingest([_work("w-2", ABSORBED, 2020), _work("w-3", other, 2020)])
        assert not waiting()
        assert requested(MERGE) == 1 and waiting()
        take_over(survivors, MERGE, give_up(absorbeds, MERGE, SURVIVOR_PARTITION))
        assert not waiting()
        assert requested(second) == 1
        assert waiting(), "the second merge's history has not arrived"
        assert requested(second) == 0 and requested(MERGE) == 0  # named already
        take_over(survivors, second, give_up(absorbeds, second, SURVIVOR_PARTITION))
        assert not waiting()
    finally:
        survivors.close()
        absorbeds.close()
