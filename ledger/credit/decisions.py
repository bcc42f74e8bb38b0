"""The checks a credit decision must pass before the ledger records it, whatever path it came by.

The basis is re-derived from the learner's stream as recorded (`history`: the events the
ledger holds for the learner, this batch's included) under the catalogue in force, never taken
from the client. Positions are not known before an event is in the log, so here every cited
event must be the learner's with the same hash, and `ledger verify` checks the positions.

A proposal must be what the learner's record gives now: evidence recorded after the position
it was derived at makes it refused, and the engine derives again. An award is derived at its
proposal (the stream before the proposal was recorded) and must equal the proposal's basis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ledger.credit.compare import Difference, differences, same_basis, summary
from ledger.credit.derive import Entry, derive_basis, reevaluate, voided_ids
from ledger.intake import Rejection

if TYPE_CHECKING:
    from ledger.invariants import Catalog

History = Callable[[], Sequence[Entry]]


def _refusal(found: list[Difference], headline: str) -> Rejection | None:
    if not found:
        return None
    return Rejection(found[0].field, f"{headline}: {summary(found)}")


def _history(history: History | None) -> Sequence[Entry]:
    if history is None:
        raise ValueError("a credit decision is checked against the learner's recorded events; none were given")
    return history()


def check_proposal(payload: dict[str, Any], catalog: Catalog, history: History | None) -> Rejection | None:
    entries = _history(history)
    derived = derive_basis(entries, catalog, payload["course_id"], payload["log_position"])
    return _refusal(differences(payload, derived, positions=False),
                    "the basis is not what the learner's record gives")


def check_award(payload: dict[str, Any], actor_id: str, catalog: Catalog, history: History | None) -> Rejection | None:
    found = []
    if payload["approved_by"] != actor_id:
        found.append(Difference("payload.approved_by",
                                f"approved_by {payload['approved_by']!r} is not the approving actor {actor_id!r}"))
    entries = _history(history)
    proposal_id = str(payload["proposal_event_id"])
    at = next((i for i, e in enumerate(entries) if e.event["event_id"] == proposal_id), None)
    if at is None:  # LearnerFile refuses this first; kept so the function stands alone
        return Rejection("payload.proposal_event_id", f"no credit proposal {proposal_id}")
    found += same_basis(payload, entries[at].event["payload"])
    derived = derive_basis(entries[:at], catalog, payload["course_id"], payload["log_position"])
    found += differences(payload, derived, positions=False)
    return _refusal(found, "the award is not what the learner's record gives at its proposal")


def check_confirmation(payload: dict[str, Any], catalog: Catalog, history: History | None) -> Rejection | None:
    entries = _history(history)
    target = str(payload["credit_event_id"])
    award = next((e for e in entries if e.event["event_id"] == target and e.event["type"] == "credit.awarded"), None)
    if award is None:  # LearnerFile refuses this first
        return Rejection("payload.credit_event_id", f"no credit award {target} for this learner")
    result = reevaluate(award.event["payload"], voided_ids(entries), catalog)
    if not result.satisfied:
        return Rejection("payload.credit_event_id", f"re-evaluated with the voided evidence removed, the rule no "
                                                    f"longer holds ({result.reason}): revoke the credit instead")
    if payload["still_holds"] is not True:
        return Rejection("payload.still_holds", f"the ledger re-evaluates the rule as still holding ({result.reason})")
    return None
