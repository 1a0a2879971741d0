"""Yearly statements: one PDF per person, with their rights at 31 December of a year, what was
credited and why, what was used, the top-ups that expire within the next year and the DIF or
conversion options open to them (`cpa-ledger statements --year 2025 --out DIR`)."""
