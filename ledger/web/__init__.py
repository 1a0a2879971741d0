"""Web pages for people: a person's rights as an advisor sees them, and an auditor's view.

Served by `cpa-ledger serve` beside the API (`routes.build`), from Jinja2 templates, in French
or English, under the API's tokens and scopes; see `session` for how a browser logs in.
"""
