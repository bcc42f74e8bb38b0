"""What differs between a basis a decision claims and the basis the log gives: one short reason
per difference, each with the field it concerns, so a refusal names everything that is wrong."""

from __future__ import annotations

from typing import Any, NamedTuple

from ledger.credit.derive import Derivation, instant

_TOLERANCE = 1e-9


class Difference(NamedTuple):
    field: str
    reason: str


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {"kind": rule["kind"], "version": rule["version"], "n": rule.get("n"),
            "points": {k: float(v) for k, v in (rule.get("points") or {}).items()} or None,
            "min_points": None if rule.get("min_points") is None else float(rule["min_points"]),
            "required": sorted(rule.get("required") or [])}


def _rule_text(rule: dict[str, Any]) -> str:
    extra = {k: v for k, v in _rule(rule).items() if k not in ("kind", "version") and v not in (None, [])}
    return f"{rule['kind']} version {rule['version']}" + (f" {extra}" if extra else "")


def _method_text(method: dict[str, Any]) -> str:
    return f"{method['name']} {dict(method.get('params') or {})}"


def _same_number(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= _TOLERANCE * max(1.0, abs(float(b)))


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(i["event_id"]) for i in items]


def _items(where: str, claimed: list[dict[str, Any]], derived: list[dict[str, Any]], what: str,
           positions: bool) -> list[Difference]:
    claimed_ids, derived_ids = _ids(claimed), _ids(derived)
    out = []
    extra = [i for i in claimed_ids if i not in derived_ids]
    missing = [i for i in derived_ids if i not in claimed_ids]
    if extra:
        out.append(Difference(where, f"cites {what} the log does not count: {', '.join(extra)}"))
    if missing:
        out.append(Difference(where, f"leaves out {what} the log counts: {', '.join(missing)}"))
    if not extra and not missing and claimed_ids != derived_ids:
        out.append(Difference(where, f"lists its {what} out of demonstration order"))
    by_id = {str(i["event_id"]): i for i in derived}
    for item in claimed:
        truth = by_id.get(str(item["event_id"]))
        if truth is None:
            continue
        wrong = [k for k in ("hash", "type", "actor_id", "decision") if k in truth and truth[k] is not None
                 and item.get(k) != truth[k]]
        if "score" in truth and not _same_number(item.get("score"), truth["score"]):
            wrong.append("score")
        if instant(str(item["demonstrated_at"])) != instant(truth["demonstrated_at"]):
            wrong.append("demonstrated_at")
        if positions and truth["position"] is not None and item.get("position") != truth["position"]:
            wrong.append("position")
        if wrong:
            shown = ", ".join(f"{k} {item.get(k)!r} (the log: {truth[k]!r})" for k in wrong)
            out.append(Difference(where, f"event {item['event_id']}: {shown}"))
    return out


def differences(claimed: dict[str, Any], derived: Derivation, *, positions: bool) -> list[Difference]:
    """Every way `claimed` (a decision's payload) departs from `derived`. With `positions`, the
    log positions it cites are checked too (they are known once the events are in the log)."""
    truth = derived.basis
    out = []
    if not derived.result.satisfied:
        out.append(Difference("payload.competency_states",
                              f"the log does not satisfy course {truth['course_id']}'s rule: {derived.result.reason}"))
    if not _same_number(claimed["credits"], truth["credits"]):
        out.append(Difference("payload.credits",
                              f"credits {claimed['credits']:g} are not course {truth['course_id']}'s {truth['credits']:g}"))
    if _rule(claimed["rule"]) != _rule(truth["rule"]):
        out.append(Difference("payload.rule", f"rule {_rule_text(claimed['rule'])} is not the course's rule in force "
                                              f"({_rule_text(truth['rule'])})"))
    claimed_states = {s["competency_id"]: s for s in claimed["competency_states"]}
    course = [s["competency_id"] for s in truth["competency_states"]]
    listed = [s["competency_id"] for s in claimed["competency_states"]]
    if listed != course:
        out.append(Difference("payload.competency_states",
                              f"states are given for {', '.join(listed)}; course {truth['course_id']} has "
                              f"{', '.join(course)}"))
    for state in truth["competency_states"]:
        c = state["competency_id"]
        mine = claimed_states.get(c)
        if mine is None:
            continue
        where = f"payload.competency_states.{c}"
        method = {"name": mine["method"]["name"], "params": dict(mine["method"].get("params") or {})}
        if method != state["method"]:
            out.append(Difference(where + ".method", f"{c}: method {_method_text(method)} is not its official "
                                                     f"method {_method_text(state['method'])}"))
        if bool(mine["mastered"]) != state["mastered"] or not _same_number(mine["level"], state["level"]):
            level = "no evidence" if state["level"] is None else f"level {state['level']:.4g}"
            out.append(Difference(where, f"{c}: the log gives {level} (mastered {state['mastered']}), the basis says "
                                         f"level {mine['level']} (mastered {bool(mine['mastered'])})"))
        if bool(mine["counted"]) != state["counted"]:
            out.append(Difference(where + ".counted", f"{c}: counted is {bool(mine['counted'])}, the rule counts it: "
                                                      f"{state['counted']}"))
        out += _items(where + ".evidence", mine["evidence"], state["evidence"], "evidence", positions)
        out += _items(where + ".sign_offs", mine["sign_offs"], state["sign_offs"], "sign-offs", positions)
    claimed_ids = [str(i) for i in claimed["evidence_event_ids"]]
    if sorted(claimed_ids) != sorted(truth["evidence_event_ids"]) or len(set(claimed_ids)) != len(claimed_ids):
        out.append(Difference("payload.evidence_event_ids",
                              f"evidence_event_ids {', '.join(claimed_ids)} are not the counted evidence "
                              f"{', '.join(truth['evidence_event_ids']) or '(none)'}"))
    return out


def same_basis(award: dict[str, Any], proposal: dict[str, Any]) -> list[Difference]:
    """The basis fields in which an award departs from the proposal it approves."""
    keys = ("course_id", "credits", "rule", "competency_states", "evidence_event_ids", "log_position")
    return [Difference(f"payload.{k}", f"{k} differs from the proposal's") for k in keys
            if _canonical(award.get(k)) != _canonical(proposal.get(k))]


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return instant(value)
        except ValueError:
            return value
    return value


def summary(found: list[Difference]) -> str:
    return "; ".join(d.reason for d in found)
