"""Top-ups (abondements, rules.md §5): grants outside every ceiling, and their withdrawal."""

from __future__ import annotations

from ledger.changes import GrantOpened, GrantWithdrawn
from ledger.money import format_hundredths, parse_hundredths
from ledger.outcomes import Reason
from ledger.rules.book import EUR, HOURS, unit_on
from ledger.rules.common import Context, Incoming, Outcome, Rejected, day, is_closed_on, posting
from ledger.state import PersonState

_DATED_FEATURES = ("earmarked_certifications", "expires_on", "refundable")


def grant(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    data = incoming.data
    granted_on = day(str(data["granted_on"]))
    grant_id = str(data["grant_id"])
    if is_closed_on(state, granted_on):
        raise Rejected(Reason.ACCOUNT_CLOSED, "the account is closed (death)")
    if grant_id in state.grants:
        raise Rejected(Reason.DUPLICATE_GRANT, f"grant {grant_id} already exists")
    unit = _unit(incoming, context)
    _check_features(incoming, context)
    if data.get("expires_on") and str(data["expires_on"]) <= str(data["granted_on"]):
        raise Rejected(Reason.INCONSISTENT_DATES, "data.expires_on must be after data.granted_on")
    amount = parse_hundredths(str(data["amount_eur"] if unit == EUR else data["hours"]))
    record = {
        "grant_id": grant_id,
        "funder_type": data["funder_type"],
        "funder_id": data["funder_id"],
        "kind": data["kind"],
        "amount": amount,
        "unit": unit,
        "granted_on": str(data["granted_on"]),
        "earmarked_certifications": list(data.get("earmarked_certifications") or []),
        "expires_on": data.get("expires_on"),
        "refundable": bool(data.get("refundable", False)),
    }
    return Outcome(
        [GrantOpened(grant=record),
         posting(incoming, record["granted_on"], "topups", amount, unit, "topup_grant",
                 grant_id=grant_id, memo=f"top-up {data['kind']} from {data['funder_type']}")],
        [f"top-up {grant_id}: {format_hundredths(amount)} {unit}"],
    )


def _unit(incoming: Incoming, context: Context) -> str:
    """EUR from the euro switch, hours before it; the other field is not in force."""
    expected = unit_on(context.parameters, day(str(incoming.data["granted_on"])))
    given = EUR if "amount_eur" in incoming.data else HOURS
    if given != expected:
        field = "amount_eur" if given == EUR else "hours"
        raise Rejected(Reason.FIELD_NOT_IN_FORCE, f"data.{field} is not in force on that date")
    return given


def _check_features(incoming: Incoming, context: Context) -> None:
    granted_on = day(str(incoming.data["granted_on"]))
    if context.parameters.flag("topup_earmark_expiry_refund_in_force", granted_on):
        return
    for field in _DATED_FEATURES:
        if incoming.data.get(field) not in (None, [], False):
            raise Rejected(Reason.FIELD_NOT_IN_FORCE, f"data.{field} is in force from 2025-04-17")


def withdraw(state: PersonState, incoming: Incoming) -> Outcome:
    grant_id = str(incoming.data["grant_id"])
    record = state.grants.get(grant_id)
    if record is None:
        raise Rejected(Reason.UNKNOWN_GRANT, f"no grant {grant_id}")
    if record.get("withdrawn_on"):
        raise Rejected(Reason.GRANT_CLOSED, f"grant {grant_id} was already withdrawn")
    withdrawn_on = str(incoming.data["withdrawn_on"])
    if withdrawn_on < record["granted_on"]:
        raise Rejected(Reason.INCONSISTENT_DATES, "data.withdrawn_on is before the grant")
    return Outcome(
        [GrantWithdrawn(grant_id=grant_id, withdrawn_on=withdrawn_on)],
        [f"top-up {grant_id}: unused part withdrawn on {withdrawn_on}"],
    )
