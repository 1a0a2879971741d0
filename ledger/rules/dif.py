"""DIF hours transferred to the CPF (rules.md §4): one registration per person; and the
public agents' DIF (§10.2), one registration too, posted into `cpf_public` in hours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.changes import CreditSettled
from ledger.money import format_hundredths, parse_hundredths
from ledger.outcomes import Reason
from ledger.rules.book import HOURS, PUBLIC, in_unit, unit_on
from ledger.rules.common import Context, Incoming, Outcome, Rejected, day, later, posting
from ledger.state import PersonState

DIF_TYPE = "dif.registered"
DIF_KEY = "dif"
PUBLIC_DIF_KEY = "dif_public"


def _is_public(data: Mapping[str, Any]) -> bool:
    return data.get("regime") == "public"


def check(incoming: Incoming, state: PersonState, context: Context) -> None:
    """Reject a registration that the rules refuse."""
    registered_on = day(str(incoming.data["registered_on"]))
    hours = parse_hundredths(str(incoming.data["hours"]))
    public = _is_public(incoming.data)
    maximum = "cpf_public_dif_hours_max" if public else "dif_hours_max"
    if hours <= 0 or hours > context.parameters.amount(maximum, registered_on):
        raise Rejected(Reason.SCHEMA_VIOLATION,
                       "data.hours must be > 0 and at most the DIF maximum")
    # The public DIF is transferred by the employer, without a deadline [D5].
    if not public and not context.parameters.flag("dif_registration_open", registered_on):
        raise Rejected(Reason.DIF_REGISTRATION_CLOSED,
                       f"DIF registration closed on {registered_on.isoformat()}")
    active = [fact for fact in state.facts_of_type(DIF_TYPE)
              if _is_public(fact["data"]) == public]
    if active and incoming.supersedes is None:
        raise Rejected(Reason.DIF_ALREADY_REGISTERED,
                       "a DIF registration exists; a new one must supersede it")


def reconcile(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    """Post each active registration's value minus what was already posted (the private DIF,
    then the public one)."""
    outcome = _reconcile(state, incoming, context, public=False)
    outcome.extend(_reconcile(state, incoming, context, public=True))
    return outcome


def _reconcile(state: PersonState, incoming: Incoming, context: Context, *, public: bool
               ) -> Outcome:
    parameters = context.parameters
    active = [fact for fact in state.facts_of_type(DIF_TYPE)
              if _is_public(fact["data"]) == public]
    key, account = (PUBLIC_DIF_KEY, PUBLIC) if public else (DIF_KEY, "dif")
    previous = state.credited.get(key)
    if public and not active and previous is None:
        return Outcome()
    first_on = str(active[0]["data"]["registered_on"]) if active else incoming.published_on
    on = later(first_on, None if previous is None else previous.get("on"))
    unit = HOURS if public else unit_on(parameters, day(on))
    hours = parse_hundredths(str(active[0]["data"]["hours"])) if active else 0
    target = in_unit(parameters, account, hours, HOURS, unit)
    done = 0 if previous is None else in_unit(parameters, account, previous["amount"],
                                              previous["unit"], unit)
    delta = target - done
    if delta == 0:
        return Outcome()
    kind = "dif_registration" if previous is None else "dif_correction"
    memo = "public DIF hours transferred" if public else "DIF hours transferred"
    label = "public DIF" if public else "DIF"
    return Outcome(
        [posting(incoming, on, account, delta, unit, kind, memo=memo),
         CreditSettled(key=key, amount=target, unit=unit, on=on)],
        [f"{label}: {format_hundredths(delta)} {unit}"],
    )
