"""The catalogue as people look things up in it: frameworks, competencies and courses in force.

Read from the catalogue stream itself (not the read models), so a school can find the valid
ids before anything has been projected. A framework or course published again replaces the
earlier version, as the invariants and the projections treat it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _latest(events: Iterable[dict[str, Any]], type_: str, key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["type"] == type_:
            out[e["payload"][key]] = {**e["payload"], "_event": e}
    return dict(sorted(out.items()))


def frameworks(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each framework's latest version: id, title, version, scale, how many competencies."""
    return [{"framework_id": f["framework_id"], "title": f["title"], "version": f["version"],
             "scale": f["scale"], "competencies": len(f["competencies"]),
             "case_document_guid": f.get("case_document_guid"),
             "published_at": f["_event"]["recorded_at"], "event_id": f["_event"]["event_id"]}
            for f in _latest(events, "framework.published", "framework_id").values()]


def competencies(events: Iterable[dict[str, Any]], framework: str | None = None) -> list[dict[str, Any]]:
    """Competencies of the frameworks in force (of one, with `framework`), in publication order."""
    out = []
    for f in _latest(events, "framework.published", "framework_id").values():
        if framework is not None and f["framework_id"] != framework:
            continue
        for c in f["competencies"]:
            out.append({"competency_id": c["id"], "framework_id": f["framework_id"], "title": c["title"],
                        "parent_id": c.get("parent_id"), "case_guid": c.get("case_guid"),
                        "mastery_method": c.get("mastery_method")})
    return out


def courses(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each course's latest definition: credits, competencies, credit rule and mastery method."""
    return [{"course_id": c["course_id"], "title": c["title"], "framework_id": c["framework_id"],
             "credits": c["credits"], "competencies": c["competencies"], "credit_rule": c["credit_rule"],
             "mastery_method": c["mastery_method"], "defined_at": c["_event"]["recorded_at"],
             "event_id": c["_event"]["event_id"]}
            for c in _latest(events, "course.defined", "course_id").values()]
