"""DIF hours transferred to the CPF (rules.md §4): one registration per person."""

from __future__ import annotations

from ledger.money import format_hundredths, parse_hundredths
from ledger.rules.book import HOURS, in_unit, unit_on
from ledger.rules.common import Context, Incoming, Outcome, Rejected, day, later, posting
from ledger.state import PersonState

DIF_TYPE = "dif.registered"
DIF_KEY = "dif"


def check(incoming: Incoming, state: PersonState, context: Context) -> None:
    """Reject a registration that the rules refuse."""
    registered_on = day(str(incoming.data["registered_on"]))
    hours = parse_hundredths(str(incoming.data["hours"]))
    if hours <= 0 or hours > context.parameters.amount("dif_hours_max", registered_on):
        raise Rejected("schema_violation", "data.hours must be > 0 and at most the DIF maximum")
    if not context.parameters.flag("dif_registration_open", registered_on):
        raise Rejected("dif_registration_closed",
                       f"DIF registration closed on {registered_on.isoformat()}")
    if state.has_facts_of_type(DIF_TYPE) and incoming.supersedes is None:
        raise Rejected("dif_already_registered",
                       "a DIF registration exists; a new one must supersede it")


def reconcile(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    """Post the active registration's value minus what was already posted."""
    parameters = context.parameters
    active = state.facts_of_type(DIF_TYPE)
    previous = state.credited.get(DIF_KEY)
    first_on = str(active[0]["data"]["registered_on"]) if active else incoming.published_on
    on = later(first_on, None if previous is None else previous.get("on"))
    unit = unit_on(parameters, day(on))
    hours = parse_hundredths(str(active[0]["data"]["hours"])) if active else 0
    target = in_unit(parameters, "dif", hours, HOURS, unit)
    done = 0 if previous is None else in_unit(parameters, "dif", previous["amount"],
                                              previous["unit"], unit)
    delta = target - done
    if delta == 0:
        return Outcome()
    kind = "dif_registration" if previous is None else "dif_correction"
    return Outcome(
        [posting(incoming, on, "dif", delta, unit, kind, memo="DIF hours transferred"),
         {"kind": "credit_settled", "key": DIF_KEY, "amount": target, "unit": unit, "on": on}],
        [f"DIF: {format_hundredths(delta)} {unit}"],
    )
