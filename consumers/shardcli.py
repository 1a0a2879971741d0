"""`cpa-ledger shards`: operations across the shards of the map (the composition root).

`list`, `verify`, `statistics` and `replay` run the single-store operation on each shard (or on
`--shard NAME`) and put the answers together; `move --to-map FILE` copies the partitions whose
owner changes (`consumers.moves`). Any other command works on one shard with CPA_DATABASE_URL
set to its database.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any

from psycopg.sql import SQL

from consumers.control import CONTROL_TOPIC
from consumers.moves import move
from ledger import shards, texts
from ledger.application import Ledger
from ledger.cli import EXIT_FAILURE, CommandError, print_json
from ledger.cluster import Cluster
from ledger.config import ConfigurationError, Settings
from ledger.shards import Shard, ShardMap


def run_shards(arguments: argparse.Namespace, settings: Settings) -> int:
    shard_map = shards.load(settings.database_url)
    if arguments.shard is not None:
        shard_map = ShardMap(shard_map.partitions, (shard_map.named(arguments.shard),))
    action = arguments.action
    with Cluster.open(settings, shard_map) as cluster:
        if action == "move":
            return _move(arguments, settings, cluster)
        if action == "verify":
            return _verify(arguments, cluster)
        if action == "statistics":
            return _statistics(arguments, cluster)
        if action == "replay":
            return _replay(arguments, cluster)
        return _list(arguments, cluster)


def _list(arguments: argparse.Namespace, cluster: Cluster) -> int:
    rows: list[dict[str, Any]] = [
        {"shard": shard.name, "partitions": list(shard.partitions) or "all",
         "events": ledger.app.recorder.max_notification_id() or 0,
         "outcomes": _outcomes(ledger)} for shard, ledger in cluster]
    if arguments.json:
        print_json({"partitions": cluster.map.partitions, "shards": rows})
    else:
        for row in rows:
            print(f"{row['shard']}: partitions {row['partitions']}, "
                  f"{texts.plural(int(row['events']), 'event')}, "
                  f"{texts.plural(int(row['outcomes']), 'outcome')}")
    return 0


def _outcomes(ledger: Ledger) -> int:
    datastore: Any = getattr(ledger.app.recorder, "datastore", None)
    if not hasattr(datastore, "schema"):
        return -1  # SQLite: not counted here
    with datastore.transaction(commit=False) as curs:
        curs.execute(f'SELECT count(*) AS n FROM "{datastore.schema}".message_outcomes')
        row = curs.fetchone()
    return int(row["n"]) if row else 0


def _verify(arguments: argparse.Namespace, cluster: Cluster) -> int:
    from ledger.http.sharded import across_shards
    from projections.operations import verify

    document = across_shards({shard.name: verify(ledger).as_document()
                              for shard, ledger in cluster})
    if arguments.json:
        print_json(document)
    elif document["ok"]:
        print(f"verified {texts.plural(document['checked_events'], 'event')} on "
              f"{texts.plural(len(document['shards']), 'shard')}")
    if not document["ok"]:
        print(f"cpa-ledger: verify failed: {document['first_difference']}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _statistics(arguments: argparse.Namespace, cluster: Cluster) -> int:
    """The statistics read model (kept by `project` on each shard), summed over the shards."""
    sums: dict[tuple[int, str, str, str], int] = {}
    for _, ledger in cluster:
        for key, amount in _statistics_rows(ledger):
            sums[key] = sums.get(key, 0) + amount
    rows = [{"year": year, "account": account, "unit": unit, "measure": measure,
             "amount": amount} for (year, account, unit, measure), amount in sorted(sums.items())]
    if arguments.json:
        print_json({"shards": [shard.name for shard in cluster.map.shards], "rows": rows})
    else:
        for row in rows:
            print(f"{row['year']} {row['account']:<11} {row['measure']:<12} "
                  f"{row['amount']:>14} {row['unit']}")
    return 0


def _statistics_rows(ledger: Ledger) -> Iterator[tuple[tuple[int, str, str, str], int]]:
    from projections.runner import live_names

    datastore: Any = getattr(ledger.app.recorder, "datastore", None)
    if not hasattr(datastore, "schema"):
        raise ConfigurationError("shards statistics reads the PostgreSQL read models")
    table = live_names(ledger).table("statistics")
    with datastore.transaction(commit=False) as curs:
        curs.execute(SQL("SELECT year, account, unit, measure, amount FROM {}").format(table))
        for row in curs.fetchall():
            yield ((int(row["year"]), str(row["account"]), str(row["unit"]),
                    str(row["measure"])), int(row["amount"]))


def _replay(arguments: argparse.Namespace, cluster: Cluster) -> int:
    from projections.operations import ReplayTargetExists, replay

    if arguments.until is None:
        raise CommandError("shards replay needs --until TIMESTAMP")
    prefix = arguments.out or f"replay-{arguments.until.strftime('%Y%m%dT%H%M%S')}"
    results: dict[str, dict[str, Any]] = {}
    for shard, ledger in cluster:
        try:
            replayed = replay(ledger, arguments.until, f"{prefix}-{shard.name}")
        except ReplayTargetExists as error:
            raise CommandError(str(error)) from error
        results[shard.name] = {"database_url": replayed.database_url,
                               "events": replayed.events, "outcomes": replayed.outcomes}
    if arguments.json:
        print_json({"until": arguments.until.isoformat(), "shards": results})
    else:
        for name, result in results.items():
            print(f"{name}: replayed {texts.plural(int(result['events']), 'event')} into "
                  f"{result['database_url']}")
    return 0


def _move(arguments: argparse.Namespace, settings: Settings, cluster: Cluster) -> int:
    if not arguments.to_map:
        raise CommandError("shards move needs --to-map FILE (the new shard map)")
    target_map = shards.load("", {**os.environ, shards.MAP_VARIABLE: arguments.to_map})
    topics = [*settings.kafka_topics,
              os.environ.get("CPA_KAFKA_CONTROL_TOPIC") or CONTROL_TOPIC]
    with Cluster.open(settings, _new_shards_only(cluster, target_map)) as new_only:
        target = Cluster(target_map, {shard.name: _ledger_for(shard, cluster, new_only)
                                      for shard in target_map.shards})
        report = move(cluster, target, topics)
    document = {"moved": report.partitions, "persons": report.persons, "events": report.events,
                "outcomes": report.outcomes, "positions": report.positions,
                "relinked_merges": report.relinked}
    if arguments.json:
        print_json(document)
    else:
        print(f"moved partitions {report.partitions}: "
              f"{texts.plural(report.persons, 'person')}, "
              f"{texts.plural(report.events, 'event')}, "
              f"{texts.plural(report.outcomes, 'outcome')}; now point CPA_SHARD_MAP at "
              f"{arguments.to_map} and start the consumers")
    return 0


def _new_shards_only(cluster: Cluster, target: ShardMap) -> ShardMap:
    """The shards of the new map that the current map does not have (by database)."""
    known = {shard.database_url for shard in cluster.map.shards}
    return ShardMap(target.partitions,
                    tuple(shard for shard in target.shards if shard.database_url not in known))


def _ledger_for(shard: Shard, cluster: Cluster, new_only: Cluster) -> Ledger:
    for current, ledger in cluster:
        if current.database_url == shard.database_url:
            return ledger
    return new_only.ledgers[shard.name]
