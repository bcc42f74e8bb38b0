"""Questions people ask of the read models, answered from DuckDB without replaying the log."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timezone
from typing import Any

import duckdb
import pyarrow as pa

from projections.state import competency_state, methods_by_competency

# How far ahead of or behind the straight line from plan start to target date a learner may
# be and still be "on track": a tenth of the goals.
PACE_TOLERANCE = 0.10


def parse_moment(text: str) -> date | datetime:
    """A date (YYYY-MM-DD, meaning the whole day) or an ISO datetime, as people type them;
    ValueError names what was expected."""
    try:
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO datetime") from None


def end_of(moment: date | datetime) -> datetime:
    """A date means the whole of that day (UTC); a datetime means itself."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.combine(moment, time.max, tzinfo=timezone.utc)


def counted_scores(
    con: duckdb.DuckDBPyConnection,
    *,
    learner: str | None = None,
    as_of: date | datetime | None = None,
    known_at: date | datetime | None = None,
) -> list[tuple[str, str, str, float, datetime]]:
    """(learner, competency, event id, score, demonstrated at) for every score that counts,
    ordered by competency and learner, then by demonstration (recording breaks ties).

    `as_of` keeps evidence demonstrated by the end of that day; `known_at` keeps what was
    recorded by then and ignores voids recorded later."""
    sql, params = _counted_sql(learner, as_of, known_at)
    return con.execute(_ordered(sql), params).fetchall()


def counted_score_batches(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date | datetime | None = None,
    known_at: date | datetime | None = None,
    rows: int = 100_000,
) -> pa.RecordBatchReader:
    """`counted_scores` of every learner as Arrow batches of `rows`: a district's history
    read a batch at a time (as Python tuples, 10M scores took several GB)."""
    sql, params = _counted_sql(None, as_of, known_at)
    # A relation streams; a DB-API result (`execute`) would be copied whole first.
    return con.sql(_ordered(sql), params=params).to_arrow_reader(rows)


def counted_pairs(con: duckdb.DuckDBPyConnection, *, as_of: date | datetime | None = None,
                  known_at: date | datetime | None = None) -> int:
    """How many (learner, competency) pairs have counted scores: a progress bar's total."""
    sql, params = _counted_sql(None, as_of, known_at)
    [(pairs,)] = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT learner_id, competency_id FROM ({sql}))",
                             params).fetchall()
    return pairs


def counted_competencies(con: duckdb.DuckDBPyConnection, *, as_of: date | datetime | None = None,
                         known_at: date | datetime | None = None) -> int:
    """How many competencies have counted scores."""
    sql, params = _counted_sql(None, as_of, known_at)
    [(competencies,)] = con.execute(f"SELECT count(DISTINCT competency_id) FROM ({sql})", params).fetchall()
    return competencies


def _ordered(sql: str) -> str:
    return (f"SELECT learner_id, competency_id, event_id, score, demonstrated_at FROM ({sql}) "
            "ORDER BY competency_id, learner_id, demonstrated_at, position")


def _counted_sql(learner: str | None, as_of: date | datetime | None,
                 known_at: date | datetime | None) -> tuple[str, dict[str, Any]]:
    demonstrated_by = end_of(as_of) if as_of is not None else None
    recorded_by = end_of(known_at) if known_at is not None else None
    # A plain `learner_id = ?` (not `? IS NULL OR ...`) lets DuckDB skip other learners' blocks.
    one_learner = "learner_id = $learner" if learner is not None else "$learner IS NULL"
    return f"""
        SELECT learner_id, competency_id, event_id, score, demonstrated_at, position
        FROM evidence_score
        WHERE {one_learner}
          AND ($demonstrated_by IS NULL OR demonstrated_at <= $demonstrated_by)
          AND ($recorded_by IS NULL OR recorded_at <= $recorded_by)
          AND NOT (voided_at IS NOT NULL AND ($recorded_by IS NULL OR voided_at <= $recorded_by))""", \
        {"learner": learner, "demonstrated_by": demonstrated_by, "recorded_by": recorded_by}


