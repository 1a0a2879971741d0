"""The decision function: what one validated message means for one person's account.

`decide` is pure: it reads the state, the message and the context and returns the changes to
record, in steps (the second step reads the state as the first one left it), or raises
`Rejected` before any change. The application records each step as one event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ledger.changes import Absorbed, AnyChange, FactRecorded, FactRemoved, StatusChanged
from ledger.outcomes import Reason
from ledger.rules import accrual, c2p, cec, dif, orders, public, topups
from ledger.rules.common import Context, Incoming, Outcome, Rejected, day
from ledger.rules.cpf import year_of_fact
from ledger.state import PersonState

Step = Callable[[PersonState], Outcome]

FACT_TYPES = frozenset({
    "employment.declared",
    "self_employment.declared",
    "qualification.declared",
    "disability.recognised",
    "jobseeker.registered",
    "dif.registered",
    "civic_engagement.declared",
    "hardship.exposure.declared",
})
PERSON_TYPES = FACT_TYPES | {
    "topup.granted",
    "topup.withdrawn",
    "training.ordered",
    "training.cancelled",
    "training.entered",
    "training.refunded",
    "hardship.points.used",
    "cpf.conversion.requested",
    "person.retired",
    "person.deceased",
    "fact.retracted",
}


def decide(state: PersonState, incoming: Incoming, context: Context) -> Iterator[Step]:
    """The steps of one message. The first raises Rejected or returns the primary changes;
    later steps reconcile what the first changed (regularisations, derived credits)."""
    _check_in_force(incoming, context)
    if incoming.supersedes is not None and incoming.type not in FACT_TYPES:
        raise Rejected(Reason.NOT_SUPPORTED, f"{incoming.type} cannot supersede another message")
    if incoming.type in FACT_TYPES or incoming.type == "fact.retracted":
        yield from _fact_steps(state, incoming, context)
    elif incoming.type in _HANDLERS:
        handler = _HANDLERS[incoming.type]
        yield lambda current: handler(current, incoming, context)
        if incoming.type == "person.retired":
            yield lambda current: _after_retirement(current, incoming, context)
    else:
        raise Rejected(Reason.NOT_SUPPORTED, f"{incoming.type} is not decided per person")


_UNDATED_FIELDS = frozenset({"birth_date"})


def _check_in_force(incoming: Incoming, context: Context) -> None:
    """Refuse dates the rulebook does not cover (it starts on 2015-01-01)."""
    first = context.parameters.day("rulebook_first_day", dt.date(2015, 1, 1))
    first_day = first.isoformat()
    for name, value in incoming.data.items():
        if name in _UNDATED_FIELDS:
            continue
        if name == "year" and isinstance(value, int) and value < first.year:
            raise Rejected(Reason.NOT_IN_FORCE, f"data.year {value} is before the rulebook's start")
        if isinstance(value, str) and value < first_day and _is_date(value):
            raise Rejected(Reason.NOT_IN_FORCE,
                           f"data.{name} {value} is before the rulebook's start")


def _is_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-" and text[:4].isdigit()


# Facts: record, supersede, retract, then reconcile what they feed.


def _fact_steps(state: PersonState, incoming: Incoming, context: Context) -> Iterator[Step]:
    previous = _replaced_fact(state, incoming)
    if incoming.type != "fact.retracted":
        _check_fact(state, incoming, context)
    touched = [fact for fact in (previous, _as_fact(incoming)) if fact is not None]
    yield lambda current: _record(incoming, previous)
    yield lambda current: reconcile(current, touched, incoming, context)


def _as_fact(incoming: Incoming) -> dict[str, Any] | None:
    if incoming.type == "fact.retracted":
        return None
    return {"type": incoming.type, "data": dict(incoming.data)}


def _replaced_fact(state: PersonState, incoming: Incoming) -> dict[str, Any] | None:
    """The active fact that this message supersedes or retracts, checked."""
    target = incoming.data.get("retracts") if incoming.type == "fact.retracted" else None
    target = target or incoming.supersedes
    if target is None:
        return None
    key = f"{incoming.source}/{target}"
    fact = state.fact(key)
    retracting = incoming.type == "fact.retracted"
    reason = Reason.UNKNOWN_RETRACTED if retracting else Reason.UNKNOWN_SUPERSEDED
    if fact is None:
        why = state.inactive.get(key, "no such fact of this source and person")
        raise Rejected(reason, f"{target}: {why}")
    if incoming.type != "fact.retracted" and fact["type"] != incoming.type:
        raise Rejected(reason, f"{target} is a {fact['type']}, not a {incoming.type}")
    return {"key": key, **fact}


def _check_fact(state: PersonState, incoming: Incoming, context: Context) -> None:
    data = incoming.data
    if incoming.type == "dif.registered":
        dif.check(incoming, state, context)
    if incoming.type == "civic_engagement.declared":
        if not context.parameters.flag("cec_in_force", dt.date(int(data["year"]), 1, 1)):
            raise Rejected(Reason.NOT_IN_FORCE, "the CEC covers activity years from 2017")
        if str(data["validated_on"]) < f"{data['year']}-01-01":
            raise Rejected(Reason.INCONSISTENT_DATES,
                           "data.validated_on is before the activity year")


def _record(incoming: Incoming, previous: Mapping[str, Any] | None) -> Outcome:
    changes: list[AnyChange] = []
    if previous is not None:
        how = "retracted" if incoming.type == "fact.retracted" else "superseded"
        changes.append(FactRemoved(key=previous["key"], why=f"{how} by {incoming.message_id}"))
    if incoming.type != "fact.retracted":
        changes.append(FactRecorded(key=incoming.key, type=incoming.type, data=dict(incoming.data),
                                    published_on=incoming.published_on))
    if incoming.type == "hardship.exposure.declared":
        changes.append(c2p.birth_date_change(incoming.data))
    note = f"fact {incoming.type} recorded" if incoming.type != "fact.retracted" else "retracted"
    return Outcome(changes, [note])


def reconcile(
    state: PersonState, touched: list[dict[str, Any]], incoming: Incoming, context: Context
) -> Outcome:
    """Bring every credit fed by the touched facts in line with the facts now in force."""
    years: set[int] = set()
    dif_touched = False
    cec_keys: set[tuple[str, int]] = set()
    exposure_years: set[int] = set()
    for fact in touched:
        years |= _accrual_years(state, fact)
        kind, data = fact["type"], fact["data"]
        dif_touched = dif_touched or kind == "dif.registered"
        if kind == "civic_engagement.declared":
            cec_keys.add((str(data["activity"]), int(data["year"])))
        elif kind == "hardship.exposure.declared":
            exposure_years.add(int(data["year"]))
    # Each derived credit is reconciled once, however many touched facts feed it: the state
    # does not change between the calls of one step.
    outcome = Outcome()
    if dif_touched:
        outcome.extend(dif.reconcile(state, incoming, context))
    for activity, year in sorted(cec_keys):
        outcome.extend(cec.reconcile(state, activity, year, incoming, context))
    for year in sorted(exposure_years):
        outcome.extend(c2p.reconcile_year(state, year, incoming, context))
    outcome.extend(accrual.regularise_closed(state, years, incoming, context))
    return outcome


def _accrual_years(state: PersonState, fact: Mapping[str, Any]) -> set[int]:
    year = year_of_fact(fact)
    if year is not None:
        return {year}
    first = _status_first_year(fact)
    if first is None:
        return set()
    return {y for y in accrual.years_with_facts(state) if y >= first}


def _status_first_year(fact: Mapping[str, Any]) -> int | None:
    data = fact["data"]
    if fact["type"] == "qualification.declared":
        return int(str(data["declared_on"])[:4])
    if fact["type"] == "disability.recognised":
        return int(str(data["from"])[:4])
    return None


def reconcile_everything(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    """Every derived credit of the account (after an identity merge)."""
    touched = [{"type": fact["type"], "data": fact["data"]} for fact in state.facts.values()]
    touched.append({"type": "dif.registered", "data": {}})
    for key in state.credited:
        if key.startswith("cec/"):
            _, activity, year = key.split("/")
            touched.append({"type": "civic_engagement.declared",
                            "data": {"activity": activity, "year": int(year)}})
    return reconcile(state, _unique(touched), incoming, context)


def _unique(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for fact in facts:
        data = fact["data"]
        marker = (fact["type"], str(data.get("activity", "")), str(data.get("year", "")))
        if fact["type"] in ("dif.registered", "civic_engagement.declared",
                            "hardship.exposure.declared"):
            if marker in seen:
                continue
            seen.add(marker)
        unique.append(fact)
    return unique


# Lifecycle.


def _retired(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    """A full-rate retirement freezes the CPF and closes C2P (§9); a retirement freezes the
    public counter as §10.6 says (from 2020 whatever full_rate says, unless invalidity)."""
    data = incoming.data
    on = str(data["retired_on"])
    status: dict[str, str] = {}
    notes: list[str] = []
    if data.get("full_rate"):
        if state.retired_on is not None:
            raise Rejected(Reason.ALREADY_RETIRED, f"retired on {state.retired_on}")
        status["retired_on"] = on
        notes.append(f"full-rate retirement on {on}: CPF frozen, C2P closed")
    else:
        notes.append("retirement without full rate: the CPF stays open")
    if public.freezes_public(data, context.parameters):
        if state.public_frozen_on is None:
            status["public_frozen_on"] = on
            notes.append(f"retirement on {on}: public counter frozen")
    elif data.get("invalidity"):
        notes.append("retirement for invalidity: the public counter stays usable")
    changes: list[AnyChange] = [StatusChanged(**status)] if status else []
    return Outcome(changes, notes)


def _after_retirement(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    frozen = [day(on).year for on in (state.retired_on, state.public_frozen_on) if on]
    if not frozen:
        return Outcome()
    outcome = Outcome()
    if state.retired_on is not None:
        first = day(state.retired_on).year
        exposed = {int(f["data"]["year"])
                   for f in state.facts_of_type("hardship.exposure.declared")
                   if int(f["data"]["year"]) >= first}
        touched = [{"type": "hardship.exposure.declared", "data": {"year": y}} for y in exposed]
        outcome = reconcile(state, touched, incoming, context)
    years = {y for y in accrual.years_with_facts(state) if y >= min(frozen)}
    outcome.extend(accrual.regularise_closed(state, years, incoming, context))
    return outcome


def _deceased(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    if state.died_on is not None:
        raise Rejected(Reason.ACCOUNT_CLOSED, f"the account closed on {state.died_on}")
    on = str(incoming.data["died_on"])
    outcome = Outcome([StatusChanged(died_on=on)],
                      [f"account closed on {on}"])
    outcome.extend(orders.release_all(state, incoming, on, context))
    return outcome


def _points_used(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    c2p.check_use(state, incoming, context)
    return c2p.use_points(state, incoming, context)


_HANDLERS: dict[str, Callable[[PersonState, Incoming, Context], Outcome]] = {
    "topup.granted": topups.grant,
    "topup.withdrawn": lambda state, incoming, context: topups.withdraw(state, incoming),
    "training.ordered": orders.order,
    "training.cancelled": orders.cancel,
    "training.entered": orders.enter,
    "training.refunded": orders.refund,
    "hardship.points.used": _points_used,
    "cpf.conversion.requested": public.convert,
    "person.retired": _retired,
    "person.deceased": _deceased,
}


def merge(
    survivor: PersonState, absorbed: PersonState, absorbed_key: str, incoming: Incoming
) -> tuple[Outcome, Outcome]:
    """(changes for the absorbed identifier, first changes for the survivor)."""
    if absorbed.merged_into is not None:
        raise Rejected(Reason.ALREADY_MERGED, "the absorbed identifier was already merged")
    if absorbed_key == survivor.person_key:
        raise Rejected(Reason.SCHEMA_VIOLATION, "data.absorbed is the message's own person")
    on = str(incoming.data["merged_on"])
    gone = Outcome([StatusChanged(merged_into=survivor.person_key)],
                   [f"merged into the survivor on {on}"])
    moved = Outcome([Absorbed(absorbed_key=absorbed_key, state=absorbed.to_json())],
                    [f"history of the absorbed identifier moved here on {on}"])
    return gone, moved
