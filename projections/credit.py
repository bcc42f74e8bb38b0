"""Credit decisions as the read side sees them. The rules, the derivation of a basis from the
log and `ledger verify`'s re-derivation of every award live in the domain (`ledger.credit`);
this module keeps the names the projections and older callers import.
"""

from __future__ import annotations

from typing import Any

from ledger.credit.rules import RuleResult, evaluate_rule
from ledger.credit.verify import CreditCheck, verify_credits
from ledger.mastery import trajectory

__all__ = ["CreditCheck", "RuleResult", "evaluate_rule", "reproduce", "score_in", "verify_credits"]


def reproduce(basis: dict[str, Any], events_by_id: dict[str, tuple[int, str, dict[str, Any]]],
              thresholds: dict[str, float], voided_before: set[str]) -> list[str]:
    """Problems found checking a recorded basis against the events it cites (empty: it holds).

    It checks the basis against itself (its own rule and methods); `ledger.credit.verify`
    re-derives it from the log under the course's definition, which is what `verify` runs.

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
