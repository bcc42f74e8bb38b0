"""A registrar's review of a flagged award: does the rule still hold once the voided evidence is
taken out, and has a registrar confirmed the award since the last thing that flagged it?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.credit.derive import instant, reevaluate


def credit_review(stream: Sequence[Any], decision: Any, catalog_events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """For the audit. `stream`: the learner's logged events (with `position` in stream order and
    `event`); `decision`: the award or proposal among them; `catalog_events`: the catalogue's
    event dicts in order."""
    from ledger.invariants import Catalog

    basis, decided = decision.event["payload"], decision.event
    cited = {str(i) for i in basis["evidence_event_ids"]}
    voids_after = [e for e in stream if e.event["type"] == "evidence.voided" and e.position > decision.position
                   and e.event["payload"]["voided_event_id"] in cited]
    rule_changes = [e for e in catalog_events if e["type"] == "course.defined"
                    and e["payload"]["course_id"] == basis["course_id"]
                    and e["payload"]["credit_rule"]["version"] > basis["rule"]["version"]]
    catalog = Catalog()
    for e in catalog_events:
        catalog.apply(e)
    re_evaluation = None
    if voids_after:
        voided = {e.event["payload"]["voided_event_id"] for e in stream if e.event["type"] == "evidence.voided"}
        result = reevaluate(basis, voided, catalog)
        re_evaluation = {"holds": result.satisfied, "reason": result.reason,
                         "line": f"{'still holds' if result.satisfied else 'no longer holds'}: {result.reason} "
                                 f"(with {len(voids_after)} voided piece(s) of evidence removed)"}
    causes = [instant(e.event["recorded_at"]) for e in voids_after] + [instant(e["recorded_at"]) for e in rule_changes]
    confirmations = []
    for e in stream:
        if e.event["type"] == "credit.confirmed" and e.event["payload"]["credit_event_id"] == decided["event_id"]:
            at = instant(e.event["recorded_at"])
            confirmations.append({"event_id": e.event["event_id"], "confirmed_by": e.event["actor"]["id"],
                                  "note": e.event["payload"].get("note"), "recorded_at": e.event["recorded_at"],
                                  "after_every_flag": all(at > cause for cause in causes)})
    return {"re_evaluation": re_evaluation, "confirmations": confirmations,
            "confirmed": bool(causes) and any(c["after_every_flag"] for c in confirmations)}
