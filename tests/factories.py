"""Builders for event documents as a school's system would post them."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

FRAMEWORK = "fw-test"
SCHOOL = "school-a"
TEACHER = {"id": "tch-1", "role": "teacher"}
ADVISOR = {"id": "adv-1", "role": "advisor"}
ADMIN = {"id": "office", "role": "district_admin"}
REGISTRAR = {"id": "reg-1", "role": "registrar"}
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def event(type_: str, payload: dict[str, Any], *, learner: str | None = None, actor: dict | None = None,
          version: int = 1, days: float = 0, event_id: str | None = None, school: str | None = None) -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type": type_,
        "schema_version": version,
        "learner_id": learner,
        "school_id": school or (SCHOOL if learner else None),
        "actor": actor or (ADMIN if learner is None else TEACHER),
        "demonstrated_at": at(days),
        "payload": payload,
    }


def framework(competencies: list[str] = ("C1", "C2", "C3"), *, version: int = 1, days: float = -30) -> dict:
    return event("framework.published", {
        "framework_id": FRAMEWORK, "title": "Test framework", "version": version,
        "scale": {"min": 1, "max": 4, "mastery_threshold": 3},
        "competencies": [{"id": c, "title": f"Competency {c}"} for c in competencies],
    }, days=days)


def course(course_id: str = "CRS-1", competencies: list[str] = ("C1", "C2"), *, rule: dict | None = None,
           method: dict | None = None) -> dict:
    return event("course.defined", {
        "course_id": course_id, "title": "Test course", "framework_id": FRAMEWORK, "credits": 1.0,
        "competencies": list(competencies), "credit_rule": rule or {"kind": "all_mastered", "version": 1},
        "mastery_method": method or {"name": "decaying_average", "params": {"weight": 0.65}},
    }, days=-29)


def enrolled(learner: str, *, school: str = SCHOOL, days: float = -20) -> dict:
    return event("learner.enrolled", {"grade": 10}, learner=learner, school=school,
                 actor={"id": "sis", "role": "school_system"}, days=days)


def advisor_assigned(learner: str, advisor: str = "adv-1") -> dict:
    return event("advisor.assigned", {"advisor_id": advisor}, learner=learner,
                 actor={"id": "sis", "role": "school_system"}, days=-19)


def assessment(learner: str, competency: str = "C1", score: float = 3.0, *, days: float = 0, **kw: Any) -> dict:
    return event("assessment.recorded", {
        "competency_id": competency, "score": score,
        "source": {"assessment_id": "quiz-1", "kind": "quiz"},
    }, learner=learner, version=2, days=days, **kw)


def voided(learner: str, target: dict, *, days: float = 1, reason: str = "wrong student") -> dict:
    return event("evidence.voided", {"voided_event_id": target["event_id"], "reason": reason},
                 learner=learner, days=days)


def line(document: dict) -> str:
    return json.dumps(document)


def setup(learners: list[str] = ("L1",)) -> list[dict]:
    """A framework, a course and the learners enrolled: enough to post evidence against."""
    docs = [framework(), course()]
    for learner in learners:
        docs.append(enrolled(learner))
    return docs


# Files no one in this project wrote, beside the checkout (../shared/data); LEDGER_SHARED moves it.
SHARED_DATA = Path(os.environ.get("LEDGER_SHARED", Path(__file__).resolve().parents[1].parent / "shared")) / "data"
