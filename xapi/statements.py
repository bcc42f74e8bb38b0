"""The statements resource: store (PUT/POST, idempotent on the statement id), void, and query.

A statement is stored once and never edited: voiding marks the target `voided_by` (the
voiding statement is itself stored) and queries leave voided statements out."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from xapi.storage import Storage
from xapi.validation import VOIDED, check_statement


class LrsError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ifi(agent: Any) -> str | None:
    """The inverse functional identifier an agent or identified group is matched by."""
    if not isinstance(agent, dict):
        return None
    for key in ("mbox", "mbox_sha1sum", "openid"):
        if isinstance(agent.get(key), str):
            return f"{key}:{agent[key].lower() if key == 'mbox_sha1sum' else agent[key]}"
    account = agent.get("account")
    if isinstance(account, dict):
        return f"account:{account.get('homePage')}|{account.get('name')}"
    return None


def _agents_in(agent: Any) -> list[str]:
    found = [ifi(agent)] if ifi(agent) else []
    if isinstance(agent, dict) and isinstance(agent.get("member"), list):
        found += [i for m in agent["member"] if (i := ifi(m))]
    return found


def references(s: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(kind, value, related) rows: related=0 where the plain `agent`/`activity` filter matches
    (actor or object), 1 only for related_agents / related_activities."""
    rows: list[tuple[str, str, int]] = []

    def walk(st: dict[str, Any], top: bool) -> None:
        rows.extend(("actor", a, 0 if top else 1) for a in _agents_in(st.get("actor")))
        obj = st.get("object") or {}
        kind = obj.get("objectType", "Activity")
        if kind == "Activity":
            rows.append(("activity", obj.get("id"), 0 if top else 1))
        elif kind in ("Agent", "Group"):
            rows.extend(("actor", a, 0 if top else 1) for a in _agents_in(obj))
        elif kind == "SubStatement":
            walk(obj, False)
        ctx = st.get("context") or {}
        for key in ("instructor", "team"):
            rows.extend(("actor", a, 1) for a in _agents_in(ctx.get(key)))
        for item in ctx.get("contextAgents", []) + ctx.get("contextGroups", []):
            rows.extend(("actor", a, 1) for a in _agents_in(item.get("agent") or item.get("group")))
        for value in (ctx.get("contextActivities") or {}).values():
            rows.extend(("activity", a.get("id"), 1) for a in (value if isinstance(value, list) else [value]))

    walk(s, True)
    if s.get("authority"):
        rows.extend(("actor", a, 1) for a in _agents_in(s["authority"]))
    return sorted(set(r for r in rows if r[1]))


def _comparable(s: dict[str, Any]) -> str:
    # Statement comparison (xAPI 2.0 §2.2.1): what the LRS sets, and the version, do not count;
    # durations compare to 0.01 s.
    from xapi.signatures import hundredths

    kept = {k: v for k, v in s.items() if k not in ("stored", "authority", "version")}
    if isinstance(kept.get("result"), dict) and isinstance(kept["result"].get("duration"), str):
        kept["result"] = {**kept["result"], "duration": hundredths(kept["result"]["duration"])}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def _normalise(s: dict[str, Any]) -> dict[str, Any]:
    """Context activities are always arrays once stored (1.0.3 allowed single objects)."""
    ctx = s.get("context")
    if isinstance(ctx, dict) and isinstance(ctx.get("contextActivities"), dict):
        ctx["contextActivities"] = {k: v if isinstance(v, list) else [v] for k, v in ctx["contextActivities"].items()}
    if isinstance(s.get("object"), dict) and s["object"].get("objectType") == "SubStatement":
        _normalise(s["object"])
    return s


@dataclass
class Prepared:
    statement: dict[str, Any]
    fingerprint: str


