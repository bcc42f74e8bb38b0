"""The credit engine: proposes credits whose rules the learners' records satisfy, and records
a registrar's approval, confirmation or revocation. Everything is posted through the ledger's
one path, which derives each basis again before recording it.

Rows in DuckDB are never evidence: the read models only say which learners to look at; every
basis is derived from the learner's events in the log (`ledger.credit.derive`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from ledger.application import Ledger, Outcome
from ledger.credit import evaluate_rule
from ledger.credit.derive import Entry, derive_basis, reevaluate, voided_ids
from ledger.credit.log import catalog_now, learner_log
from projections import official

ENGINE = {"id": "credit-engine", "role": "ledger_service"}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mastery-ledger:credit")
_LEARNERS_PER_ROUND = 200  # learners whose records are read before one head position is taken


class CreditError(Exception):
    pass


@dataclass
class ProposalRun:
    proposed: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    # Candidates the read models showed whose records do not satisfy the rule: stale or edited
    # projections. Nothing is proposed for them.
    skipped: list[str] = field(default_factory=list)


def _post(ledger: Ledger, event: dict[str, Any]) -> Outcome:
    [outcome] = ledger.post([json.dumps(event)])
    return outcome


def propose(ledger: Ledger, projections: Path, *, limit: int | None = None) -> ProposalRun:
    """Record a `credit.proposed` for every learner × course whose rule the learner's record
    satisfies and that has no open proposal or standing award yet (for the first `limit`
    learners only, if given). Run it after `ledger project`: the projections say where to look."""
    with official.connect(projections, read_only=True) as con:
        return propose_from(ledger, con, limit=limit)


def _candidates(con: duckdb.DuckDBPyConnection, limit: int | None) -> dict[str, list[str]]:
    """learner -> courses whose rule the projected states satisfy (only where to look)."""
    open_ = {(l, c) for l, c in con.execute(
        "SELECT learner_id, course_id FROM credit_audit WHERE status <> 'revoked'").fetchall()}
    courses = [(c, list(competencies), json.loads(rule)) for c, competencies, rule in con.execute(
        "SELECT course_id, competencies, credit_rule FROM course ORDER BY course_id").fetchall()]
    learners = [l for (l,) in con.execute("SELECT learner_id FROM learner ORDER BY learner_id LIMIT ?",
                                          [limit if limit is not None else 2**62]).fetchall()]
    mastered = {l: dict.fromkeys(cs, True) for l, cs in con.execute(
        "SELECT learner_id, list(competency_id) FROM competency_state WHERE mastered GROUP BY learner_id").fetchall()}
    out: dict[str, list[str]] = {}
    for learner in learners:
        done = mastered.get(learner, {})
        for course, competencies, rule in courses:
            if (learner, course) not in open_ and evaluate_rule(rule, competencies, done).satisfied:
                out.setdefault(learner, []).append(course)
    return out


def _open_in_log(entries: list[Entry], course: str, rule_version: int) -> bool:
    """Whether the learner's record already holds a standing award, or a proposal still
    awaiting a registrar, for this course and rule version."""
    voided = voided_ids(entries)
    revoked = {e.event["payload"]["credit_event_id"] for e in entries if e.event["type"] == "credit.revoked"}
    awarded = {e.event["payload"]["proposal_event_id"] for e in entries if e.event["type"] == "credit.awarded"}
    for e in entries:
        ev, p = e.event, e.event["payload"]
        if ev["type"] not in ("credit.proposed", "credit.awarded") or p["course_id"] != course:
            continue
        if ev["type"] == "credit.awarded" and ev["event_id"] not in revoked:
            return True
        if ev["type"] == "credit.proposed" and ev["event_id"] not in awarded and p["rule"]["version"] == rule_version \
                and not voided & set(p["evidence_event_ids"]):
            return True
    return False


def _proposal(learner: str, entries: list[Entry], basis: dict[str, Any]) -> dict[str, Any]:
    # The school the learner is at now: after a transfer the new one records (the old one is refused).
    school = [e.event["school_id"] for e in entries if e.event["type"] in ("learner.enrolled", "learner.transferred")][-1]
    latest = max((i["demonstrated_at"] for s in basis["competency_states"] for i in s["evidence"]),
                 key=datetime.fromisoformat)
    # Named by what it rests on, so proposing the same basis twice records it once.
    digest = hashlib.sha256(",".join(basis["evidence_event_ids"]).encode()).hexdigest()[:32]
    return {"event_id": str(uuid.uuid5(_NAMESPACE, f"proposal:{learner}:{basis['course_id']}:"
                                                   f"{basis['rule']['version']}:{digest}")),
            "type": "credit.proposed", "schema_version": 1, "learner_id": learner, "school_id": school,
            "actor": ENGINE, "demonstrated_at": latest, "payload": basis}


def propose_from(ledger: Ledger, con: duckdb.DuckDBPyConnection, *, limit: int | None = None) -> ProposalRun:
    """`propose`, on read models already open (a server holds its own)."""
    run = ProposalRun()
    candidates = _candidates(con, limit)
    catalog = catalog_now(ledger)
    learners = sorted(candidates)
    for start in range(0, len(learners), _LEARNERS_PER_ROUND):
        part = learners[start:start + _LEARNERS_PER_ROUND]
        records = {learner: learner_log(ledger, learner) for learner in part}
        # Taken after the records were read, so every event they hold is at or before it.
        head = ledger.head_position()
        events = []
        for learner in part:
            entries = records[learner]
            for course in candidates[learner]:
                if course not in catalog.courses:
                    continue
                derived = derive_basis(entries, catalog, course, head)
                if not derived.result.satisfied or not derived.basis["evidence_event_ids"]:
                    run.skipped.append(f"{learner} {course}: the projections show the rule satisfied, the log does "
                                       f"not ({derived.result.reason}); nothing proposed")
                    continue
                if not _open_in_log(entries, course, derived.basis["rule"]["version"]):
                    events.append(_proposal(learner, entries, derived.basis))
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


def reevaluation(ledger: Ledger, learner: str, award: dict[str, Any]) -> tuple[bool, str]:
    """Whether the award's rule still holds with every evidence voided since taken out."""
    entries = learner_log(ledger, learner)
    result = reevaluate(award["payload"], voided_ids(entries), catalog_now(ledger))
    return result.satisfied, result.reason


