"""The credit engine: proposes credits whose rules the learners' states satisfy, and records
a registrar's approval or revocation. Everything is posted through the ledger's one path."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from ledger.application import Ledger, Outcome
from projections import official
from projections.credit import basis_for, evaluate_rule

ENGINE = {"id": "credit-engine", "role": "ledger_service"}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mastery-ledger:credit")


class CreditError(Exception):
    pass


@dataclass
class ProposalRun:
    proposed: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _post(ledger: Ledger, event: dict[str, Any]) -> Outcome:
    [outcome] = ledger.post([json.dumps(event)])
    return outcome


def propose(ledger: Ledger, projections: Path, *, limit: int | None = None) -> ProposalRun:
    """Record a `credit.proposed` for every learner × course whose rule is satisfied and that has
    no open proposal or standing award yet (for the first `limit` learners only, if given).
    Run it after `ledger project`."""
    with official.connect(projections, read_only=True) as con:
        return propose_from(ledger, con, limit=limit)


def propose_from(ledger: Ledger, con: duckdb.DuckDBPyConnection, *, limit: int | None = None) -> ProposalRun:
    """`propose`, on read models already open (a server holds its own)."""
    run = ProposalRun()
    open_ = {(l, c) for l, c in con.execute(
        "SELECT learner_id, course_id FROM credit_audit WHERE status <> 'revoked'").fetchall()}
    courses = [(c, list(competencies), json.loads(rule)) for c, competencies, rule in con.execute(
        "SELECT course_id, competencies, credit_rule FROM course ORDER BY course_id").fetchall()]
    learners = con.execute("SELECT learner_id, school_id FROM learner ORDER BY learner_id LIMIT ?",
                           [limit if limit is not None else 2**62]).fetchall()
    # Every learner's mastered competencies in one query: the rules are checked on these first,
    # and only a satisfied rule costs basis_for's queries (it was two per learner and course).
    mastered = {l: dict.fromkeys(cs, True) for l, cs in con.execute(
        "SELECT learner_id, list(competency_id) FROM competency_state WHERE mastered GROUP BY learner_id").fetchall()}
    candidates = []
    for learner, school in learners:
        done = mastered.get(learner, {})
        for course, competencies, rule in courses:
            if (learner, course) in open_:
                continue
            if not evaluate_rule(rule, competencies, done).satisfied:
                continue
            basis = basis_for(con, learner, course)
            if basis is not None:
                candidates.append((learner, school, basis))
    events = []
    for learner, school, basis in candidates:
        latest = max(e["demonstrated_at"] for s in basis["competency_states"] for e in s["evidence"])
        events.append({
            "event_id": str(uuid.uuid5(_NAMESPACE, f"proposal:{learner}:{basis['course_id']}:"
                                                   f"{basis['rule']['version']}:{basis['log_position']}")),
            "type": "credit.proposed", "schema_version": 1, "learner_id": learner, "school_id": school,
            "actor": ENGINE, "demonstrated_at": latest, "payload": basis,
        })
    for event, outcome in zip(events, ledger.post([json.dumps(e) for e in events])):
        if outcome.status == "rejected":
            run.rejected.append(f"{event['learner_id']} {event['payload']['course_id']}: {outcome.rejection}")
        else:
            run.proposed.append({"learner_id": event["learner_id"], "course_id": event["payload"]["course_id"],
                                 "proposal_event_id": event["event_id"], "status": outcome.status})
    return run


def _latest(ledger: Ledger, learner: str, course: str, type_: str) -> dict[str, Any] | None:
    found = [e.event for e in ledger.learner_events(learner)
             if e.event["type"] == type_ and e.event["payload"]["course_id"] == course]
    return found[-1] if found else None


def approve(ledger: Ledger, learner: str, course: str, registrar: str) -> dict[str, Any]:
    """Record `credit.awarded` from the learner's latest proposal for `course`."""
    proposal = _latest(ledger, learner, course, "credit.proposed")
    if proposal is None:
        raise CreditError(f"no credit proposal for {learner} in {course}; run `ledger credit propose` first")
    existing = [e.event for e in ledger.learner_events(learner) if e.event["type"] == "credit.awarded"
                and e.event["payload"]["proposal_event_id"] == proposal["event_id"]]
    if existing:  # approving twice records nothing new
        return {"credit_event_id": existing[0]["event_id"], "status": "duplicate",
                **{k: existing[0]["payload"][k] for k in ("course_id", "credits", "approved_by")}}
    award = {
        "event_id": str(uuid.uuid5(_NAMESPACE, f"award:{proposal['event_id']}")),
        "type": "credit.awarded", "schema_version": 1, "learner_id": learner,
        "school_id": proposal["school_id"], "actor": {"id": registrar, "role": "registrar"},
        "demonstrated_at": datetime.now(timezone.utc).isoformat(),
        "payload": {**proposal["payload"], "proposal_event_id": proposal["event_id"], "approved_by": registrar},
    }
    outcome = _post(ledger, award)
    if outcome.status == "rejected":
        raise CreditError(f"the ledger refused the award: {outcome.rejection}")
    return {"credit_event_id": award["event_id"], "status": outcome.status, **{
        k: award["payload"][k] for k in ("course_id", "credits", "approved_by")}}


def revoke(ledger: Ledger, learner: str, course: str, registrar: str, reason: str) -> dict[str, Any]:
    award = _latest(ledger, learner, course, "credit.awarded")
    if award is None:
        raise CreditError(f"{learner} holds no awarded credit in {course}")
    revocation = {
        "event_id": str(uuid.uuid5(_NAMESPACE, f"revoke:{award['event_id']}")),
        "type": "credit.revoked", "schema_version": 1, "learner_id": learner, "school_id": award["school_id"],
        "actor": {"id": registrar, "role": "registrar"}, "demonstrated_at": datetime.now(timezone.utc).isoformat(),
        "payload": {"credit_event_id": award["event_id"], "reason": reason},
    }
    outcome = _post(ledger, revocation)
    if outcome.status == "rejected":
        raise CreditError(f"the ledger refused the revocation: {outcome.rejection}")
    return {"credit_event_id": award["event_id"], "revocation_event_id": revocation["event_id"],
            "status": outcome.status}
