"""What each page shows, read from the read models through the projections' queries: the
routes ask these and render; nothing here knows about HTTP or templates."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb

from projections import queries

EXTERNAL_ROLES = frozenset({"partner"})
# Evidence an advisor signs off: artifacts and their scores (assessments stand on their own).
SIGN_OFF_TYPES = ("artifact.submitted", "artifact.scored")


def learner_row(con: duckdb.DuckDBPyConnection, learner_id: str) -> dict[str, Any] | None:
    row = con.execute("SELECT learner_id, school_id, grade, advisors FROM learner WHERE learner_id = ?",
                      [learner_id]).fetchone()
    return dict(zip(("learner_id", "school_id", "grade", "advisors"), row)) if row else None


def _titles(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT competency_id, title FROM competency").fetchall())


def profile(con: duckdb.DuckDBPyConnection, learner_id: str, as_of: date | None) -> dict[str, Any]:
    """Competencies by course, the mastery-over-time series, evidence and credits, as of a day."""
    states = {s["competency_id"]: s for s in queries.competency_states(con, learner_id, as_of=as_of)}
    titles = _titles(con)
    courses = []
    for course_id, title, competencies in con.execute(
            "SELECT course_id, title, competencies FROM course ORDER BY course_id").fetchall():
        rows = [{"competency_id": c, "title": titles.get(c, c), "level": states[c]["level"],
                 "mastered": bool(states[c]["mastered"]), "evidence_count": states[c]["evidence_count"]}
                for c in competencies if c in states]
        if rows:
            courses.append({"course_id": course_id, "title": title, "competencies": rows,
                            "mastered": sum(r["mastered"] for r in rows), "total": len(competencies)})
    return {"courses": courses, "series": mastery_series(con, learner_id, as_of),
            "evidence": evidence(con, learner_id, as_of), "credits": credits(con, learner_id, as_of)}


def mastery_series(con: duckdb.DuckDBPyConnection, learner_id: str, as_of: date | None,
                   points: int = 10) -> list[tuple[date, int]]:
    """How many competencies were mastered at the end of each of up to `points` days spread from
    the first evidence to `as_of` (or today), each judged with only what was demonstrated by then."""
    [(first,)] = con.execute("SELECT min(demonstrated_at) FROM evidence_score WHERE learner_id = ?",
                             [learner_id]).fetchall()
    if first is None:
        return []
    start, end = first.date(), as_of or datetime.now(timezone.utc).date()
    if end < start:
        return []
    step = max((end - start).days / max(points - 1, 1), 1)
    days = sorted({start + timedelta(days=round(i * step)) for i in range(points)} | {end})
    return [(d, sum(bool(s["mastered"]) for s in queries.competency_states(con, learner_id, as_of=d)))
            for d in days if d <= end]


def evidence(con: duckdb.DuckDBPyConnection, learner_id: str, as_of: date | None,
             limit: int = 200) -> list[dict[str, Any]]:
    by = queries.end_of(as_of) if as_of else None
    rows = con.execute("""
        SELECT e.event_id, e.type, e.competencies, e.demonstrated_at, e.actor_id, e.actor_role, e.school_id,
               e.detail, e.voided, s.event_id IS NOT NULL AS signed
        FROM evidence e LEFT JOIN evidence s
          ON s.learner_id = e.learner_id AND s.type = 'advisor.signed_off' AND s.subject_event_id = e.event_id
        WHERE e.learner_id = $l AND e.type <> 'advisor.signed_off'
          AND ($by IS NULL OR e.demonstrated_at <= $by)
        ORDER BY e.demonstrated_at DESC LIMIT $limit""", {"l": learner_id, "by": by, "limit": limit}).fetchall()
    out = []
    for event_id, type_, competencies, at, actor, role, school, detail, voided, signed in rows:
        out.append({"event_id": event_id, "type": type_, "competencies": competencies or [], "demonstrated_at": at,
                    "actor_id": actor, "school_id": school, "source": _source(type_, detail), "voided": voided,
                    "signed_off": signed, "external": role in EXTERNAL_ROLES})
    return out


def _source(type_: str, detail: str | None) -> str:
    """What the evidence came from, in the words its payload uses (no free text beyond a title)."""
    try:
        payload = json.loads(detail or "{}")
    except ValueError:
        return ""
    if type_ == "assessment.recorded":
        source = payload.get("source") or {}
        return " ".join(str(x) for x in (source.get("assessment_id"), source.get("kind")) if x)
    if type_ == "artifact.submitted":
        return str(payload.get("title") or payload.get("uri") or "")
    if type_ == "artifact.scored":
        return str(payload.get("rubric_id") or "")
    return ""


def credits(con: duckdb.DuckDBPyConnection, learner_id: str, as_of: date | None) -> list[dict[str, Any]]:
    by = queries.end_of(as_of) if as_of else None
    rows = con.execute("""
        SELECT c.course_id, co.title, c.kind, c.status, c.decided_at, c.approved_by
        FROM credit_audit c LEFT JOIN course co USING (course_id)
        WHERE c.learner_id = $l AND ($by IS NULL OR c.decided_at <= $by) ORDER BY c.course_id, c.position""",
                       {"l": learner_id, "by": by}).fetchall()
    return [dict(zip(("course_id", "title", "kind", "status", "decided_at", "approved_by"), r)) for r in rows]


def awaiting_sign_off(con: duckdb.DuckDBPyConnection, learner_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per learner: artifacts (and scores) not voided and not yet signed off, oldest first."""
    rows = con.execute("""
        SELECT e.learner_id, e.event_id, e.type, e.competencies, e.demonstrated_at, e.detail, e.actor_role, e.actor_id
        FROM evidence e
        WHERE list_contains($ids, e.learner_id) AND NOT coalesce(e.voided, false)
          -- a partner's observations count only once signed off, whatever their type
          AND (list_contains($types, e.type) OR list_contains($external, e.actor_role))
          AND NOT EXISTS (SELECT 1 FROM evidence s WHERE s.learner_id = e.learner_id
                          AND s.type = 'advisor.signed_off' AND s.subject_event_id = e.event_id)
        ORDER BY e.learner_id, e.demonstrated_at""", {"ids": learner_ids, "types": list(SIGN_OFF_TYPES),
                                                       "external": list(EXTERNAL_ROLES)}).fetchall()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for learner, event_id, type_, competencies, at, detail, role, actor in rows:
        out[learner].append({"event_id": event_id, "type": type_, "competencies": competencies or [],
                             "demonstrated_at": at, "source": _source(type_, detail),
                             "external": role in EXTERNAL_ROLES, "partner": actor if role in EXTERNAL_ROLES else None})
    return out


