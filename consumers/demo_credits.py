"""The credit part of `ledger demo`: propose, approve some, void evidence behind one, audit."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from consumers.credit_engine import approve, propose
from consumers.projector import run_projections
from ledger.application import Ledger
from projections import official
from projections.audit import build_audit
from projections.audit_html import render_html

REGISTRAR = "reg-district"


def award_and_audit(ledger: Ledger, projections: Path, audits: Path, approvals: int = 12) -> dict[str, Any]:
    run_projections(ledger, projections)
    proposals = propose(ledger, projections)
    run_projections(ledger, projections)
    with official.connect(projections, read_only=True) as con:
        pending = con.execute("SELECT learner_id, course_id FROM credit_audit WHERE kind = 'proposal' "
                              "ORDER BY learner_id, course_id LIMIT ?", [approvals]).fetchall()
    awards = [approve(ledger, learner, course, REGISTRAR) | {"learner_id": learner} for learner, course in pending]
    flagged = None
    if awards:
        # A teacher finds that one result behind the first award was entered for the wrong student.
        first = awards[0]
        award = next(e.event for e in ledger.learner_events(first["learner_id"])
                     if e.event["event_id"] == first["credit_event_id"])
        target = award["payload"]["evidence_event_ids"][0]
        evidence = next(e.event for e in ledger.learner_events(first["learner_id"]) if e.event["event_id"] == target)
        void = {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-void:{target}")), "type": "evidence.voided",
                "schema_version": 1, "learner_id": first["learner_id"], "school_id": evidence["school_id"],
                "actor": evidence["actor"], "demonstrated_at": award["recorded_at"],
                "payload": {"voided_event_id": target, "reason": "entered for the wrong student"}}
        [outcome] = ledger.post([json.dumps(void)])
        if outcome.rejection is not None:
            raise RuntimeError(f"the demo's void was refused: {outcome.rejection}")
        flagged = (first["learner_id"], first["course_id"])
    run_projections(ledger, projections)
    audits.mkdir(parents=True, exist_ok=True)
    reports = []
    for learner, course in ([flagged] if flagged else []) + [(a["learner_id"], a["course_id"]) for a in awards[1:2]]:
        audit = build_audit(ledger, learner, course)
        path = audits / f"audit-{learner}-{course}.html"
        path.write_text(render_html(audit), encoding="utf-8")
        reports.append({"learner_id": learner, "course_id": course, "status": audit["decision"]["status"],
                        "path": str(path)})
    return {"proposed": len(proposals.proposed), "awarded": len(awards), "flagged": flagged, "audits": reports}
