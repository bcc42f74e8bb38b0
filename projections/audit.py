"""The registrar's audit of one credit: built from the store itself, not from a read model,
so what it shows is what the hash chain vouches for."""

from __future__ import annotations

from typing import Any

from ledger.proofs import decision_anchor
from ledger.application import Ledger
from ledger.canonical import GENESIS, chain_hash
from ledger.credit.review import credit_review
from ledger.streams import CATALOG_KEY

CREDIT_TYPES = ("credit.proposed", "credit.awarded", "credit.revoked", "credit.confirmed")


class AuditError(Exception):
    pass


def _chain_problems(stream: list) -> dict[str, str]:
    """event id -> problem, for the events of one stream whose link does not verify."""
    problems, previous = {}, GENESIS
    for logged in stream:
        if chain_hash(previous, logged.body) != logged.hash:
            problems[logged.event["event_id"]] = "its stored content does not match its hash: it was altered"
        previous = logged.hash
    return problems


def build_audit(ledger: Ledger, learner: str, course_id: str) -> dict[str, Any]:
    stream = ledger.learner_events(learner)
    if not stream:
        raise AuditError(f"no events for learner {learner!r}")
    catalog = [e.event for e in ledger.stream_events(CATALOG_KEY)]
    definitions = [e["payload"] for e in catalog if e["type"] == "course.defined" and e["payload"]["course_id"] == course_id]
    if not definitions:
        raise AuditError(f"course {course_id!r} has not been defined")
    titles = {c["id"]: c["title"] for e in catalog if e["type"] == "framework.published"
              for c in e["payload"]["competencies"]}
    case_ids = {c["id"]: c.get("case_guid") for e in catalog if e["type"] == "framework.published"
                for c in e["payload"]["competencies"]}
    by_id = {e.event["event_id"]: e for e in stream}
    credits = [e for e in stream if e.event["type"] in CREDIT_TYPES
               and (e.event["payload"].get("course_id") == course_id
                    or by_id.get(e.event["payload"].get("credit_event_id", ""), e).event["payload"].get("course_id")
                    == course_id)]
    awards = [e for e in credits if e.event["type"] == "credit.awarded"]
    proposals = [e for e in credits if e.event["type"] == "credit.proposed"]
    decision_event = awards[-1] if awards else (proposals[-1] if proposals else None)
    if decision_event is None:
        raise AuditError(f"{learner} has no credit decision or proposal for {course_id}")
    decision = decision_event.event
    basis = decision["payload"]
    voids = {e.event["payload"]["voided_event_id"]: e for e in stream if e.event["type"] == "evidence.voided"}
    chain = _chain_problems(stream)

    flags = []
    for evidence_id in basis["evidence_event_ids"]:
        void = voids.get(str(evidence_id))
        if void is not None and void.position > decision_event.position:
            flags.append(f"evidence {evidence_id} was voided after the decision "
                         f"({void.event['recorded_at']}): {void.event['payload']['reason']}")
    newer_rules = [d for d in definitions if d["credit_rule"]["version"] > basis["rule"]["version"]]
    if newer_rules:
        flags.append(f"the course's credit rule changed to version {newer_rules[-1]['credit_rule']['version']} "
                     "after the decision")
    revocations = [e.event for e in credits if e.event["type"] == "credit.revoked"
                   and e.event["payload"]["credit_event_id"] == decision["event_id"]]
    # Re-evaluated with the voids applied, and any registrar's confirmation (ledger.credit.review).
    review = credit_review(stream, decision_event, catalog) if decision["type"] == "credit.awarded" else None
    if decision["type"] == "credit.proposed":
        status = "proposed (awaiting a registrar)"
    elif revocations:
        status = "revoked"
    elif flags and review is not None and review["confirmed"]:
        status = "awarded (confirmed after review)"
    elif flags:
        status = "flagged for review"
    else:
        status = "awarded"

    problems = []
    competencies = []
    sources = recorded_by(stream)
    for state in basis["competency_states"]:
        counted_ids = {i["event_id"] for i in state["evidence"]}
        evidence = []
        for item in state["evidence"] + state["sign_offs"]:
            stored = by_id.get(item["event_id"])
            row = {**item, "recorded_at": stored.event["recorded_at"] if stored else None,
                   "stored_hash": stored.hash if stored else None, **sources.get(item["event_id"], {})}
            if stored is None:
                problems.append(f"basis event {item['event_id']} is not in {learner}'s stream")
            elif stored.hash != item["hash"]:
                problems.append(f"basis event {item['event_id']} is stored with another hash than the decision's")
            if item["event_id"] in chain:
                problems.append(f"basis event {item['event_id']}: {chain[item['event_id']]}")
            statement = _xapi_statement(stored, by_id)
            if statement is not None:
                row["xapi"] = statement
            evidence.append(row)
        voided = []
        for target, void in voids.items():
            original = by_id.get(target)
            if original is None:
                continue
            p = original.event["payload"]
            touches = p.get("competency_id") == state["competency_id"] or state["competency_id"] in p.get("levels", {})
            if touches or target in counted_ids:
                voided.append({"event_id": target, "type": original.event["type"],
                               "score": p.get("score", p.get("levels", {}).get(state["competency_id"])),
                               "voided_by": void.event["event_id"], "voided_at": void.event["recorded_at"],
                               "reason": void.event["payload"]["reason"],
                               "after_decision": void.position > decision_event.position})
        competencies.append({**state, "title": titles.get(state["competency_id"]),
                             "case_guid": case_ids.get(state["competency_id"]), "evidence": evidence,
                             "voided": voided})
    if decision_event.event["event_id"] in chain:
        problems.append(f"the decision event itself: {chain[decision_event.event['event_id']]}")

    relevant = {s["competency_id"] for s in basis["competency_states"]}
    timeline = []
    for e in stream:
        ev, p = e.event, e.event["payload"]
        hit = (ev["type"] in CREDIT_TYPES and e in credits) or p.get("competency_id") in relevant \
            or bool(relevant & set(p.get("levels", {}))) or bool(relevant & set(p.get("competencies_claimed", []))) \
            or ev["type"] in ("learner.enrolled", "advisor.assigned") \
            or (ev["type"] in ("evidence.voided", "advisor.signed_off")
                and (p.get("voided_event_id") in by_id or p.get("subject_event_id") in by_id))
        if hit:
            timeline.append({"recorded_at": ev["recorded_at"], "demonstrated_at": ev["demonstrated_at"],
                             "type": ev["type"], "event_id": ev["event_id"], "actor": ev["actor"]["id"],
                             "hash": e.hash})
    checked = sum(len(s["evidence"]) + len(s["sign_offs"]) for s in basis["competency_states"]) + 1
    # The proofs travel with the audit: a holder checks them with only the ledger's public key.
    anchor = decision_anchor(ledger, decision)
    if anchor.get("unavailable") and not anchor.get("pending"):
        problems.append(f"the decision cannot be proven against its signed checkpoint: {anchor['unavailable']}")
    return {
        "learner_id": learner,
        "school_id": sources.get("", {}).get("school_id"),
        "course": {"course_id": course_id, "title": definitions[-1]["title"], "credits": definitions[-1]["credits"],
                   "current_rule": definitions[-1]["credit_rule"]},
        "decision": {"status": status, "type": decision["type"], "event_id": decision["event_id"],
                     "hash": decision_event.hash,
                     "recorded_at": decision["recorded_at"], "approved_by": basis.get("approved_by"),
                     "proposal_event_id": basis.get("proposal_event_id"), "credits": basis["credits"],
                     "rule": basis["rule"], "log_position": basis["log_position"], "flags": flags, "review": review,
                     "revocations": [{"event_id": r["event_id"], "reason": r["payload"]["reason"],
                                      "recorded_at": r["recorded_at"]} for r in revocations]},
        "evidence_event_ids": [str(i) for i in basis["evidence_event_ids"]],
        "competencies": competencies,
        "timeline": timeline,
        "anchor": anchor,
        "verification": {"ok": not problems, "checked": checked, "problems": problems,
                         "line": (f"VERIFIED: {checked} hashes in the basis recomputed against {learner}'s stored chain"
                                  if not problems else f"FAILED: {problems[0]}")},
    }


