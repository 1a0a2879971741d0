"""The scale benchmark of issue 9: naive peer, project and limit side by side, in one run.

    python -m tests.bench.scale --persons 100000 [--seed 1] [--naive-messages 20000]
        [--seconds 20] [--kafka-messages 100000] [--skip-kafka] [--skip-http] [--json FILE]

Starts its own throwaway PostgreSQL (`deploy/local/postgres.py`, durability off) and, unless
`--skip-kafka`, its own Kafka broker (`deploy/local/kafka.py`); installs wrk with apt-get when
missing (as root). On the demo feed of `--persons` careers it measures, each stage in a process
of its own so that its peak RSS is its own:

- the write path, side by side: the naive peer (`naive.py`: plain eventsourcing, one get +
  mutate + save per message, on the first `--naive-messages` messages), the project
  (`Ledger.ingest` in batches of `limits.INGEST_BATCH_MESSAGES_MAX`, parsing timed apart) and
  the limit (binary COPY of the project's own event rows into a table like the event store's,
  in transactions of the project's events per batch, the COPY data encoded beforehand so that
  the time is PostgreSQL's), with the ratios;
- for the project: msg/s per year of `published_at` (the demo's yearly waves) and the late/early
  ratio ("constant": within 1.5x), each `accrual.year.closed` timed with its persons settled,
  projection catch-up and `rebuild` events/s, HTTP reads under wrk (today's balance, `as_of`,
  /healthz, and two bare references: a Starlette JSON endpoint, and Starlette with psycopg_pool
  reading the stored document) with p50/p99, and one
  `cpa-ledger consume` draining a Kafka backlog of `--kafka-messages` demo messages.

Progress goes to stderr, the table to stdout. Not collected by pytest.
"""