def competency_states(
    con: duckdb.DuckDBPyConnection,
    learner: str,
    *,
    as_of: date | datetime | None = None,
    known_at: date | datetime | None = None,
) -> list[dict[str, Any]]:
    """Each competency's state for a learner.

    `as_of`: what was true on that date, judged by when evidence was demonstrated.
    `known_at`: what the ledger knew on that date, judged by when evidence (and voids) were
    recorded. Without either, the maintained `competency_state` rows are read as they are."""
    if as_of is None and known_at is None:
        rows = con.execute(
            "SELECT competency_id, level, mastered, method, params, evidence_count, first_demonstrated, "
            "last_demonstrated, mastered_since FROM competency_state WHERE learner_id = ? ORDER BY competency_id",
            [learner]).fetchall()
        names = ["competency_id", "level", "mastered", "method", "params", "evidence_count", "first_demonstrated",
                 "last_demonstrated", "mastered_since"]
        return [dict(zip(names, row)) for row in rows]
    rows = counted_scores(con, learner=learner, as_of=as_of, known_at=known_at)
    methods = methods_by_competency(con)
    grouped: dict[str, list[tuple[float, datetime]]] = defaultdict(list)
    for _, competency, _, score, at in rows:
        grouped[competency].append((score, at))
    out = []
    for competency, evidence in sorted(grouped.items()):
        out.append({"competency_id": competency, **competency_state(methods[competency], evidence)})
    return out


def pace(goals: int, mastered: int, started: date, target: date, today: date) -> str:
    """Compare the share of goals mastered with the share of the plan's time that has passed."""
    if goals and mastered >= goals:
        return "complete"
    span = max((target - started).days, 1)
    expected = min(max((today - started).days / span, 0.0), 1.0)
    actual = mastered / goals if goals else 0.0
    if actual > expected + PACE_TOLERANCE:
        return "ahead"
    if actual < expected - PACE_TOLERANCE:
        return "behind"
    return "on_track"


def plans(con: duckdb.DuckDBPyConnection, learner: str, *, today: date | datetime | None = None) -> list[dict[str, Any]]:
    """A learner's plans with progress and pace. On a given day (`today`), goals count as
    mastered only if they were by the end of that day (demonstration time), so a past day's
    pace is judged with that day's mastery; without it, with the maintained states."""
    on = today.date() if isinstance(today, datetime) else today
    rows = con.execute("""
        SELECT pp.plan_id, pp.title, pp.goals, pp.goals_mastered, pp.percent, pp.started, pp.target_date, p.goals
        FROM plan_progress pp JOIN plan p USING (learner_id, plan_id)
        WHERE pp.learner_id = ? ORDER BY pp.plan_id""", [learner]).fetchall()
    states = {s["competency_id"]: s for s in competency_states(con, learner, as_of=today)} if rows else {}
    out = []
    for plan_id, title, goals, mastered, percent, started, target, goal_ids in rows:
        if today is not None:
            mastered = sum(bool(states.get(g, {}).get("mastered")) for g in goal_ids)
            percent = round(100.0 * mastered / max(goals, 1), 1)
        out.append({
            "plan_id": plan_id, "title": title, "goals": goals, "goals_mastered": mastered, "percent": percent,
            "started": started, "target_date": target,
            "pace": pace(goals, mastered, started, target, on or datetime.now(timezone.utc).date()),
            "goal_states": [{"competency_id": g, "level": states.get(g, {}).get("level"),
                             "mastered": bool(states.get(g, {}).get("mastered"))} for g in goal_ids],
        })
    return out


# What `credit_audit.status` holds (projections/official.py): a proposal is proposed, approved (an
# award followed it) or stale (its evidence was voided before approval); an award is awarded,
# flagged (its basis moved after the decision; a registrar's confirmation makes it awarded again)
# or revoked.
CREDIT_STATUSES = ("proposed", "approved", "stale", "awarded", "flagged", "revoked")


def credits(con: duckdb.DuckDBPyConnection, *, status: str | None = None,
            school: str | None = None) -> list[dict[str, Any]]:
    """Proposals and awards from `credit_audit`, by learner and course; `school` keeps the
    learners enrolled there. ValueError names the known statuses for an unknown one."""
    if status is not None and status not in CREDIT_STATUSES:
        raise ValueError(f"unknown status {status!r}: choose {', '.join(CREDIT_STATUSES)}")
    rows = con.execute("""
        SELECT c.learner_id, c.course_id, c.kind, c.status, c.credit_event_id, c.note, l.school_id,
               c.rule_version, c.decided_at, c.approved_by, c.proposal_event_id
        FROM credit_audit c LEFT JOIN learner l USING (learner_id)
        WHERE ($status IS NULL OR c.status = $status) AND ($school IS NULL OR l.school_id = $school)
        ORDER BY c.learner_id, c.course_id, c.position""", {"status": status, "school": school}).fetchall()
    names = ["learner_id", "course_id", "kind", "status", "credit_event_id", "note", "school_id", "rule_version",
             "decided_at", "approved_by", "proposal_event_id"]
    return [dict(zip(names, r)) for r in rows]


def learner_exists(con: duckdb.DuckDBPyConnection, learner: str) -> bool:
    return con.execute("SELECT count(*) FROM learner WHERE learner_id = ?", [learner]).fetchall()[0][0] > 0