def anchor_line(anchor: dict[str, Any] | None) -> str:
    if not anchor or anchor.get("unavailable"):
        return "NOT ANCHORED: " + ((anchor or {}).get("unavailable") or "made before signed checkpoints")
    cp = anchor["checkpoint"]
    return (f"ANCHORED: {len(anchor['proofs'])} inclusion proofs against the checkpoint of {cp['tree_size']} events "
            f"signed at {cp['time']} (key {cp['key_id'][:16]}…); check with `ledger verify-proof` and the public key")


def render_text(audit: dict[str, Any]) -> str:
    d, c = audit["decision"], audit["course"]
    lines = [f"Credit audit: {audit['learner_id']} in {c['course_id']} ({c['title']})",
             f"Decision: {d['status']}; {d['credits']} credit(s); {d['type']} {d['event_id']} at {d['recorded_at']}"
             + (f", approved by {d['approved_by']}" if d["approved_by"] else ""),
             f"Rule: {_rule_text(d['rule'])} (version {d['rule']['version']}); states as of log position "
             f"{d['log_position']}"]
    lines += [f"FLAG: {flag}" for flag in d["flags"]]
    review = d.get("review") or {}
    if review.get("re_evaluation"):
        lines.append(f"Re-evaluated: {review['re_evaluation']['line']}")
    lines += [f"CONFIRMED by {k['confirmed_by']} at {k['recorded_at'][:19]}" + (f": {k['note']}" if k["note"] else "")
              for k in review.get("confirmations", [])]
    lines += [f"REVOKED: {r['reason']} ({r['event_id']})" for r in d["revocations"]]
    for comp in audit["competencies"]:
        level = f"{comp['level']:.2f}" if comp["level"] is not None else "-"
        lines.append(f"\n{comp['competency_id']} {comp['title'] or ''}: level {level}, "
                     f"{'mastered' if comp['mastered'] else 'not mastered'}, "
                     f"{'counted' if comp['counted'] else 'not counted'}; method {comp['method']['name']} "
                     f"{comp['method']['params']}")
        for e in comp["evidence"]:
            what = f"score {e['score']}" if e.get("score") is not None else f"{e.get('decision')} by {e.get('actor_id')}"
            lines.append(f"  {e['type']:<20} {e['event_id']}  {e['demonstrated_at'][:10]}  {what}  "
                         f"pos {e['position']}  {e['hash'][:16]}…")
            if e.get("source_line"):
                lines.append(f"    {e['source_line']}")
            if e.get("xapi"):
                x = e["xapi"]
                lines.append(f"    xAPI {x['statement_id']}: {x['verb']} {x['activity']} result {x['result']} "
                             f"from LMS {x['lms']}")
        for v in comp["voided"]:
            lines.append(f"  VOIDED {v['type']} {v['event_id']} (score {v['score']}) at {v['voided_at'][:19]}: "
                         f"{v['reason']}")
    lines.append("\nTimeline:")
    lines += [f"  {t['recorded_at'][:19]}  {t['type']:<22} {t['event_id']}  by {t['actor']}" for t in audit["timeline"]]
    lines.append("\n" + audit["verification"]["line"])
    lines.append(anchor_line(audit.get("anchor")))
    lines += [f"  problem: {p}" for p in audit["verification"]["problems"][1:]]
    return "\n".join(lines)


