"""The official read models in DuckDB, maintained from the ordered log.

Every batch is one DuckDB transaction that writes the rows *and* the position, so a crash
at any moment leaves either the whole batch or none of it. States are always recomputed
from the stored evidence of the (learner, competency) pairs a batch touches, which is why an
incremental run and a rebuild from zero give the same rows however the log is cut.
"""

from __future__ import annotations

import json
import time
from itertools import groupby
from operator import itemgetter
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ledger.application import LoggedEvent
from ledger.events import EVIDENCE_TYPES, UPCASTERS, upcast
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
    event_id VARCHAR, position BIGINT, learner_id VARCHAR, school_id VARCHAR,
    type VARCHAR, competencies VARCHAR[], demonstrated_at TIMESTAMPTZ, recorded_at TIMESTAMPTZ,
    actor_id VARCHAR, actor_role VARCHAR, subject_event_id VARCHAR, hash VARCHAR, detail VARCHAR,
    voided BOOLEAN, voided_by VARCHAR, voided_at TIMESTAMPTZ, void_reason VARCHAR);
-- voided_at is the evidence's, copied here so that a learner's counted scores need no join.
CREATE TABLE IF NOT EXISTS evidence_score (
    event_id VARCHAR, learner_id VARCHAR, competency_id VARCHAR, score DOUBLE,
    demonstrated_at TIMESTAMPTZ, recorded_at TIMESTAMPTZ, position BIGINT, voided_at TIMESTAMPTZ);
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
-- A registrar's review of a flagged award (credit.confirmed): flags raised before it are cleared.
CREATE TABLE IF NOT EXISTS credit_confirmation (
    confirmation_event_id VARCHAR, credit_event_id VARCHAR, position BIGINT, confirmed_by VARCHAR,
    note VARCHAR, recorded_at TIMESTAMPTZ);
"""
# One learner's rows are what `state`, `plan`, audits and credit proposals ask for; DuckDB uses
# no index for `learner_id = ?` on a composite primary key, so it would scan the table. Evidence
# has no primary key: the ledger already makes event ids unique, nothing looks evidence up by
# id, and its index held most of a rebuild's memory at 10M events. A rebuild makes these
# indexes at the end, in one go, rather than growing them with every batch.
INDEXES = """
CREATE INDEX IF NOT EXISTS competency_state_learner ON competency_state (learner_id);
CREATE INDEX IF NOT EXISTS evidence_score_learner ON evidence_score (learner_id);
CREATE INDEX IF NOT EXISTS evidence_learner ON evidence (learner_id);
"""

# Every table of the read models (a rebuild makes them all anew in another file).
TABLES = ("competency", "course", "learner", "evidence", "evidence_score", "competency_state", "plan",
          "plan_progress", "credit_audit", "credit_confirmation", "projection_position")



WRITER_MEMORY_LIMIT = "1GB"


def locked(error: BaseException) -> bool:
    """True if DuckDB refused the file because another process holds it (for writing, or it
    wants to write while we read): contention that passes, not a fault."""
    return isinstance(error, duckdb.IOException) and "Could not set lock" in str(error)


def connect(path: Path | str, *, read_only: bool = False, indexes: bool = True,
            wait: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the read models. DuckDB lets one process write a file and no other process open it
    meanwhile, so with `wait` a held file is tried again, backing off, for up to that many
    seconds before its IOException is raised."""
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline, pause = time.monotonic() + wait, 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if not locked(error) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)  # short: a follower lets go of the file for a moment only
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        # DuckDB checkpoints whenever its WAL passes 16 MB; a projection batch rewrites states
        # across the whole table, so frequent checkpoints cost a third of a rebuild at 400k
        # events. A larger WAL is replayed on the next open after a crash, losing nothing.
        con.execute("SET checkpoint_threshold = '512MB'")
        # DuckDB's default cache is 80% of the machine's memory; a projector shares its host
        # with the store and the API, and a 10M-event rebuild needs no more than this.
        con.execute(f"SET memory_limit = '{WRITER_MEMORY_LIMIT}'")
        con.execute(SCHEMA)
        if indexes:
            con.execute(INDEXES)
    return con


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> None:
    # DuckDB 2 keeps a statement's result pending until it is read; an unread one blocks
    # the connection's next statement, so drain it.
    con.execute(sql, params).fetchall()


