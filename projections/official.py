"""The official read models in DuckDB, maintained from the ordered log.

Every batch is one DuckDB transaction that writes the rows *and* the position, so a crash
at any moment leaves either the whole batch or none of it. States are always recomputed
from the stored evidence of the (learner, competency) pairs a batch touches, which is why an
incremental run and a rebuild from zero give the same rows however the log is cut.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ledger.application import LoggedEvent
from ledger.events import EVIDENCE_TYPES
from projections.methods import DEFAULT_METHOD
from projections.state import competency_state, methods_by_competency

PROJECTIONS = ("evidence", "competency_state", "plan_progress", "credit_audit")

SCHEMA = """
CREATE TABLE IF NOT EXISTS projection_position (
    projection VARCHAR PRIMARY KEY, position BIGINT NOT NULL, events BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS competency (
    competency_id VARCHAR PRIMARY KEY, framework_id VARCHAR, title VARCHAR, parent_id VARCHAR,
    case_guid VARCHAR, scale_min DOUBLE, scale_max DOUBLE, threshold DOUBLE,
    method VARCHAR, params VARCHAR);
CREATE TABLE IF NOT EXISTS course (
    course_id VARCHAR PRIMARY KEY, title VARCHAR, framework_id VARCHAR, credits DOUBLE,
    competencies VARCHAR[], credit_rule VARCHAR, mastery_method VARCHAR, position BIGINT);
CREATE TABLE IF NOT EXISTS learner (
    learner_id VARCHAR PRIMARY KEY, school_id VARCHAR, grade INTEGER, enrolled_at TIMESTAMPTZ,
    advisors VARCHAR[]);
CREATE TABLE IF NOT EXISTS evidence (
    event_id VARCHAR PRIMARY KEY, position BIGINT, learner_id VARCHAR, school_id VARCHAR,
    type VARCHAR, competencies VARCHAR[], demonstrated_at TIMESTAMPTZ, recorded_at TIMESTAMPTZ,
    actor_id VARCHAR, actor_role VARCHAR, subject_event_id VARCHAR, hash VARCHAR, detail VARCHAR,
    voided BOOLEAN, voided_by VARCHAR, voided_at TIMESTAMPTZ, void_reason VARCHAR);
CREATE TABLE IF NOT EXISTS evidence_score (
    event_id VARCHAR, learner_id VARCHAR, competency_id VARCHAR, score DOUBLE,
    demonstrated_at TIMESTAMPTZ, recorded_at TIMESTAMPTZ, position BIGINT);
CREATE TABLE IF NOT EXISTS competency_state (
    learner_id VARCHAR, competency_id VARCHAR, level DOUBLE, mastered BOOLEAN, method VARCHAR,
    params VARCHAR, evidence_count INTEGER, first_demonstrated TIMESTAMPTZ,
    last_demonstrated TIMESTAMPTZ, mastered_since TIMESTAMPTZ,
    PRIMARY KEY (learner_id, competency_id));
CREATE TABLE IF NOT EXISTS plan (
    learner_id VARCHAR, plan_id VARCHAR, title VARCHAR, goals VARCHAR[], target_date DATE,
    set_at TIMESTAMPTZ, PRIMARY KEY (learner_id, plan_id));
CREATE TABLE IF NOT EXISTS plan_progress (
    learner_id VARCHAR, plan_id VARCHAR, title VARCHAR, goals INTEGER, goals_mastered INTEGER,
    percent DOUBLE, started DATE, target_date DATE, PRIMARY KEY (learner_id, plan_id));
CREATE TABLE IF NOT EXISTS credit_audit (
    credit_event_id VARCHAR PRIMARY KEY, kind VARCHAR, learner_id VARCHAR, course_id VARCHAR,
    rule_version INTEGER, position BIGINT, decided_at TIMESTAMPTZ, status VARCHAR,
    evidence_ids VARCHAR[], proposal_event_id VARCHAR, approved_by VARCHAR, basis VARCHAR, note VARCHAR);
-- One learner's rows are what `state`, `plan`, audits and credit proposals ask for; DuckDB uses
-- no index for `learner_id = ?` on the composite primary key, so it would scan the table.
CREATE INDEX IF NOT EXISTS competency_state_learner ON competency_state (learner_id);
CREATE INDEX IF NOT EXISTS evidence_score_learner ON evidence_score (learner_id);
"""

# Rebuilt tables, in the order they are dropped; projection_position goes with them.
TABLES = ("competency", "course", "learner", "evidence", "evidence_score", "competency_state", "plan",
          "plan_progress", "credit_audit", "projection_position")

_SCORE_COLUMNS = ["event_id", "learner_id", "competency_id", "score", "demonstrated_at", "recorded_at", "position"]


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        # DuckDB checkpoints whenever its WAL passes 16 MB; a projection batch rewrites states
        # across the whole table, so frequent checkpoints cost a third of a rebuild at 400k
        # events. A larger WAL is replayed on the next open after a crash, losing nothing.
        con.execute("SET checkpoint_threshold = '512MB'")
        con.execute(SCHEMA)
    return con


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> None:
    # DuckDB 2 keeps a statement's result pending until it is read; an unread one blocks
    # the connection's next statement, so drain it.
    con.execute(sql, params).fetchall()


def drop_all(con: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(SCHEMA)


def position(con: duckdb.DuckDBPyConnection) -> int:
    [(value,)] = con.execute("SELECT min(position) FROM projection_position").fetchall()
    return int(value) if value is not None else 0


_ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
                "BOOLEAN": pa.bool_(), "VARCHAR[]": pa.list_(pa.string()),
                # Timestamps and dates travel as ISO text; DuckDB casts them on insert.
                "TIMESTAMP WITH TIME ZONE": pa.string(), "DATE": pa.string()}


def _arrow_schema(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> pa.Schema:
    types = dict(con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                             f"WHERE table_name = '{table}'").fetchall())
    return pa.schema([(c, _ARROW_TYPES[types[c]]) for c in columns])


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        return
    # Arrow, not executemany: ~200x faster into DuckDB.
    arrow = pa.Table.from_pylist(rows, schema=_arrow_schema(con, table, columns))
    con.register("_incoming", arrow)
    try:
        _run(con, f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _incoming")
    finally:
        con.unregister("_incoming")


def _delete_keys(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], keys: list[tuple]) -> None:
    if not keys:
        return
    arrow = pa.Table.from_pylist([dict(zip(columns, key)) for key in keys])
    con.register("_keys", arrow)
    try:
        match = " AND ".join(f"{table}.{c} = _keys.{c}" for c in columns)
        _run(con, f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM _keys WHERE {match})")
    finally:
        con.unregister("_keys")


class OfficialProjection:
    """Applies ordered batches of logged events to the DuckDB read models."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def apply(self, batch: Sequence[LoggedEvent]) -> None:
        if not batch:
            return
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            touched_pairs, touched_plans = self._apply_events(batch)
            self._recompute_states(touched_pairs)
            self._recompute_plans(touched_plans | {l for l, _ in touched_pairs})
            last = batch[-1].position
            for name in PROJECTIONS:
                _run(con, "INSERT OR REPLACE INTO projection_position VALUES (?, ?, coalesce("
                            "(SELECT events FROM projection_position WHERE projection = ?), 0) + ?)",
                            [name, last, name, len(batch)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # --- events to rows -------------------------------------------------------------

    def _apply_events(self, batch: Sequence[LoggedEvent]) -> tuple[set[tuple[str, str]], set[str]]:
        con = self.con
        evidence: dict[str, dict[str, Any]] = {}
        scores: list[dict[str, Any]] = []
        voids_of_stored: list[dict[str, Any]] = []
        touched_pairs: set[tuple[str, str]] = set()
        touched_plans: set[str] = set()
        learners: dict[str, dict[str, Any]] = {}
        learners_loaded = False
        voids: list[tuple[str, str, str]] = []
        plans: dict[tuple[str, str], dict[str, Any] | None] = {}
        plans_loaded = False

        def flush_evidence() -> None:
            # Reference data changes how every state is computed; write pending rows first.
            _insert(con, "evidence", list(evidence.values()), list(_EVIDENCE_COLUMNS))
            _insert(con, "evidence_score", scores, _SCORE_COLUMNS)
            evidence.clear()
            scores.clear()

        for logged in batch:
            e = logged.event
            type_, p, learner = e["type"], e["payload"], e.get("learner_id")
            if type_ == "framework.published":
                flush_evidence()
                touched_pairs |= self._publish_framework(p)
            elif type_ == "course.defined":
                flush_evidence()
                touched_pairs |= self._define_course(p, logged.position)
            elif type_ in ("learner.enrolled", "advisor.assigned"):
                if not learners_loaded:
                    learners.update(self._load_learners(batch))
                    learners_loaded = True
                learners[learner] = _learner_after(learners.get(learner), e)
            elif type_ in EVIDENCE_TYPES:
                row = _evidence_row(logged)
                evidence[e["event_id"]] = row
                for competency, score in _scores_of(e):
                    scores.append({"event_id": e["event_id"], "learner_id": learner, "competency_id": competency,
                                   "score": score, "demonstrated_at": e["demonstrated_at"],
                                   "recorded_at": e["recorded_at"], "position": logged.position})
                    touched_pairs.add((learner, competency))
            elif type_ == "evidence.voided":
                target = p["voided_event_id"]
                voids.append((target, e["event_id"], p["reason"]))
                void = {"voided": True, "voided_by": e["event_id"], "voided_at": e["recorded_at"],
                        "void_reason": p["reason"]}
                if target in evidence:
                    evidence[target].update(void)
                    touched_pairs |= {(learner, c) for c in evidence[target]["competencies"]}
                else:
                    # Found in one query after the loop: a look-up per void scans the table each time.
                    voids_of_stored.append({"event_id": target, **void})
            elif type_.startswith("plan."):
                key = (learner, p["plan_id"])
                if not plans_loaded:
                    plans.update(self._load_plans(batch))
                    plans_loaded = True
                plans[key] = _plan_after(plans.get(key), e)
                touched_plans.add(learner)
            elif type_ in ("credit.proposed", "credit.awarded"):
                self._record_credit(logged)
            elif type_ == "credit.revoked":
                _run(con, "UPDATE credit_audit SET status = 'revoked', note = ? WHERE credit_event_id = ?",
                     [p["reason"], p["credit_event_id"]])
        flush_evidence()
        if voids_of_stored:
            con.register("_voids", pa.Table.from_pylist(voids_of_stored))
            touched_pairs |= {(l, c) for l, c in con.execute(
                "SELECT s.learner_id, s.competency_id FROM evidence_score s JOIN _voids v USING (event_id)").fetchall()}
            _run(con, "UPDATE evidence SET voided = true, voided_by = v.voided_by, voided_at = v.voided_at, "
                        "void_reason = v.void_reason FROM _voids v WHERE evidence.event_id = v.event_id")
            con.unregister("_voids")
        if learners:
            _delete_keys(con, "learner", ("learner_id",), [(l,) for l in learners])
            _insert(con, "learner", list(learners.values()), list(_LEARNER_COLUMNS))
        # An award never rests on evidence voided before it (the ledger refuses that), so
        # flagging after the whole batch finds exactly the awards a later void undermines.
        if voids and _has_credits(con):
            for target, void_id, reason in voids:
                self._flag_credits_resting_on(target, void_id, reason)
        if plans:
            _delete_keys(con, "plan", ("learner_id", "plan_id"), list(plans))
            _insert(con, "plan", [p for p in plans.values() if p is not None], list(_PLAN_COLUMNS))
        return touched_pairs, touched_plans

    def _publish_framework(self, p: dict[str, Any]) -> set[tuple[str, str]]:
        con = self.con
        scale = p["scale"]
        _run(con, "DELETE FROM competency WHERE framework_id = ?", [p["framework_id"]])
        rows = []
        for c in p["competencies"]:
            method = c.get("mastery_method")
            rows.append({"competency_id": c["id"], "framework_id": p["framework_id"], "title": c["title"],
                         "parent_id": c.get("parent_id"), "case_guid": c.get("case_guid"),
                         "scale_min": float(scale["min"]), "scale_max": float(scale["max"]),
                         "threshold": float(scale["mastery_threshold"]),
                         "method": method["name"] if method else None,
                         "params": json.dumps(method.get("params", {}), sort_keys=True) if method else None})
        _insert(con, "competency", rows, list(_COMPETENCY_COLUMNS))
        self._resolve_methods()
        return self._pairs_for([c["id"] for c in p["competencies"]])

    def _record_credit(self, logged: LoggedEvent) -> None:
        e, p = logged.event, logged.event["payload"]
        award = e["type"] == "credit.awarded"
        _insert(self.con, "credit_audit", [{
            "credit_event_id": e["event_id"], "kind": "award" if award else "proposal",
            "learner_id": e["learner_id"], "course_id": p["course_id"], "rule_version": p["rule"]["version"],
            "position": logged.position, "decided_at": e["recorded_at"], "status": "awarded" if award else "proposed",
            "evidence_ids": [str(i) for i in p["evidence_event_ids"]], "proposal_event_id": p.get("proposal_event_id"),
            "approved_by": p.get("approved_by"), "basis": json.dumps(p, sort_keys=True), "note": None}],
            list(_CREDIT_COLUMNS))
        if award:
            _run(self.con, "UPDATE credit_audit SET status = 'approved' WHERE credit_event_id = ?",
                 [p["proposal_event_id"]])

    def _flag_credits_resting_on(self, evidence_id: str, void_id: str, reason: str) -> None:
        # Flagged for a registrar's review, never silently revoked; an unapproved proposal
        # whose evidence is voided can no longer be approved, so it goes stale.
        note = f"evidence {evidence_id} voided by {void_id}: {reason}"
        _run(self.con, """UPDATE credit_audit SET
                status = CASE WHEN kind = 'award' THEN 'flagged' ELSE 'stale' END,
                note = concat_ws('; ', note, ?)
            WHERE list_contains(evidence_ids, ?) AND status IN ('awarded', 'flagged', 'proposed')""",
             [note, evidence_id])

    def _define_course(self, p: dict[str, Any], position: int) -> set[tuple[str, str]]:
        version = p["credit_rule"]["version"]
        _run(self.con, """UPDATE credit_audit SET
                status = CASE WHEN kind = 'award' THEN 'flagged' ELSE 'stale' END,
                note = concat_ws('; ', note, ?)
            WHERE course_id = ? AND rule_version < ? AND status IN ('awarded', 'flagged', 'proposed')""",
             [f"the course's credit rule changed to version {version}", p["course_id"], version])
        _run(self.con, "INSERT OR REPLACE INTO course VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            p["course_id"], p["title"], p["framework_id"], p["credits"], p["competencies"],
            json.dumps(p["credit_rule"], sort_keys=True), json.dumps(p["mastery_method"], sort_keys=True), position])
        self._resolve_methods()
        return self._pairs_for(p["competencies"])

    def _resolve_methods(self) -> None:
        # A competency's own method wins; else the first course (by id) that lists it; else the
        # default. "~" marks an inherited method, so a later course definition may replace it.
        _run(self.con, """
            UPDATE competency SET method = '~' || json_extract_string(coalesce(m.mastery_method, ?), '$.name'),
                                  params = coalesce(json_extract(coalesce(m.mastery_method, ?), '$.params'), '{}')::VARCHAR
            FROM (SELECT c.competency_id, arg_min(course.mastery_method, course.course_id) AS mastery_method
                  FROM competency c LEFT JOIN course ON list_contains(course.competencies, c.competency_id)
                  GROUP BY c.competency_id) m
            WHERE competency.competency_id = m.competency_id
              AND (competency.method IS NULL OR competency.method LIKE '~%')""",
             [json.dumps(DEFAULT_METHOD), json.dumps(DEFAULT_METHOD)])

    def _pairs_for(self, competencies: list[str]) -> set[tuple[str, str]]:
        rows = self.con.execute("SELECT DISTINCT learner_id, competency_id FROM evidence_score "
                                "WHERE list_contains(?, competency_id)", [competencies]).fetchall()
        return {(l, c) for l, c in rows}

    def _load_learners(self, batch: Sequence[LoggedEvent]) -> dict[str, dict[str, Any]]:
        """The stored rows of the learners this batch enrols or assigns advisors to, in one query."""
        ids = sorted({l.event["learner_id"] for l in batch if l.event["type"] in ("learner.enrolled", "advisor.assigned")})
        rows = self.con.execute("SELECT learner_id, school_id, grade, enrolled_at, advisors FROM learner "
                                "WHERE list_contains(?, learner_id)", [ids]).fetchall()
        return {learner: {"learner_id": learner, "school_id": school, "grade": grade,
                          "enrolled_at": enrolled_at.isoformat() if enrolled_at else None, "advisors": list(advisors)}
                for learner, school, grade, enrolled_at, advisors in rows}

    def _load_plans(self, batch: Sequence[LoggedEvent]) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored plans this batch changes, in one query."""
        keys = sorted({(l.event["learner_id"], l.event["payload"]["plan_id"]) for l in batch
                       if l.event["type"].startswith("plan.")})
        con = self.con
        con.register("_plan_keys", pa.Table.from_pylist([{"learner_id": l, "plan_id": p} for l, p in keys]))
        try:
            rows = con.execute("SELECT learner_id, plan_id, title, goals, target_date, set_at FROM plan "
                               "JOIN _plan_keys USING (learner_id, plan_id)").fetchall()
        finally:
            con.unregister("_plan_keys")
        return {(l, p): {"learner_id": l, "plan_id": p, "title": title, "goals": list(goals),
                         "target_date": target.isoformat(), "set_at": set_at.isoformat()}
                for l, p, title, goals, target, set_at in rows}

    # --- derived state ----------------------------------------------------------------

    def _recompute_states(self, pairs: set[tuple[str, str]]) -> None:
        if not pairs:
            return
        con = self.con
        keys = sorted(pairs)
        con.register("_pairs", pa.Table.from_pylist([{"learner_id": l, "competency_id": c} for l, c in keys]))
        try:
            rows = con.execute("""
                SELECT s.learner_id, s.competency_id, s.score, s.demonstrated_at::VARCHAR
                FROM evidence_score s JOIN _pairs USING (learner_id, competency_id)
                JOIN evidence e ON e.event_id = s.event_id
                WHERE NOT coalesce(e.voided, false)
                ORDER BY s.learner_id, s.competency_id, s.demonstrated_at, s.position""").fetchall()
            methods = methods_by_competency(con)
            _run(con, "DELETE FROM competency_state WHERE EXISTS (SELECT 1 FROM _pairs WHERE "
                        "_pairs.learner_id = competency_state.learner_id AND "
                        "_pairs.competency_id = competency_state.competency_id)")
        finally:
            con.unregister("_pairs")
        grouped: dict[tuple[str, str], list[tuple[float, Any]]] = defaultdict(list)
        for learner, competency, score, at in rows:
            grouped[(learner, competency)].append((score, at))
        out = []
        for (learner, competency), evidence in grouped.items():
            if competency not in methods:
                continue
            out.append({"learner_id": learner, "competency_id": competency,
                        **competency_state(methods[competency], evidence)})
        _insert(con, "competency_state", out, list(_STATE_COLUMNS))

    def _recompute_plans(self, learners: set[str]) -> None:
        if not learners:
            return
        con = self.con
        con.register("_learners", pa.Table.from_pylist([{"learner_id": l} for l in sorted(learners)]))
        try:
            _run(con, "DELETE FROM plan_progress WHERE learner_id IN (SELECT learner_id FROM _learners)")
            _run(con, """
                INSERT INTO plan_progress
                SELECT p.learner_id, p.plan_id, p.title, len(p.goals),
                       (SELECT count(*) FROM competency_state s WHERE s.learner_id = p.learner_id
                          AND s.mastered AND list_contains(p.goals, s.competency_id))::INTEGER,
                       0, p.set_at::DATE, p.target_date
                FROM plan p WHERE p.learner_id IN (SELECT learner_id FROM _learners)""")
            _run(con, "UPDATE plan_progress SET percent = round(100.0 * goals_mastered / greatest(goals, 1), 1) "
                        "WHERE learner_id IN (SELECT learner_id FROM _learners)")
        finally:
            con.unregister("_learners")


_EVIDENCE_COLUMNS = ("event_id", "position", "learner_id", "school_id", "type", "competencies", "demonstrated_at",
                     "recorded_at", "actor_id", "actor_role", "subject_event_id", "hash", "detail", "voided",
                     "voided_by", "voided_at", "void_reason")
_COMPETENCY_COLUMNS = ("competency_id", "framework_id", "title", "parent_id", "case_guid", "scale_min", "scale_max",
                       "threshold", "method", "params")
_STATE_COLUMNS = ("learner_id", "competency_id", "level", "mastered", "method", "params", "evidence_count",
                  "first_demonstrated", "last_demonstrated", "mastered_since")
_LEARNER_COLUMNS = ("learner_id", "school_id", "grade", "enrolled_at", "advisors")
_PLAN_COLUMNS = ("learner_id", "plan_id", "title", "goals", "target_date", "set_at")
_CREDIT_COLUMNS = ("credit_event_id", "kind", "learner_id", "course_id", "rule_version", "position", "decided_at",
                   "status", "evidence_ids", "proposal_event_id", "approved_by", "basis", "note")


def _scores_of(e: dict[str, Any]) -> list[tuple[str, float]]:
    p = e["payload"]
    if e["type"] == "assessment.recorded":
        return [(p["competency_id"], float(p["score"]))]
    if e["type"] == "artifact.scored":
        return [(c, float(level)) for c, level in sorted(p["levels"].items())]
    return []


def _evidence_row(logged: LoggedEvent) -> dict[str, Any]:
    e, p = logged.event, logged.event["payload"]
    competencies = (
        [p["competency_id"]] if "competency_id" in p
        else sorted(p["levels"]) if "levels" in p
        else list(p.get("competencies_claimed", []))
    )
    return {
        "event_id": e["event_id"], "position": logged.position, "learner_id": e["learner_id"],
        "school_id": e["school_id"], "type": e["type"], "competencies": competencies,
        "demonstrated_at": e["demonstrated_at"], "recorded_at": e["recorded_at"],
        "actor_id": e["actor"]["id"], "actor_role": e["actor"]["role"],
        "subject_event_id": p.get("subject_event_id") or p.get("artifact_event_id"),
        "hash": logged.hash, "detail": orjson.dumps(p).decode(),
        "voided": False, "voided_by": None, "voided_at": None, "void_reason": None,
    }


def _has_credits(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT count(*) FROM credit_audit").fetchall()[0][0] > 0


def _learner_after(learner: dict[str, Any] | None, e: dict[str, Any]) -> dict[str, Any]:
    if e["type"] == "learner.enrolled":
        advisors = learner["advisors"] if learner else []
        return {"learner_id": e["learner_id"], "school_id": e["school_id"], "grade": e["payload"]["grade"],
                "enrolled_at": e["demonstrated_at"], "advisors": advisors}
    assert learner is not None  # the ledger refuses events for learners who are not enrolled
    advisors = learner["advisors"] + [a for a in [e["payload"]["advisor_id"]] if a not in learner["advisors"]]
    return {**learner, "advisors": advisors}


def _plan_after(plan: dict[str, Any] | None, e: dict[str, Any]) -> dict[str, Any] | None:
    p = e["payload"]
    if e["type"] == "plan.set":
        return {"learner_id": e["learner_id"], "plan_id": p["plan_id"], "title": p["title"],
                "goals": list(p["goals"]), "target_date": p["target_date"], "set_at": e["demonstrated_at"]}
    assert plan is not None  # the ledger refuses plan changes to plans that do not exist
    plan = dict(plan, goals=list(plan["goals"]))
    if e["type"] == "plan.goal_added":
        plan["goals"].append(p["competency_id"])
    elif e["type"] == "plan.goal_dropped":
        plan["goals"].remove(p["competency_id"])
    elif e["type"] == "plan.target_date_changed":
        plan["target_date"] = p["target_date"]
    return plan