def recorded_by(stream: list) -> dict[str, dict[str, Any]]:
    """event id -> who recorded it: the school (and whether it is a former school of the
    learner's, after a transfer) and, for a partner's external evidence, the partner and the
    school that linked it. Key "" holds the learner's school now."""
    current, linked, out = None, {}, {}
    for logged in stream:
        e = logged.event
        if e["type"] in ("learner.enrolled", "learner.transferred"):
            current = e["school_id"]
        elif e["type"] == "partner.linked":
            linked[e["payload"]["partner_id"]] = e["school_id"]
        row: dict[str, Any] = {"recorded_by_school": e["school_id"]}
        if e["actor"]["role"] == "partner":
            row.update(external=True, partner_id=e["actor"]["id"], linked_by_school=linked.get(e["actor"]["id"]))
        out[e["event_id"]] = row
    for row in out.values():
        row["former_school"] = row["recorded_by_school"] != current
        row["source_line"] = (f"recorded by school {row['recorded_by_school']}"
                              + (" (a former school: before the transfer)" if row["former_school"] else "")
                              + (f"; EXTERNAL evidence from partner {row['partner_id']}, linked by school "
                                 f"{row['linked_by_school']}" if row.get("external") else ""))
    out[""] = {"school_id": current}
    return out


def _rule_text(rule: dict[str, Any]) -> str:
    if rule["kind"] == "all_mastered":
        text = "all course competencies mastered"
    elif rule["kind"] == "n_of_m":
        text = f"at least {rule['n']} of the course competencies mastered"
    else:
        text = f"at least {rule['min_points']:g} points from mastered competencies"
    if rule.get("required"):
        text += f", including {', '.join(rule['required'])}"
    return text


def _xapi_statement(stored: Any, by_id: dict[str, Any]) -> dict[str, Any] | None:
    """The xAPI statement an assessment was derived from (xapi.evidence: source `xapi:<id>`, the
    statement itself an `xapi.statement` event on the same chain): what the LMS reported."""
    if stored is None or stored.event["type"] != "assessment.recorded":
        return None
    source = stored.event["payload"].get("source") or {}
    if not str(source.get("assessment_id", "")).startswith("xapi:"):
        return None
    event = by_id.get(source["assessment_id"].removeprefix("xapi:"))
    if event is None:
        return None
    p = event.event["payload"]
    return {"statement_id": p["statement_id"], "verb": p["verb"], "activity": p.get("activity"),
            "result": (p.get("statement") or {}).get("result"), "lms": p["lms"]}