def outdated(path: Path | str, *, wait: float = 0.0) -> bool:
    """True if the file was made by an older version of these read models (rebuild it)."""
    with closing(connect(path, read_only=True, wait=wait)) as con:
        return not con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'evidence_score' "
                               "AND column_name = 'voided_at'").fetchall()[0][0]


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
    if rows:
        _insert_arrow(con, table, pa.Table.from_pylist(rows, schema=_arrow_schema(con, table, columns)))


def _insert_columns(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list[Any]]) -> None:
    _insert_arrow(con, table, pa.Table.from_pydict(columns, schema=_arrow_schema(con, table, list(columns))))


def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, arrow: pa.Table) -> None:
    # Arrow, not executemany: ~200x faster into DuckDB.
    names = ", ".join(arrow.column_names)
    con.register("_incoming", arrow)
    try:
        _run(con, f"INSERT INTO {table} ({names}) SELECT {names} FROM _incoming")
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


# Evidence, voids and credit decisions (~96% of a district's events) become rows inside DuckDB,
# which parses the stored JSON itself; Python sees only reference data, enrolments, plans and
# revocations.
_STAGE = """
CREATE OR REPLACE TEMP TABLE _ev AS
SELECT position, hash, body, f[1] AS type, f[2] AS event_id, f[3] AS learner_id, f[4] AS school_id,
       f[5] AS demonstrated_at, f[6] AS recorded_at, f[7] AS actor_id, f[8] AS actor_role,
       f[1] || '@' || f[9] AS type_version,
       CASE WHEN list_contains({sql_types}, f[1]) THEN json_extract(body, '$.payload') END AS payload
FROM (SELECT position, hash, body, json_extract_string(body, ['$.type', '$.event_id', '$.learner_id',
          '$.school_id', '$.demonstrated_at', '$.recorded_at', '$.actor.id', '$.actor.role',
          '$.schema_version']) AS f
      FROM {source})
"""
# One parse of each stored state for both fields (two calls parse it twice).
_FROM_STATE = "(SELECT position, f[1] AS hash, f[2] AS body FROM " \
              "(SELECT position, json_extract_string(state, ['$.hash', '$.body']) AS f FROM _incoming))"
