"""Credit rules: data on the course (`all_mastered`, `n_of_m`, `points` with required
competencies, as Moodle's course completion does), each versioned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