class Statements:
    def __init__(self, storage: Storage) -> None:
        self.db = storage

    def prepare(self, documents: list[Any], authority: dict[str, Any], version: str) -> list[Prepared]:
        problems: list[str] = []
        out: list[Prepared] = []
        for i, s in enumerate(documents):
            where = "statement" if len(documents) == 1 else f"statement[{i}]"
            found = check_statement(s, where)
            problems += found
            if found:
                continue
            s = _normalise(json.loads(json.dumps(s)))
            s.setdefault("id", str(uuidlib.uuid4()))
            s["id"] = s["id"].lower()
            fingerprint = hashlib.sha256(_comparable(s).encode()).hexdigest()
            s["authority"] = authority
            s.setdefault("version", "2.0.0" if version.startswith("2") else "1.0.0")
            out.append(Prepared(s, fingerprint))
        if problems:
            raise LrsError(400, "; ".join(problems))
        ids = [p.statement["id"] for p in out]
        if len(set(ids)) != len(ids):
            raise LrsError(400, "the batch holds the same statement id twice")
        return out

    def store(self, prepared: list[Prepared]) -> tuple[list[str], list[dict[str, Any]]]:
        """Stores what is new; returns the ids (in order) and the statements newly stored.
        409 if an id holds other content."""
        with self.db.transaction():
            ids = [p.statement["id"] for p in prepared]
            known = {row[0]: row[1] for row in self.db.rows(
                f"SELECT id, fingerprint FROM xapi_statements WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else {}
            fresh = []
            for p in prepared:
                old = known.get(p.statement["id"])
                if old is not None and old != p.fingerprint:
                    raise LrsError(409, f"statement {p.statement['id']} was already stored with different content")
                if old is None:
                    fresh.append(p)
            batch_ids = {p.statement["id"]: p for p in fresh}
            for p in fresh:
                if p.statement["verb"]["id"] == VOIDED:
                    self._check_void(p.statement["object"]["id"], batch_ids)
            stored = now_iso()
            for p in fresh:
                s = p.statement
                s["stored"] = stored
                s.setdefault("timestamp", stored)
                voids = s["object"]["id"] if s["verb"]["id"] == VOIDED else None
                seq = self.db.rows(
                    "INSERT INTO xapi_statements (id, body, fingerprint, stored, verb, registration, voided_by,"
                    " is_voiding, voids, target, has_attachments) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)"
                    " RETURNING seq",
                    [s["id"], json.dumps(s), p.fingerprint, stored, s["verb"]["id"],
                     (s.get("context") or {}).get("registration"), int(voids is not None), voids,
                     s["object"]["id"].lower() if s["object"].get("objectType") == "StatementRef" else None,
                     int(bool(s.get("attachments")))])[0][0]
                self.db.many("INSERT INTO xapi_refs (seq, kind, value, related) VALUES (?, ?, ?, ?)",
                             [(seq, k, v, r) for k, v, r in references(s)])
                if voids:
                    self.db.execute("UPDATE xapi_statements SET voided_by = ? WHERE id = ? AND is_voiding = 0",
                                    [s["id"], voids])
                self._remember_activities(s)
        return ids, [p.statement for p in fresh]

    def _check_void(self, target: str, batch: dict[str, Prepared]) -> None:
        if target in batch:
            if batch[target].statement["verb"]["id"] == VOIDED:
                raise LrsError(400, f"statement.object.id: {target} is a voiding statement and cannot be voided")
            return
        row = self.db.rows("SELECT is_voiding FROM xapi_statements WHERE id = ?", [target])
        if row and row[0][0]:
            raise LrsError(400, f"statement.object.id: {target} is a voiding statement and cannot be voided")

    def _remember_activities(self, s: dict[str, Any]) -> None:
        obj = s.get("object") or {}
        if obj.get("objectType", "Activity") == "Activity" and obj.get("definition"):
            row = self.db.rows("SELECT definition FROM xapi_activities WHERE id = ?", [obj["id"]])
            merged = {**(json.loads(row[0][0]) if row else {}), **obj["definition"]}
            for key in ("name", "description"):
                if key in obj["definition"] and row:
                    merged[key] = {**json.loads(row[0][0]).get(key, {}), **obj["definition"][key]}
            if row:
                self.db.execute("UPDATE xapi_activities SET definition = ? WHERE id = ?", [json.dumps(merged), obj["id"]])
            else:
                self.db.execute("INSERT INTO xapi_activities (id, definition) VALUES (?, ?)", [obj["id"], json.dumps(merged)])

    # --- reading ----------------------------------------------------------------------------

    def one(self, statement_id: str, *, voided: bool) -> dict[str, Any] | None:
        rows = self.db.rows("SELECT body, voided_by FROM xapi_statements WHERE id = ?", [statement_id.lower()])
        if not rows or (rows[0][1] is not None) != voided:
            return None
        return json.loads(rows[0][0])

    def query(self, *, agent: str | None, verb: str | None, activity: str | None, registration: str | None,
              related_agents: bool, related_activities: bool, since: str | None, until: str | None,
              limit: int, ascending: bool, after: int | None) -> tuple[list[dict[str, Any]], int | None]:
        def matching(alias: str) -> tuple[list[str], list[Any]]:
            where, params = [], []
            for kind, value, related in (("actor", agent, related_agents), ("activity", activity, related_activities)):
                if value is not None:
                    where.append(f"{alias}.seq IN (SELECT seq FROM xapi_refs WHERE kind = ? AND value = ?"
                                 + ("" if related else " AND related = 0") + ")")
                    params += [kind, value]
            for column, value in (("verb", verb), ("registration", registration and registration.lower())):
                if value is not None:
                    where.append(f"{alias}.{column} = ?")
                    params.append(value)
            return where, params

        common, common_params = ["s.voided_by IS NULL"], []
        for clause, value in (("s.stored > ?", since), ("s.stored <= ?", until),
                              ("s.seq > ?" if ascending else "s.seq < ?", after)):
            if value is not None:
                common.append(clause)
                common_params.append(value)
        order = f"ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?"
        direct, direct_params = matching("s")
        sql = f"SELECT s.seq, s.body FROM xapi_statements s WHERE {' AND '.join(common + direct)} {order}"
        params = common_params + direct_params + [limit + 1]
        if direct:
            # Statements that target a matching statement (StatementRef, voiding) match too, however
            # deep the chain (xAPI 2.0 Communication 2.1.3 "Filter Conditions for StatementRefs").
            # The recursion walks only the statements that have a target (few), from each down its
            # chain, and the two pages are merged by seq: a recursion from the direct matches
            # materialised every one of them before the LIMIT (a verb at 1M stored: 200k rows).
            on_target, target_params = matching("t")
            chained = ("s.seq IN (WITH RECURSIVE chain(seq, tid) AS (SELECT seq, target FROM xapi_statements"
                       " WHERE target IS NOT NULL UNION SELECT c.seq, t.target FROM chain c JOIN xapi_statements t"
                       " ON t.id = c.tid WHERE t.target IS NOT NULL) SELECT c.seq FROM chain c JOIN xapi_statements t"
                       f" ON t.id = c.tid WHERE {' AND '.join(on_target)})")
            sql = (f"SELECT seq, body FROM (SELECT * FROM ({sql}) AS a UNION SELECT * FROM (SELECT s.seq, s.body"
                   f" FROM xapi_statements s WHERE {' AND '.join(common + [chained])} {order}) AS b) AS m {order}")
            params += common_params + target_params + [limit + 1, limit + 1]
        rows = self.db.rows(sql, params)
        more = rows[limit - 1][0] if len(rows) > limit else None
        return [json.loads(body) for _, body in rows[:limit]], more

    def activity(self, activity_id: str) -> dict[str, Any]:
        row = self.db.rows("SELECT definition FROM xapi_activities WHERE id = ?", [activity_id])
        out: dict[str, Any] = {"objectType": "Activity", "id": activity_id}
        if row:
            out["definition"] = json.loads(row[0][0])
        return out

    def agent_seen(self, key: str) -> bool:
        return bool(self.db.rows("SELECT 1 FROM xapi_refs WHERE kind = 'actor' AND value = ? LIMIT 1", [key]))

    def consistent_through(self) -> str:
        # A statement is queryable as soon as its POST is answered: every one stored by now shows.
        return now_iso()


    def keep_attachments(self, parts: dict[str, tuple[str, bytes]]) -> None:
        with self.db.transaction():
            for sha2, (content_type, content) in parts.items():
                if not self.db.rows("SELECT 1 FROM xapi_attachments WHERE sha2 = ?", [sha2]):
                    self.db.execute("INSERT INTO xapi_attachments (sha2, content_type, content) VALUES (?, ?, ?)",
                                    [sha2, content_type, content])

    def attachment(self, sha2: str) -> tuple[str, bytes] | None:
        rows = self.db.rows("SELECT content_type, content FROM xapi_attachments WHERE sha2 = ?", [sha2])
        return (rows[0][0], bytes(rows[0][1])) if rows else None


def cursor_token(after: int, params: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after, "params": params}).encode()).decode()


def read_token(token: str) -> tuple[int, dict[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["after"]), dict(data["params"])
    except Exception:
        raise LrsError(400, "more: not a paging token this LRS issued") from None

