"""The basis of a credit as the log gives it: each competency's official state from the learner's
recorded evidence, the course's rule evaluated on those states, and the events that satisfied it.

This is the one derivation the ledger trusts. The official projections compute the same states
(tests/integration/test_credit_derivation.py compares them) but a read model is never evidence:
the recording-time check, `ledger verify` and the credit engine all derive here from the log.

Official states, as the projections define them: the evidence scored for a competency
(`assessment.recorded` scores, `artifact.scored` levels), voided events left out, in
demonstration order (ties in log order), under the competency's official method — its own
method in the framework, else the method of the first course (by id) that lists it, else the
default — against its framework's mastery threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.credit.rules import RuleResult, evaluate_rule
from ledger.mastery import DEFAULT_METHOD, mastered_since, trajectory
from ledger.partners import counts_from, is_external

if TYPE_CHECKING:
    from ledger.invariants import Catalog


class Entry(NamedTuple):
    """One recorded event of a learner's stream. `position` is its global log position, or None
    where it is not known (deciding whether to record an event: it is not in the log yet)."""

    position: int | None
    hash: str
    event: dict[str, Any]


@dataclass(frozen=True)
class State:
    competency_id: str
    level: float | None
    mastered: bool
    method: dict[str, Any]
    evidence: list[dict[str, Any]]  # the counted score events, in demonstration order
    mastered_since: str | None = None  # demonstrated_at of the piece from which mastery has held


@dataclass(frozen=True)
class Derivation:
    course_id: str
    result: RuleResult
    basis: dict[str, Any]  # in the shape of a CreditBasis, whether or not the rule is satisfied
    states: dict[str, State]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def utc_text(value: str) -> str:
    """A demonstrated_at as the decisions record it (UTC, ISO 8601)."""
    return instant(value).astimezone(timezone.utc).isoformat()


def official_methods(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """competency id -> its official method, for every competency of a published framework."""
    inherited: dict[str, dict[str, Any]] = {}
    for course_id in sorted(catalog.courses, reverse=True):  # the first course by id wins
        course = catalog.courses[course_id]
        for c in course["competencies"]:
            inherited[c] = course["mastery_method"]
    out = {}
    for c in catalog.competencies:
        method = catalog.methods.get(c) or inherited.get(c) or DEFAULT_METHOD
        out[c] = {"name": method["name"], "params": dict(method.get("params") or {})}
    return out


def _scores(event: dict[str, Any]) -> list[tuple[str, float]]:
    p = event["payload"]
    if event["type"] == "assessment.recorded":
        return [(p["competency_id"], float(p["score"]))]
    if event["type"] == "artifact.scored":
        return [(c, float(level)) for c, level in p["levels"].items()]
    return []


def voided_ids(entries: Sequence[Entry]) -> set[str]:
    return {e.event["payload"]["voided_event_id"] for e in entries if e.event["type"] == "evidence.voided"}


def competency_states(entries: Sequence[Entry], catalog: Catalog, *, only: set[str] | None = None,
                      methods: dict[str, dict[str, Any]] | None = None,
                      voided: set[str] | None = None) -> dict[str, State]:
    """The official state of every competency (or of `only`) with counted evidence in `entries`
    (one learner's events in log order)."""
    voided = voided_ids(entries) if voided is None else voided
    methods = official_methods(catalog) if methods is None else methods
    scored: dict[str, list[tuple[datetime, int, dict[str, Any]]]] = {}
    # External (partner) scores count from their approving sign-off: at its place in the log,
    # and in demonstration order at the later of the two times (ledger.partners).
    external = counts_from([entry.event for entry in entries], voided)
    for index, entry in enumerate(entries):
        e = entry.event
        if e["type"] not in ("assessment.recorded", "artifact.scored") or e["event_id"] in voided:
            continue
        at, place = instant(e["demonstrated_at"]), index
        if is_external(e):
            if e["event_id"] not in external:
                continue
            place, counted_at = external[e["event_id"]]
            at = instant(counted_at)
        for competency, score in _scores(e):
            if (only is not None and competency not in only) or competency not in methods:
                continue
            scored.setdefault(competency, []).append((at, place, {
                "event_id": e["event_id"], "hash": entry.hash, "position": entry.position, "type": e["type"],
                "demonstrated_at": utc_text(e["demonstrated_at"]), "score": score}))
    states = {}
    for competency, rows in scored.items():
        rows.sort(key=lambda row: (row[0], row[1]))
        items = [item for _, _, item in rows]
        scale = catalog.scale_of(competency)
        estimates = trajectory(methods[competency], [i["score"] for i in items], float(scale.mastery_threshold))
        since = mastered_since(estimates)
        states[competency] = State(competency, estimates[-1].level, estimates[-1].mastered, methods[competency],
                                   items, rows[since][0].astimezone(timezone.utc).isoformat() if since is not None else None)
    return states


def _sign_offs(entries: Sequence[Entry], voided: set[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        e = entry.event
        if e["type"] == "advisor.signed_off" and e["event_id"] not in voided:
            out.setdefault(e["payload"]["subject_event_id"], []).append({
                "event_id": e["event_id"], "hash": entry.hash, "position": entry.position,
                "type": "advisor.signed_off", "demonstrated_at": utc_text(e["demonstrated_at"]),
                "actor_id": e["actor"]["id"], "decision": e["payload"]["decision"]})
    return out


def derive_basis(entries: Sequence[Entry], catalog: Catalog, course_id: str, log_position: int) -> Derivation:
    """What a credit in `course_id` rests on, from `entries` (the learner's events up to the
    decision's log position, in log order) under the course's definition in `catalog`."""
    course = catalog.courses[course_id]
    competencies = list(course["competencies"])
    methods = official_methods(catalog)
    voided = voided_ids(entries)
    states = competency_states(entries, catalog, only=set(competencies), methods=methods, voided=voided)
    result = evaluate_rule(course["credit_rule"], competencies, {c: s.mastered for c, s in states.items()})
    sign_offs = _sign_offs(entries, voided)
    out, evidence_ids = [], []
    for c in competencies:
        state = states.get(c)
        items = state.evidence if state else []
        counted = c in result.counted
        if counted:
            evidence_ids += [i["event_id"] for i in items if i["event_id"] not in evidence_ids]
        method = methods.get(c) or {"name": course["mastery_method"]["name"],
                                    "params": dict(course["mastery_method"].get("params") or {})}
        out.append({"competency_id": c, "level": state.level if state else None,
                    "mastered": bool(state and state.mastered), "counted": counted, "method": method,
                    "evidence": items, "sign_offs": [s for i in items for s in sign_offs.get(i["event_id"], [])]})
    basis = {"course_id": course_id, "credits": course["credits"], "rule": course["credit_rule"],
             "competency_states": out, "evidence_event_ids": evidence_ids, "log_position": log_position}
    return Derivation(course_id, result, basis, states)


def reevaluate(basis: dict[str, Any], voided: set[str], catalog: Catalog) -> RuleResult:
    """Whether a recorded decision's rule still holds once `voided` evidence is taken out: each
    competency recomputed from its remaining basis evidence under the method the decision
    recorded, the recorded rule evaluated on the result."""
    mastered = {}
    for state in basis["competency_states"]:
        items = [i for i in state["evidence"] if str(i["event_id"]) not in voided]
        if len(items) == len(state["evidence"]):
            mastered[state["competency_id"]] = state["mastered"]
            continue
        scale = catalog.scale_of(state["competency_id"])
        if not items or scale is None:
            mastered[state["competency_id"]] = False
            continue
        estimates = trajectory(state["method"], [float(i["score"]) for i in items], float(scale.mastery_threshold))
        mastered[state["competency_id"]] = estimates[-1].mastered
    return evaluate_rule(basis["rule"], [s["competency_id"] for s in basis["competency_states"]], mastered)
