"""Credit rules, the basis of a credit decision, and checking that a basis still holds.

Rules are data on the course (`all_mastered`, `n_of_m`, `points` with required competencies, as
Moodle's course completion does), each versioned. A decision copies the rule, the method and
every state and evidence event it rests on, so nothing changed later can rewrite it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb

from projections.methods import trajectory


@dataclass(frozen=True)
class RuleResult:
    satisfied: bool
    counted: list[str]  # the competencies the rule counted towards the credit
    reason: str


def evaluate_rule(rule: dict[str, Any], competencies: list[str], mastered: dict[str, bool]) -> RuleResult:
    done = [c for c in competencies if mastered.get(c)]
    missing_required = [c for c in rule.get("required") or [] if not mastered.get(c)]
    if missing_required:
        return RuleResult(False, done, f"required competencies not mastered: {', '.join(missing_required)}")
    if rule["kind"] == "all_mastered":
        missing = [c for c in competencies if not mastered.get(c)]
        if missing:
            return RuleResult(False, done, f"not yet mastered: {', '.join(missing)}")
        return RuleResult(True, done, f"all {len(competencies)} competencies mastered")
    if rule["kind"] == "n_of_m":
        ok = len(done) >= rule["n"]
        return RuleResult(ok, done, f"{len(done)} of {len(competencies)} mastered, {rule['n']} needed")
    points = rule["points"]
    earned = sum(points.get(c, 0.0) for c in done)
    ok = earned >= rule["min_points"]
    return RuleResult(ok, done, f"{earned:g} points of {rule['min_points']:g} needed")


def basis_for(con: duckdb.DuckDBPyConnection, learner: str, course_id: str) -> dict[str, Any] | None:
    """The basis of a credit for `learner` in `course_id` if the rule is satisfied now, from
    the official projections; None if it is not."""
    course = con.execute("SELECT credits, competencies, credit_rule FROM course WHERE course_id = ?",
                         [course_id]).fetchall()
    if not course:
        return None
    credits, competencies, rule_json = course[0]
    rule = json.loads(rule_json)
    states = {c: (level, mastered, method, params) for c, level, mastered, method, params in con.execute(
        "SELECT competency_id, level, mastered, method, params FROM competency_state WHERE learner_id = ?",
        [learner]).fetchall()}
    result = evaluate_rule(rule, list(competencies), {c: s[1] for c, s in states.items()})
    if not result.satisfied:
        return None
    evidence = defaultdict(list)
    for c, event_id, hash_, position, type_, at, score in con.execute("""
            SELECT s.competency_id, s.event_id, e.hash, e.position, e.type, e.demonstrated_at, s.score
            FROM evidence_score s JOIN evidence e ON e.event_id = s.event_id AND e.learner_id = s.learner_id
            WHERE s.learner_id = ? AND e.learner_id = ? AND s.voided_at IS NULL
            ORDER BY s.demonstrated_at, s.position""", [learner, learner]).fetchall():
        evidence[c].append({"event_id": event_id, "hash": hash_, "position": position, "type": type_,
                            "demonstrated_at": at.isoformat(), "score": score})
    sign_offs = defaultdict(list)
    for subject, event_id, hash_, position, at, actor, detail in con.execute("""
            SELECT subject_event_id, event_id, hash, position, demonstrated_at, actor_id, detail FROM evidence
            WHERE learner_id = ? AND type = 'advisor.signed_off' AND NOT coalesce(voided, false)
            ORDER BY position""", [learner]).fetchall():
        sign_offs[subject].append({"event_id": event_id, "hash": hash_, "position": position,
                                   "type": "advisor.signed_off", "demonstrated_at": at.isoformat(),
                                   "actor_id": actor, "decision": json.loads(detail)["decision"]})
    states_out, evidence_ids = [], []
    for c in competencies:
        level, mastered, method, params = states.get(c, (None, False, None, "{}"))
        counted = c in result.counted
        items = evidence.get(c, [])
        if counted:
            evidence_ids += [e["event_id"] for e in items if e["event_id"] not in evidence_ids]
        method_name = method or json.loads(con.execute(
            "SELECT mastery_method FROM course WHERE course_id = ?", [course_id]).fetchall()[0][0])["name"]
        states_out.append({
            "competency_id": c, "level": level, "mastered": bool(mastered), "counted": counted,
            "method": {"name": method_name, "params": json.loads(params or "{}")},
            "evidence": items,
            "sign_offs": [s for e in items for s in sign_offs.get(e["event_id"], [])],
        })
    [(position,)] = con.execute("SELECT min(position) FROM projection_position").fetchall()
    return {"course_id": course_id, "credits": credits, "rule": rule, "competency_states": states_out,
            "evidence_event_ids": evidence_ids, "log_position": int(position or 0)}


def reproduce(basis: dict[str, Any], events_by_id: dict[str, tuple[int, str, dict[str, Any]]],
              thresholds: dict[str, float], voided_before: set[str]) -> list[str]:
    """Problems found re-deriving a recorded basis from the log (empty: it holds).

    `events_by_id`: event id -> (global position, stored hash, event) for the learner's events
    recorded before the decision; `voided_before`: ids voided before the decision."""
    problems = []
    for state in basis["competency_states"]:
        scores = []
        for item in state["evidence"] + state["sign_offs"]:
            found = events_by_id.get(item["event_id"])
            if found is None:
                problems.append(f"basis event {item['event_id']} is not in the log before the decision")
                continue
            position, stored_hash, _ = found
            if stored_hash != item["hash"]:
                problems.append(f"basis event {item['event_id']} has hash {stored_hash[:12]}… in the log, "
                                f"{item['hash'][:12]}… in the decision")
            if position != item["position"]:
                problems.append(f"basis event {item['event_id']} is at position {position}, "
                                f"not {item['position']} as the decision says")
            if item["event_id"] in voided_before:
                problems.append(f"basis event {item['event_id']} was voided before the decision")
        for item in state["evidence"]:
            if item["event_id"] in events_by_id:
                score = score_in(events_by_id[item["event_id"]][2], state["competency_id"])
                if score is not None:
                    scores.append(score)
        threshold = thresholds.get(state["competency_id"])
        if scores and threshold is not None:
            estimate = trajectory(state["method"], scores, threshold)[-1]
            if estimate.mastered != state["mastered"] or abs((estimate.level or 0) - (state["level"] or 0)) > 1e-9:
                problems.append(f"{state['competency_id']}: the evidence gives level {estimate.level:.4g} "
                                f"(mastered {estimate.mastered}), the decision says {state['level']} "
                                f"(mastered {state['mastered']})")
    mastered = {s["competency_id"]: s["mastered"] for s in basis["competency_states"]}
    result = evaluate_rule(basis["rule"], [s["competency_id"] for s in basis["competency_states"]], mastered)
    if not result.satisfied:
        problems.append(f"the recorded states do not satisfy the recorded rule: {result.reason}")
    return problems


def score_in(event: dict[str, Any], competency_id: str) -> float | None:
    p = event["payload"]
    if event["type"] == "assessment.recorded" and p["competency_id"] == competency_id:
        return float(p["score"])
    if event["type"] == "artifact.scored" and competency_id in p["levels"]:
        return float(p["levels"][competency_id])
    return None


@dataclass
class CreditCheck:
    awards: int = 0
    problems: list[dict[str, Any]] | None = None


def verify_credits(events_pages, altered: set[str]) -> CreditCheck:
    """Re-derive every recorded award from the log read in order (pages of LoggedEvent).

    `altered`: ids of events whose stored content fails its hash (from the chain check)."""
    check = CreditCheck(problems=[])
    thresholds: dict[str, float] = {}
    seen: dict[str, dict[str, tuple[int, str, dict[str, Any]]]] = defaultdict(dict)
    voided: dict[str, set[str]] = defaultdict(set)
    for page in events_pages:
        for logged in page:
            e = logged.event
            if e["type"] == "framework.published":
                threshold = float(e["payload"]["scale"]["mastery_threshold"])
                thresholds.update({c["id"]: threshold for c in e["payload"]["competencies"]})
                continue
            learner = e.get("learner_id")
            if learner is None:
                continue
            if e["type"] == "evidence.voided":
                voided[learner].add(e["payload"]["voided_event_id"])
            if e["type"] == "credit.awarded":
                check.awards += 1
                problems = reproduce(e["payload"], seen[learner], thresholds, voided[learner])
                basis_ids = {i["event_id"] for s in e["payload"]["competency_states"]
                             for i in s["evidence"] + s["sign_offs"]}
                problems += [f"basis event {i} fails its hash check: its stored content was altered"
                             for i in sorted(basis_ids & altered)]
                for problem in problems:
                    check.problems.append({"credit_event_id": e["event_id"], "learner_id": learner,
                                           "course_id": e["payload"]["course_id"], "problem": problem})
            seen[learner][e["event_id"]] = (logged.position, logged.hash, e)
    return check