def confirm(ledger: Ledger, learner: str, course: str, registrar: str, note: str | None = None) -> dict[str, Any]:
    """Record a registrar's review of the learner's award in `course` (`credit.confirmed`): the
    flag clears only if the rule still holds once the voided evidence is taken out."""
    award = _latest(ledger, learner, course, "credit.awarded")
    if award is None:
        raise CreditError(f"{learner} holds no awarded credit in {course}")
    holds, reason = reevaluation(ledger, learner, award)
    if not holds:
        raise CreditError(f"re-evaluated with the voided evidence removed, the rule no longer holds ({reason}): "
                          f"revoke the credit instead (`ledger credit revoke {learner} {course}`)")
    stream = ledger.learner_events(learner)
    # One confirmation per state of the record: confirming again what was reviewed is a duplicate.
    reviewed = sum(e.event["type"] == "evidence.voided" for e in stream)
    event_id = str(uuid.uuid5(_NAMESPACE, f"confirm:{award['event_id']}:{reviewed}:{registrar}"))
    if any(e.event["event_id"] == event_id for e in stream):  # confirming twice records nothing new
        return {"credit_event_id": award["event_id"], "confirmation_event_id": event_id, "status": "duplicate",
                "re_evaluation": f"still holds: {reason}", "confirmed_by": registrar}
    confirmation = {
        "event_id": event_id,
        "type": "credit.confirmed", "schema_version": 1, "learner_id": learner, "school_id": award["school_id"],
        "actor": {"id": registrar, "role": "registrar"}, "demonstrated_at": datetime.now(timezone.utc).isoformat(),
        "payload": {"credit_event_id": award["event_id"], "still_holds": True, **({"note": note} if note else {})},
    }
    outcome = _post(ledger, confirmation)
    if outcome.status == "rejected":
        raise CreditError(f"the ledger refused the confirmation: {outcome.rejection}")
    return {"credit_event_id": award["event_id"], "confirmation_event_id": confirmation["event_id"],
            "status": outcome.status, "re_evaluation": f"still holds: {reason}", "confirmed_by": registrar}
