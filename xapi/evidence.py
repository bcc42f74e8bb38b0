"""Statements as ledger events and as mastery evidence.

Which stream a statement lands in: a statement whose actor is an enrolled learner of the
sending key's school (an `account` whose `name` is the learner id; any homePage) is recorded
as an `xapi.statement` event on that learner's chain (event id = statement id, so the chain's
idempotency is the statement's), chained, verified and relayed like any event. Every other
statement is kept by the LRS alone (xapi.storage): it is about no one the ledger has a chain for.

Evidence: an aligned statement (its activity matches an alignment's IRI or prefix, or a
contextActivities id ends in the CASE GUID of a competency) becomes one `assessment.recorded`
per competency, event id uuid5(statement id, competency), demonstrated at the statement's
`timestamp` (recorded at its `stored` moment or later), source `xapi:<statement id>`.
Score onto the framework's scale [min, max]: `result.score.scaled` s in 0..1 as min + s(max-min)
(below 0: min); else raw within min..max linearly; else `result.success` alone: true = max,
false = min, unless the alignment names its own levels. No score and no success: not evidence.
Voiding a statement voids its assessments (`evidence.voided`), which flags credits on them."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.intake import parse
from ledger.learners import learner_facts
from ledger.reference_data import competencies as catalogue_competencies, frameworks
from ledger.streams import CATALOG_KEY
from xapi.storage import Storage

_NS = uuid5(NAMESPACE_URL, "urn:mastery-ledger:xapi-evidence")


class Alignments:
    """The alignment look-up: a read model of the catalogue's `xapi.alignment.posted` events
    (reference data, chained and verified like a framework), the latest per activity IRI. No
    table holds the only copy: it is read from the store each time a batch is recorded."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def all(self) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for stored in self.ledger.stream_events(CATALOG_KEY):
            if stored.event["type"] == "xapi.alignment.posted":
                p = stored.event["payload"]
                latest[p["activity"]] = {"activity": p["activity"], "prefix": bool(p.get("prefix")),
                                         "competencies": list(p["competencies"]), "kind": p.get("kind", "quiz"),
                                         "success_level": p.get("success_level"), "failure_level": p.get("failure_level")}
        return [latest[k] for k in sorted(latest)]

    def matching(self, activity_ids: list[str], known: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        return [a for a in (self.all() if known is None else known) if any(i == a["activity"] or (a["prefix"] and i.startswith(a["activity"]))
                                             for i in activity_ids)]


def learner_of(ledger: Any, statement: dict[str, Any], school_id: str | None) -> str | None:
    account = (statement.get("actor") or {}).get("account")
    name = account.get("name") if isinstance(account, dict) else None
    if not isinstance(name, str):
        return None
    facts = learner_facts(ledger, name)
    if not (facts.enrolled and facts.school_id == school_id):
        facts = learner_facts(ledger, name, fresh=True)  # another process may have just enrolled them
    return name if facts.enrolled and facts.school_id == school_id else None


def activities(statement: dict[str, Any]) -> list[str]:
    obj = statement.get("object") or {}
    ids = [obj["id"]] if obj.get("objectType", "Activity") == "Activity" else []
    for value in ((statement.get("context") or {}).get("contextActivities") or {}).values():
        ids += [a.get("id") for a in value if isinstance(a, dict) and a.get("id")]
    return ids


def level(result: dict[str, Any] | None, scale: dict[str, Any], alignment: dict[str, Any] | None) -> float | None:
    lo, hi = float(scale["min"]), float(scale["max"])
    result = result or {}
    score = result.get("score") or {}
    if "scaled" in score:
        return lo + max(float(score["scaled"]), 0.0) * (hi - lo)
    if "raw" in score and "min" in score and "max" in score and score["max"] > score["min"]:
        return lo + (float(score["raw"]) - score["min"]) / (score["max"] - score["min"]) * (hi - lo)
    if isinstance(result.get("success"), bool):
        chosen = (alignment or {}).get("success_level" if result["success"] else "failure_level")
        return float(chosen) if chosen is not None else hi if result["success"] else lo
    return None


class Evidence:
    def __init__(self, ledger: Any, storage: Storage, write_lock: Any) -> None:
        self.ledger, self.alignments, self.lock = ledger, Alignments(ledger), write_lock

    def catalogue(self) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        events = [e.event for e in self.ledger.stream_events(CATALOG_KEY)]
        scales = {f["framework_id"]: f["scale"] for f in frameworks(events)}
        comps = {c["competency_id"]: scales[c["framework_id"]] for c in catalogue_competencies(events)}
        guids = {str(c["case_guid"]).lower(): c["competency_id"] for c in catalogue_competencies(events) if c["case_guid"]}
        return comps, guids

    def events_for(self, statement: dict[str, Any], learner: str, school: str, lms: str,
                   voided_assessments: list[str] | None = None, known: tuple | None = None) -> list[dict[str, Any]]:
        """`known`: (scales, guids, alignments) read once for a whole batch."""
        base = {"schema_version": 1, "learner_id": learner, "school_id": school,
                "actor": {"id": lms, "role": "school_system"}}
        obj = statement.get("object") or {}
        out = [{**base, "event_id": statement["id"], "type": "xapi.statement",
                "demonstrated_at": statement["timestamp"],
                "payload": {"statement_id": statement["id"], "verb": statement["verb"]["id"], "lms": lms,
                            "activity": obj.get("id") if obj.get("objectType", "Activity") == "Activity" else None,
                            "statement": statement}}]
        for event_id in voided_assessments or []:
            out.append({**base, "event_id": str(uuid5(_NS, f"void:{event_id}")), "type": "evidence.voided",
                        "demonstrated_at": statement["stored"],
                        "payload": {"voided_event_id": event_id,
                                    "reason": f"xAPI statement {statement['object']['id']} voided by {statement['id']}"}})
        if statement["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided":
            return out
        scales, guids, alignments = known or (*self.catalogue(), self.alignments.all())
        ids = activities(statement)
        targets: dict[str, dict[str, Any] | None] = {}
        for alignment in self.alignments.matching(ids, alignments):
            for competency in alignment["competencies"]:
                targets[competency] = alignment
        for activity_id in ids:
            competency = guids.get(activity_id.rstrip("/").rsplit("/", 1)[-1].lower())
            if competency:
                targets.setdefault(competency, None)
        verb = (statement["verb"].get("display") or {}).get("en-US") or statement["verb"]["id"].rsplit("/", 1)[-1]
        for competency, alignment in sorted(targets.items(), key=lambda kv: kv[0]):
            if competency not in scales:
                continue
            score = level(statement.get("result"), scales[competency], alignment)
            if score is None:
                continue
            out.append({**base, "schema_version": 2, "type": "assessment.recorded",
                        "event_id": str(uuid5(_NS, f"{statement['id']}:{competency}")),
                        "demonstrated_at": statement["timestamp"],
                        "payload": {"competency_id": competency, "score": round(score, 6),
                                    "source": {"assessment_id": f"xapi:{statement['id']}",
                                               "kind": (alignment or {}).get("kind") or "quiz",
                                               "title": f"{verb} {ids[0] if ids else ''}"[:300]}}})
        return out

    def record(self, statements: list[dict[str, Any]], voided_lookup: Any) -> list[Any]:
        """Records the ledger events of these stored statements; returns the outcomes. The school
        and the LMS are the authority's (`school/key id`, set by the LRS from the credentials)."""
        documents: list[dict[str, Any]] = []
        known = None
        for s in statements:
            school, _, lms = str(((s.get("authority") or {}).get("account") or {}).get("name", "")).partition("/")
            learner = learner_of(self.ledger, s, school or None)
            if learner is None:
                continue
            voided = []
            if s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided":
                target = voided_lookup(s["object"]["id"])
                if target is None or learner_of(self.ledger, target, school) != learner:
                    voided = []
                else:
                    voided = [e["event_id"] for e in self.events_for(target, learner, school, lms)
                              if e["type"] == "assessment.recorded" and self._recorded(learner, e["event_id"])]
            known = known or (*self.catalogue(), self.alignments.all())
            documents += self.events_for(s, learner, school, lms, voided, known)
        if not documents:
            return []
        with self.lock:
            outcomes = list(self.ledger.record(parse(json.dumps(d).encode()) for d in documents))
        # A document refused at the door has no event id of its own yet: the one it was given here.
        return [o if o.event_id else replace(o, event_id=documents[o.index]["event_id"]) for o in outcomes]

    def _recorded(self, learner: str, event_id: str) -> bool:
        return any(e.event.get("event_id") == event_id for e in self.ledger.learner_events(learner))