CASELOAD_SORTS = ("learner", "behind", "awaiting", "mastered")


def caseload(con: duckdb.DuckDBPyConnection, advisor_id: str, *, sort: str = "learner", behind_only: bool = False,
             awaiting_only: bool = False) -> list[dict[str, Any]]:
    rows = con.execute("SELECT learner_id, school_id, grade FROM learner WHERE list_contains(advisors, ?) "
                       "ORDER BY learner_id", [advisor_id]).fetchall()
    ids = [r[0] for r in rows]
    waiting = awaiting_sign_off(con, ids)
    mastered = dict(con.execute("SELECT learner_id, count(*) FILTER (WHERE mastered) FROM competency_state "
                                "WHERE list_contains(?, learner_id) GROUP BY 1", [ids]).fetchall())
    out = []
    for learner_id, school_id, grade in rows:
        plans = queries.plans(con, learner_id)
        behind = sum(p["pace"] == "behind" for p in plans)
        out.append({"learner_id": learner_id, "school_id": school_id, "grade": grade, "plans": len(plans),
                    "behind": behind, "awaiting": waiting.get(learner_id, []), "mastered": mastered.get(learner_id, 0)})
    if behind_only:
        out = [r for r in out if r["behind"]]
    if awaiting_only:
        out = [r for r in out if r["awaiting"]]
    key = {"learner": lambda r: r["learner_id"], "behind": lambda r: (-r["behind"], r["learner_id"]),
           "awaiting": lambda r: (-len(r["awaiting"]), r["learner_id"]),
           "mastered": lambda r: (-r["mastered"], r["learner_id"])}[sort if sort in CASELOAD_SORTS else "learner"]
    return sorted(out, key=key)


def queue(con: duckdb.DuckDBPyConnection, school: str | None = None) -> dict[str, list[dict[str, Any]]]:
    return {status: queries.credits(con, status=status, school=school) for status in ("proposed", "flagged")}


def school_overview(con: duckdb.DuckDBPyConnection, school_id: str, bands: int = 4) -> list[dict[str, Any]]:
    """Per competency: how many of the school's learners have a level in each band of the scale, and
    how many have mastered it."""
    rows = con.execute("""
        SELECT s.competency_id, c.title, c.scale_min, c.scale_max,
               least(floor((s.level - c.scale_min) / nullif(c.scale_max - c.scale_min, 0) * $bands), $bands - 1)::INT,
               count(*), count(*) FILTER (WHERE s.mastered)
        FROM competency_state s JOIN learner l USING (learner_id) JOIN competency c USING (competency_id)
        WHERE l.school_id = $school GROUP BY ALL ORDER BY 1, 5""", {"school": school_id, "bands": bands}).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for competency, title, low, high, band, count, mastered in rows:
        entry = out.setdefault(competency, {"competency_id": competency, "title": title, "bands": [0] * bands,
                                            "learners": 0, "mastered": 0,
                                            "edges": [low + (high - low) * i / bands for i in range(bands + 1)]})
        entry["bands"][max(band or 0, 0)] += count
        entry["learners"] += count
        entry["mastered"] += mastered
    return list(out.values())
