"""The HTTP API (interfaces.md §2): a Starlette application over the ledger and its read models.

`app.create_app` is the composition root (uvicorn workers and tests build the app the same way);
`serve.run_serve` runs it under uvicorn for `cpa-ledger serve`.
"""