_INSERT_EVIDENCE = """
INSERT INTO evidence
SELECT event_id, position, learner_id, school_id, type,
       CASE WHEN (payload->>'competency_id') IS NOT NULL THEN [payload->>'competency_id']
            WHEN (payload->'levels') IS NOT NULL THEN list_sort(json_keys(payload->'levels'))
            ELSE coalesce((payload->'competencies_claimed')::VARCHAR[], []) END,
       demonstrated_at::TIMESTAMPTZ, recorded_at::TIMESTAMPTZ, actor_id, actor_role,
       coalesce(payload->>'subject_event_id', payload->>'artifact_event_id'), hash,
       coalesce(u.detail, payload::VARCHAR), false, NULL, NULL, NULL
FROM _ev LEFT JOIN _upcast u USING (position)
WHERE list_contains(?, type)
"""
_INSERT_SCORES = """
INSERT INTO evidence_score
SELECT event_id, learner_id, payload->>'competency_id', (payload->>'score')::DOUBLE,
       demonstrated_at::TIMESTAMPTZ, recorded_at::TIMESTAMPTZ, position, NULL
FROM _ev WHERE type = 'assessment.recorded' AND actor_role IS DISTINCT FROM 'partner'
UNION ALL
SELECT e.event_id, e.learner_id, j.key, j.value::DOUBLE, e.demonstrated_at::TIMESTAMPTZ,
       e.recorded_at::TIMESTAMPTZ, e.position, NULL
FROM (SELECT * FROM _ev WHERE type = 'artifact.scored') e, json_each(e.payload->'levels') j
"""
# A partner's observation scores from its first approving sign-off (ledger.partners): at the
# sign-off's position and recording time, demonstrated at the later of the two times.
_INSERT_EXTERNAL_SCORES = """
INSERT INTO evidence_score
SELECT o.event_id, o.learner_id, o.competencies[1], (o.detail::JSON->>'score')::DOUBLE,
       greatest(o.demonstrated_at, s.demonstrated_at::TIMESTAMPTZ), s.recorded_at::TIMESTAMPTZ, s.position, NULL
FROM (SELECT DISTINCT ON (payload->>'subject_event_id') * FROM _ev
      WHERE type = 'advisor.signed_off' AND payload->>'decision' = 'approved'
      ORDER BY payload->>'subject_event_id', position) s
JOIN evidence o ON o.event_id = s.payload->>'subject_event_id'
WHERE o.actor_role = 'partner' AND o.type = 'assessment.recorded' AND NOT o.voided
  AND NOT EXISTS (SELECT 1 FROM evidence_score x WHERE x.event_id = o.event_id AND x.voided_at IS NULL)
"""
_NEW_VOIDS = """
INSERT INTO _voids
SELECT payload->>'voided_event_id', event_id, recorded_at::TIMESTAMPTZ, payload->>'reason', position
FROM _ev WHERE type = 'evidence.voided'
"""
# Rewritten rather than UPDATEd: a process SIGKILLed after such an UPDATE committed came back,
# about one time in three, with `voided` and `voided_at` set and the two text columns NULL
# (tests/integration/test_projection_crash.py); inserted rows always came back whole.
_APPLY_VOIDS = """
CREATE OR REPLACE TEMP TABLE _voided_rows AS
SELECT e.* REPLACE (true AS voided, v.voided_by AS voided_by, v.voided_at AS voided_at, v.void_reason AS void_reason)
FROM evidence e JOIN (SELECT DISTINCT ON (event_id) * FROM _voids ORDER BY event_id, position) v
  ON e.event_id = v.event_id;
DELETE FROM evidence WHERE event_id IN (SELECT event_id FROM _voids);
INSERT INTO evidence SELECT * FROM _voided_rows;
DROP TABLE _voided_rows;
UPDATE evidence_score SET voided_at = v.voided_at FROM _voids v WHERE evidence_score.event_id = v.event_id;
-- A voided sign-off takes back the external score it let in.
UPDATE evidence_score SET voided_at = v.voided_at FROM _voids v, evidence s
WHERE s.event_id = v.event_id AND s.type = 'advisor.signed_off' AND evidence_score.position = s.position
"""
_INSERT_CREDITS = """
INSERT INTO credit_audit
SELECT event_id, CASE type WHEN 'credit.awarded' THEN 'award' ELSE 'proposal' END, learner_id,
       payload->>'course_id', (payload->'rule'->>'version')::INTEGER, position, recorded_at::TIMESTAMPTZ,
       CASE type WHEN 'credit.awarded' THEN 'awarded' ELSE 'proposed' END,
       (payload->'evidence_event_ids')::VARCHAR[], payload->>'proposal_event_id', payload->>'approved_by',
       payload::VARCHAR, NULL
FROM _ev WHERE """
# Staged and written by SQL alone; the rest (reference data, enrolments, plans, revocations)
# are few and go through Python in order.
_SQL_TYPES = sorted(EVIDENCE_TYPES | {"evidence.voided", "credit.proposed", "credit.awarded"})
# What a rebuild rewrites in learner order (_order_by_learner). Not `evidence`: its rows are wide
# (the payload) and the sort would cost more than the one reader by learner (credit bases) saves.
_LEARNER_ORDER = {"evidence_score": "learner_id, competency_id, demonstrated_at, position"}


