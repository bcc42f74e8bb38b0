"""`ledger verify`'s credit check: every recorded award re-derived from the log read in order.

Each award is derived again from the learner's events up to the log position it states, under
the catalogue in force when it was recorded (the one the recording check used), and must equal
what it says — rule and methods against the course definition, not just against themselves —
with every cited event at its stated position with its stored hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ledger.credit.compare import Difference, differences, same_basis
from ledger.credit.derive import Entry, derive_basis


@dataclass
class CreditCheck:
    awards: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)


def award_problems(award: Entry, before: list[Entry], catalog: Any) -> list[str]:
    """What is wrong with one recorded award, given the learner's events before it (with their
    positions) and the catalogue at the award."""
    e, p = award.event, award.event["payload"]
    found: list[Difference] = []
    if p["approved_by"] != e["actor"]["id"]:
        found.append(Difference("payload.approved_by", f"approved by {p['approved_by']!r} but recorded by "
                                                       f"{e['actor']['id']!r}"))
    proposal = next((x for x in before if x.event["event_id"] == p["proposal_event_id"]
                     and x.event["type"] == "credit.proposed"), None)
    if proposal is None:
        found.append(Difference("payload.proposal_event_id",
                                f"its proposal {p['proposal_event_id']} is not in the log before it"))
    else:
        found += [Difference(d.field, d.reason.replace("the proposal's", f"proposal {p['proposal_event_id']}'s"))
                  for d in same_basis(p, proposal.event["payload"])]
        if proposal.position is not None and p["log_position"] >= proposal.position:
            found.append(Difference("payload.log_position", f"log position {p['log_position']} is not before its "
                                                            f"proposal's ({proposal.position})"))
    if p["course_id"] not in catalog.courses:
        return [d.reason for d in found] + [f"course {p['course_id']} was not defined when it was awarded"]
    upto = [x for x in before if x.position is not None and x.position <= p["log_position"]]
    found += differences(p, derive_basis(upto, catalog, p["course_id"], p["log_position"]), positions=True)
    voided = {x.event["payload"]["voided_event_id"]: x.position for x in before if x.event["type"] == "evidence.voided"}
    found += [Difference("payload.evidence_event_ids", f"evidence {i} was voided (position {voided[str(i)]}) before "
                                                       "the award") for i in p["evidence_event_ids"] if str(i) in voided]
    return [d.reason for d in found]


def verify_credits(events_pages: Iterable[Iterable[Any]], altered: set[str]) -> CreditCheck:
    """Re-derive every recorded award from the log read in order (pages of `LoggedEvent`s, or
    anything with `position`, `hash` and `event`). `altered`: ids of events whose stored content
    fails its hash (from the chain check)."""
    from ledger.invariants import Catalog

    check = CreditCheck()
    catalog = Catalog()
    learners: dict[str, list[Entry]] = {}
    for page in events_pages:
        for logged in page:
            e = logged.event
            learner = e.get("learner_id")
            if learner is None:
                if e["type"] in ("framework.published", "course.defined"):
                    catalog.apply(e)
                continue
            before = learners.setdefault(learner, [])
            if e["type"] == "credit.awarded":
                check.awards += 1
                problems = award_problems(Entry(logged.position, logged.hash, e), before, catalog)
                basis_ids = {str(i["event_id"]) for s in e["payload"]["competency_states"]
                             for i in s["evidence"] + s["sign_offs"]}
                problems += [f"basis event {i} fails its hash check: its stored content was altered"
                             for i in sorted(basis_ids & altered)]
                for problem in problems:
                    check.problems.append({"credit_event_id": e["event_id"], "learner_id": learner,
                                           "course_id": e["payload"]["course_id"], "problem": problem})
            before.append(Entry(logged.position, logged.hash, e))
    return check
