"""What a training order would get, decided without recording anything: the HTTP quote
(`GET /v1/persons/{person}/quote`) and the CLI's `quote` answer with this one function."""

from __future__ import annotations

import datetime as dt
import re
from copy import deepcopy
from typing import Any

from ledger.application import Ledger, settlements_due
from ledger.parameters import ParameterNotInForce
from ledger.rules.common import Context, Rejected
from ledger.rules.orders import quote
from ledger.state import PersonState, evolve, stamped
from projections.reader import Reader
from schemas import schema_document

QUOTE_ORDER_ID = "quote"
QUOTE_PROVIDER = "quote"
_ORDER = schema_document("training.ordered", 1)["properties"]
CERTIFICATION_PATTERN: str = _ORDER["certification"]["pattern"]
PRICE_PATTERN: str = _ORDER["price_eur"]["pattern"]


class QuoteRefused(ValueError):
    """The order would be refused: `reason` is its code, `detail` the why in words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_arguments(certification: str, price_eur: str) -> None:
    """The order's fields as the feed contract constrains them."""
    if not re.fullmatch(CERTIFICATION_PATTERN, certification):
        raise QuoteRefused("invalid_parameter",
                           "certification must be 1 to 128 characters among A-Z a-z 0-9 . _ : -")
    if not re.fullmatch(PRICE_PATTERN, price_eur):
        raise QuoteRefused("invalid_parameter", "price_eur must be a non-negative decimal with"
                                                " at most two decimals")


def quote_order(ledger: Ledger, person: str, certification: str, price_eur: str,
                on: dt.date) -> dict[str, Any]:
    """What a training order would get on `on`; decides without recording anything."""
    check_arguments(certification, price_eur)
    view = Reader(ledger).view(person)
    context = Context(ledger.parameters, ledger.closed_years())
    state = _caught_up(view.state, context, ledger.now()) if view.state is not None \
        else PersonState(person_key=view.person_key)
    data = {"order_id": QUOTE_ORDER_ID, "certification": certification,
            "provider": QUOTE_PROVIDER, "price_eur": price_eur, "ordered_on": on.isoformat()}
    try:
        decided = quote(state, data, context)
    except Rejected as error:
        raise QuoteRefused(error.reason, error.detail) from error
    except ParameterNotInForce as error:
        raise QuoteRefused("parameter_not_in_force", str(error)) from error
    if decided.funded == 0 and decided.price > 0:
        # The order itself would be refused for this reason (ledger.rules.orders.order).
        raise QuoteRefused("insufficient_rights", "no rights available for this order")
    return {"person": view.identifier, "on": on.isoformat(), "certification": certification,
            **decided.as_document()}


def _caught_up(state: PersonState, context: Context, now: str) -> PersonState:
    """A copy of the state with the closed years that an order would settle first (the
    closing sweep may not have reached this person yet): the quote sees what the order sees."""
    copy = deepcopy(state)
    for _, outcome in settlements_due(copy, context):
        evolve(copy, stamped(outcome.changes, now))
    return copy
