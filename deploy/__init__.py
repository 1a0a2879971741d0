"""How cpa-ledger runs: local services for development and tests, container and cluster files."""