class OfficialProjection:
    """Applies ordered batches of logged events to the DuckDB read models.

    With `deferred=True` (a rebuild into a fresh file) states, plan progress and voids are
    computed once, by `finish()`, instead of after every batch: recomputing the touched
    states of each batch re-reads a growing table, which made rebuilds slow down with size.
    A deferred file is only consistent after `finish()`; the projector builds it aside."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, deferred: bool = False) -> None:
        self.con = con
        self.deferred = deferred
        self._staged_credits = 0  # credit decisions in the staged batch (_ev)
        con.execute("CREATE TEMP TABLE IF NOT EXISTS _voids (event_id VARCHAR, voided_by VARCHAR, "
                    "voided_at TIMESTAMPTZ, void_reason VARCHAR, position BIGINT)")
        con.execute("CREATE TEMP TABLE IF NOT EXISTS _pairs (learner_id VARCHAR, competency_id VARCHAR)")

    def apply(self, batch: Sequence[LoggedEvent]) -> None:
        """Apply events already read (and parsed) by a reader."""
        if not batch:
            return
        by_position = {e.position: e for e in batch}
        self._apply(_bodies_table([e.position for e in batch], [e.hash for e in batch], [e.body for e in batch]),
                    "_incoming", lambda position, hash_, body: by_position[position])

    def apply_bodies(self, positions: Sequence[int], hashes: Sequence[str], bodies: Sequence[str]) -> None:
        """Apply events as stored bodies with their hashes (a reader's `read_bodies`)."""
        if positions:
            self._apply(_bodies_table(positions, hashes, bodies), "_incoming", _logged_from_body)

    def apply_stored(self, positions: Sequence[int], states: Sequence[bytes]) -> None:
        """Apply events as the store keeps them (`Ledger.read_stored`): DuckDB unpacks them."""
        if not positions:
            return
        incoming = pa.table({"position": pa.array(positions, pa.int64()), "state": pa.array(states, pa.string())})
        self._apply(incoming, _FROM_STATE, _logged_from_body)

    def _apply(self, incoming: pa.Table, source: str, logged: Any) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("_incoming", incoming)
            try:
                _run(con, _STAGE.format(source=source, sql_types=[str(t) for t in _SQL_TYPES]))
            finally:
                con.unregister("_incoming")
            touched_plans = self._apply_events(logged)
            if not self.deferred:
                self._apply_voids()
                _run(con, "CREATE OR REPLACE TEMP TABLE _touched_learners AS SELECT DISTINCT learner_id FROM _pairs")
                self._recompute_states()
                self._recompute_plans(touched_plans, also="SELECT learner_id FROM _touched_learners")
            [(last, count)] = con.execute("SELECT max(position), count(*) FROM _ev").fetchall()
            for name in PROJECTIONS:
                _run(con, "INSERT OR REPLACE INTO projection_position VALUES (?, ?, coalesce("
                            "(SELECT events FROM projection_position WHERE projection = ?), 0) + ?)",
                            [name, last, name, count])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def finish(self) -> None:
        """Compute what a deferred projection left: voids, every state, every plan's progress."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            self._apply_voids()
            self._order_by_learner()
            learners = [l for (l,) in con.execute(
                "SELECT DISTINCT learner_id FROM evidence_score ORDER BY learner_id").fetchall()]
            # A slice of learners at a time keeps the Python side's memory flat at any scale.
            for start in range(0, len(learners), 5_000):
                part = learners[start:start + 5_000]
                _run(con, "INSERT INTO _pairs SELECT DISTINCT learner_id, competency_id FROM evidence_score "
                          "WHERE learner_id BETWEEN ? AND ?", [part[0], part[-1]])
                self._recompute_states()
            self._recompute_plans(set(), also="SELECT learner_id FROM plan")
            con.execute(INDEXES)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _order_by_learner(self) -> None:
        """Rewrite the scores in learner order. They grow in log order, which scatters a learner's
        rows over every block; in learner order DuckDB's per-block min/max skips all but one or
        two blocks when `state --as-of` or a credit proposal asks for a learner."""
        con = self.con
        for table, order in _LEARNER_ORDER.items():
            [(ddl,)] = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()
            _run(con, ddl.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}_sorted", 1))
            _run(con, f"INSERT INTO {table}_sorted SELECT * FROM {table} ORDER BY {order}")
            _run(con, f"DROP TABLE {table}")
            _run(con, f"ALTER TABLE {table}_sorted RENAME TO {table}")

    # --- events to rows -------------------------------------------------------------

    def _apply_events(self, logged: Any) -> set[str]:
        """Rows for the staged batch (_ev); returns the learners whose plans changed."""
        con = self.con
        upcast_keys = [f"{t}@{v}" for t, v in UPCASTERS]
        upcast_rows = con.execute("SELECT position, body FROM _ev WHERE list_contains(?, type_version)",
                                  [upcast_keys]).fetchall()
        # The evidence detail is the payload as readers see it: upcast in Python, the one place
        # upcasting lives; DuckDB writes it out the same way as the others.
        con.register("_upcast_raw", pa.table({
            "position": pa.array([position for position, _ in upcast_rows], pa.int64()),
            "detail": pa.array([orjson.dumps(upcast(orjson.loads(body))["payload"]).decode()
                                for _, body in upcast_rows], pa.string())}))
        try:
            _run(con, "CREATE OR REPLACE TEMP TABLE _upcast AS "
                      "SELECT position, json_extract(detail, '$')::VARCHAR AS detail FROM _upcast_raw")
        finally:
            con.unregister("_upcast_raw")
        _run(con, _INSERT_EVIDENCE, [list(EVIDENCE_TYPES)])
        _run(con, _INSERT_SCORES)
        _run(con, _INSERT_EXTERNAL_SCORES)
        if not self.deferred:
            _run(con, "INSERT INTO _pairs SELECT DISTINCT learner_id, competency_id FROM evidence_score "
                      "WHERE position BETWEEN (SELECT min(position) FROM _ev) AND (SELECT max(position) FROM _ev)")
        _run(con, _NEW_VOIDS)

        touched_pairs: set[tuple[str, str]] = set()
        touched_plans: set[str] = set()
        learners: dict[str, dict[str, Any]] = {}
        plans: dict[tuple[str, str], dict[str, Any] | None] = {}
        flushed = 0  # credits staged at or before this position are written
        # Most batches hold no credit decision: skip their statements (two scans of the batch each).
        [(self._staged_credits,)] = con.execute(
            "SELECT count(*) FROM _ev WHERE type IN ('credit.proposed', 'credit.awarded')").fetchall()
        others = [logged(position, hash_, body) for position, hash_, body in con.execute(
            "SELECT position, hash, body FROM _ev WHERE NOT list_contains(?, type) ORDER BY position",
            [_SQL_TYPES]).fetchall()]
        if any(o.event["type"] in ("learner.enrolled", "advisor.assigned", "learner.transferred") for o in others):
            learners.update(self._load_learners(others))
        if any(o.event["type"].startswith("plan.") for o in others):
            plans.update(self._load_plans(others))
        for item in others:
            e = item.event
            type_, p, learner = e["type"], e["payload"], e.get("learner_id")
            if type_ == "framework.published":
                touched_pairs |= self._publish_framework(p)
            elif type_ == "course.defined":
                self._flush_credits(flushed, item.position)
                flushed = item.position
                touched_pairs |= self._define_course(p, item.position)
            elif type_ in ("learner.enrolled", "advisor.assigned", "learner.transferred"):
                learners[learner] = _learner_after(learners.get(learner), e)
            elif type_.startswith("plan."):
                key = (learner, p["plan_id"])
                plans[key] = _plan_after(plans.get(key), e)
                touched_plans.add(learner)
            elif type_ == "credit.confirmed":
                self._flush_credits(flushed, item.position)
                flushed = item.position
                self._confirm_credit(e, item.position)
            elif type_ == "credit.revoked":
                self._flush_credits(flushed, item.position)
                flushed = item.position
                _run(con, "UPDATE credit_audit SET status = 'revoked', note = ? WHERE credit_event_id = ?",
                     [p["reason"], p["credit_event_id"]])
        self._flush_credits(flushed, None)
        if touched_pairs and not self.deferred:
            _insert(con, "_pairs", [{"learner_id": l, "competency_id": c} for l, c in touched_pairs],
                    ["learner_id", "competency_id"])
        if learners:
            _delete_keys(con, "learner", ("learner_id",), [(l,) for l in learners])
            _insert(con, "learner", list(learners.values()), list(_LEARNER_COLUMNS))
        if plans:
            _delete_keys(con, "plan", ("learner_id", "plan_id"), list(plans))
            _insert(con, "plan", [p for p in plans.values() if p is not None], list(_PLAN_COLUMNS))
        return touched_plans

    def _apply_voids(self) -> None:
        """Mark the evidence the pending voids name, and flag the credits resting on it."""
        con = self.con
        if not con.execute("SELECT count(*) FROM _voids").fetchall()[0][0]:
            return
        if not self.deferred:
            _run(con, "INSERT INTO _pairs SELECT s.learner_id, s.competency_id FROM evidence_score s "
                      "JOIN _voids USING (event_id)")
            _run(con, "INSERT INTO _pairs SELECT s.learner_id, s.competency_id FROM evidence_score s "
                      "JOIN evidence e ON e.position = s.position AND e.type = 'advisor.signed_off' "
                      "JOIN _voids v ON v.event_id = e.event_id")
        _run(con, _APPLY_VOIDS)
        # An award never rests on evidence voided before it (the ledger refuses that), so
        # flagging after the whole batch finds exactly the awards a later void undermines.
        if _has_credits(con):
            self._flag_credits_resting_on_voids()
        _run(con, "DELETE FROM _voids")

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

    def _flush_credits(self, after: int, before: int | None) -> None:
        """Proposals and awards staged between two positions become credit_audit rows; an award
        approves its proposal. Called before anything else reads or changes credit_audit (a
        course definition, a revocation, the voids), so decisions keep their order."""
        if not self._staged_credits:
            return
        where = "type IN ('credit.proposed', 'credit.awarded') AND position > ?" + (
            " AND position < ?" if before is not None else "")
        params = [after] + ([before] if before is not None else [])
        _run(self.con, _INSERT_CREDITS + where, params)
        _run(self.con, "UPDATE credit_audit SET status = 'approved' FROM (SELECT payload->>'proposal_event_id' AS id "
                       f"FROM _ev WHERE type = 'credit.awarded' AND {where.split(' AND ', 1)[1]}) a "
                       "WHERE credit_audit.credit_event_id = a.id", params)

    def _confirm_credit(self, e: dict[str, Any], position: int) -> None:
        p = e["payload"]
        _run(self.con, "INSERT INTO credit_confirmation VALUES (?, ?, ?, ?, ?, ?)",
             [e["event_id"], p["credit_event_id"], position, e["actor"]["id"], p.get("note"), e["recorded_at"]])
        _run(self.con, "UPDATE credit_audit SET status = 'awarded' WHERE credit_event_id = ? AND status = 'flagged'",
             [p["credit_event_id"]])

    def _flag_credits_resting_on_voids(self) -> None:
        # Flagged for a registrar's review, never silently revoked; an unapproved proposal
        # whose evidence is voided can no longer be approved, so it goes stale (and a stale
        # one is not flagged again: it keeps the note of the first void, an award all of them).
        # A void before the award's latest confirmation was reviewed: noted, not flagged (a rebuild
        # applies every void after every confirmation; positions keep it the same as following).
        _run(self.con, """UPDATE credit_audit SET
                status = CASE WHEN kind <> 'award' THEN 'stale'
                              WHEN f.last_void > coalesce((SELECT max(k.position) FROM credit_confirmation k
                                   WHERE k.credit_event_id = credit_audit.credit_event_id), 0) THEN 'flagged'
                              ELSE status END,
                note = concat_ws('; ', note, CASE WHEN kind = 'award' THEN f.every_note ELSE f.first_note END)
            FROM (SELECT c.credit_event_id,
                         string_agg(v.note, '; ' ORDER BY v.position) AS every_note,
                         arg_min(v.note, v.position) AS first_note, max(v.position) AS last_void
                  FROM (SELECT credit_event_id, unnest(evidence_ids) AS event_id FROM credit_audit
                        WHERE status IN ('awarded', 'flagged', 'proposed')) c
                  JOIN (SELECT event_id, position,
                               'evidence ' || event_id || ' voided by ' || voided_by || ': ' || void_reason AS note
                        FROM _voids) v USING (event_id)
                  GROUP BY c.credit_event_id) f
            WHERE credit_audit.credit_event_id = f.credit_event_id""")

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
        ids = sorted({l.event["learner_id"] for l in batch if l.event["type"] in ("learner.enrolled", "advisor.assigned", "learner.transferred")})
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

    def _recompute_states(self) -> None:
        """Recompute the states of the pairs in _pairs (then emptied) from their counted evidence."""
        con = self.con
        rows = con.execute("""
            SELECT s.learner_id, s.competency_id, s.score, s.demonstrated_at::VARCHAR
            FROM evidence_score s JOIN (SELECT DISTINCT * FROM _pairs) USING (learner_id, competency_id)
            WHERE s.voided_at IS NULL
            ORDER BY s.learner_id, s.competency_id, s.demonstrated_at, s.position""").fetchall()
        methods = methods_by_competency(con)
        _run(con, "DELETE FROM competency_state WHERE EXISTS (SELECT 1 FROM _pairs WHERE "
                  "_pairs.learner_id = competency_state.learner_id AND "
                  "_pairs.competency_id = competency_state.competency_id)")
        _run(con, "DELETE FROM _pairs")
        columns: dict[str, list[Any]] = {c: [] for c in _STATE_COLUMNS}
        # Rows arrive ordered by pair: group them as they come, and build the insert by column.
        for (learner, competency), pair_rows in groupby(rows, key=itemgetter(0, 1)):
            if competency not in methods:
                continue
            state = competency_state(methods[competency], [(score, at) for _, _, score, at in pair_rows])
            columns["learner_id"].append(learner)
            columns["competency_id"].append(competency)
            for name, value in state.items():
                columns[name].append(value)
        if columns["learner_id"]:
            _insert_columns(con, "competency_state", columns)

    def _recompute_plans(self, learners: set[str], also: str = "") -> None:
        """Plan progress of `learners` and of the learners the `also` query names."""
        con = self.con
        con.register("_learners", pa.table({"learner_id": pa.array(sorted(learners), pa.string())}))
        try:
            _run(con, "CREATE OR REPLACE TEMP TABLE _plan_learners AS SELECT learner_id FROM _learners"
                      + (f" UNION {also}" if also else ""))
        finally:
            con.unregister("_learners")
        _run(con, "DELETE FROM plan_progress WHERE learner_id IN (SELECT learner_id FROM _plan_learners)")
        _run(con, """
            INSERT INTO plan_progress
            SELECT p.learner_id, p.plan_id, p.title, len(p.goals),
                   (SELECT count(*) FROM competency_state s WHERE s.learner_id = p.learner_id
                      AND s.mastered AND list_contains(p.goals, s.competency_id))::INTEGER,
                   0, p.set_at::DATE, p.target_date
            FROM plan p WHERE p.learner_id IN (SELECT learner_id FROM _plan_learners)""")
        _run(con, "UPDATE plan_progress SET percent = round(100.0 * goals_mastered / greatest(goals, 1), 1) "
                  "WHERE learner_id IN (SELECT learner_id FROM _plan_learners)")


_COMPETENCY_COLUMNS = ("competency_id", "framework_id", "title", "parent_id", "case_guid", "scale_min", "scale_max",
                       "threshold", "method", "params")
_STATE_COLUMNS = ("learner_id", "competency_id", "level", "mastered", "method", "params", "evidence_count",
                  "first_demonstrated", "last_demonstrated", "mastered_since")
_LEARNER_COLUMNS = ("learner_id", "school_id", "grade", "enrolled_at", "advisors")
_PLAN_COLUMNS = ("learner_id", "plan_id", "title", "goals", "target_date", "set_at")

def _bodies_table(positions: Sequence[int], hashes: Sequence[str], bodies: Sequence[str]) -> pa.Table:
    return pa.table({"position": pa.array(positions, pa.int64()), "hash": pa.array(hashes, pa.string()),
                     "body": pa.array(bodies, pa.string())})


def _logged_from_body(position: int, hash_: str, body: str) -> LoggedEvent:
    return LoggedEvent(position, "", hash_, upcast(orjson.loads(body)), body)


def _has_credits(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT count(*) FROM credit_audit").fetchall()[0][0] > 0


def _learner_after(learner: dict[str, Any] | None, e: dict[str, Any]) -> dict[str, Any]:
    if e["type"] == "learner.enrolled":
        advisors = learner["advisors"] if learner else []
        return {"learner_id": e["learner_id"], "school_id": e["school_id"], "grade": e["payload"]["grade"],
                "enrolled_at": e["demonstrated_at"], "advisors": advisors}
    assert learner is not None  # the ledger refuses events for learners who are not enrolled
    if e["type"] == "learner.transferred":  # the new school; its advisors are assigned afresh
        return {**learner, "school_id": e["payload"]["to_school_id"], "advisors": []}
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
