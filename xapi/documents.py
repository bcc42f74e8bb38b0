"""The document resources: activities/state, activities/profile, agents/profile.

Documents are the one mutable thing in the LRS (PUT replaces, POST merges JSON objects), so
they live in a table of their own, never in the event log. Each has a strong ETag (sha1 of the
content) checked against If-Match / If-None-Match."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from starlette.responses import JSONResponse, Response

from xapi.statements import LrsError, ifi, now_iso
from xapi.storage import Storage
from xapi.validation import Problems, UUID_RE, agent as check_agent, iri, timestamp

# resource -> (scope parameters, id parameter)
RESOURCES = {
    "state": (("activityId", "agent", "registration"), "stateId"),
    "activity_profile": (("activityId",), "profileId"),
    "agent_profile": (("agent",), "profileId"),
}


class Documents:
    def __init__(self, storage: Storage) -> None:
        self.db = storage

    def get(self, resource: str, scope: str, doc_id: str) -> tuple[str, bytes, str, str] | None:
        rows = self.db.rows("SELECT content_type, content, etag, updated FROM xapi_documents"
                            " WHERE resource = ? AND scope = ? AND doc_id = ?", [resource, scope, doc_id])
        return (rows[0][0], bytes(rows[0][1]), rows[0][2], rows[0][3]) if rows else None

    def ids(self, resource: str, scope: str, since: str | None) -> list[str]:
        rows = self.db.rows("SELECT doc_id FROM xapi_documents WHERE resource = ? AND scope = ?"
                            + (" AND updated > ?" if since else "") + " ORDER BY doc_id",
                            [resource, scope] + ([since] if since else []))
        return [r[0] for r in rows]

    def put(self, resource: str, scope: str, doc_id: str, content_type: str, content: bytes) -> None:
        etag = hashlib.sha1(content).hexdigest()
        with self.db.transaction():
            self.db.execute("DELETE FROM xapi_documents WHERE resource = ? AND scope = ? AND doc_id = ?",
                            [resource, scope, doc_id])
            self.db.execute("INSERT INTO xapi_documents (resource, scope, doc_id, content_type, content, etag, updated)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)", [resource, scope, doc_id, content_type, content, etag,
                                                               now_iso()])

    def delete(self, resource: str, scope: str, doc_id: str | None) -> None:
        if doc_id is None:
            self.db.execute("DELETE FROM xapi_documents WHERE resource = ? AND scope = ?", [resource, scope])
        else:
            self.db.execute("DELETE FROM xapi_documents WHERE resource = ? AND scope = ? AND doc_id = ?",
                            [resource, scope, doc_id])


def _scope(resource: str, params: dict[str, str]) -> str:
    names, _ = RESOURCES[resource]
    parts = []
    for name in names:
        value = params.get(name)
        if value is None:
            if name == "registration":
                parts.append("")
                continue
            raise LrsError(400, f"{name}: is required")
        p = Problems()
        if name == "activityId":
            iri(value, name, p)
            parts.append(value)
        elif name == "agent":
            try:
                agent = json.loads(value)
            except ValueError:
                raise LrsError(400, "agent: is not JSON") from None
            check_agent(agent, "agent", p, group_ok=False)
            parts.append(ifi(agent) or "")
        else:
            if not UUID_RE.match(value):
                p.add(name, f"{value!r} is not a UUID")
            parts.append(value.lower())
        if p:
            raise LrsError(400, "; ".join(p))
    return "|".join(parts)


def _preconditions(ctx: Any, existing: tuple[str, bytes, str, str] | None, resource: str) -> None:
    match, none_match = ctx.headers.get("if-match"), ctx.headers.get("if-none-match")
    etag = f'"{existing[2]}"' if existing else None
    if match is not None and (etag is None or (match.strip() != "*" and etag not in
                                               [t.strip() for t in match.split(",")])):
        raise LrsError(412, "If-Match: the document's ETag is not the one given")
    if none_match is not None and existing is not None and (none_match.strip() == "*" or etag in none_match):
        raise LrsError(412, "If-None-Match: the document exists")
    if ctx.method == "PUT" and match is None and none_match is None \
            and (resource != "state" or ctx.version.startswith("2")):  # 1.0.3 left state unguarded
        if existing is not None:
            raise LrsError(409, "the document exists: send If-Match with its ETag (or If-None-Match: *) to replace it")
        if ctx.version.startswith("1.0") and resource != "state":
            raise LrsError(400, "a profile PUT needs If-Match or If-None-Match (xAPI 1.0.3)")


def documents_route(resource: str) -> Callable[[Any], Response]:
    names, id_name = RESOURCES[resource]
    allowed = set(names) | {id_name, "since"}

    def route(ctx: Any) -> Response:
        params = ctx.params
        unknown = set(params) - allowed
        if unknown:
            raise LrsError(400, f"{', '.join(sorted(unknown))}: not a parameter of this resource")
        scope = _scope(resource, params)
        doc_id = params.get(id_name)
        docs: Documents = ctx.documents
        if ctx.method in ("GET", "HEAD"):
            if doc_id is None:
                since = params.get("since")
                if since is not None:
                    p = Problems()
                    timestamp(since, "since", p)
                    if p:
                        raise LrsError(400, "; ".join(p))
                    from xapi.statement_routes import _utc
                    since = _utc(since, "since")
                return JSONResponse(docs.ids(resource, scope, since))
            found = docs.get(resource, scope, doc_id)
            if found is None:
                raise LrsError(404, f"{id_name}: no document {doc_id!r}")
            from xapi.statement_routes import _http_date
            return Response(found[1] if ctx.method == "GET" else b"", media_type=found[0],
                            headers={"ETag": f'"{found[2]}"', "Last-Modified": _http_date(found[3])})
        if ctx.method == "DELETE":
            if doc_id is not None:
                _preconditions(ctx, docs.get(resource, scope, doc_id), resource)
            elif resource != "state":
                raise LrsError(400, f"{id_name}: is required")
            docs.delete(resource, scope, doc_id)
            return Response(status_code=204)
        if ctx.method not in ("PUT", "POST"):
            raise LrsError(405, f"{ctx.method} is not a method of this resource")
        if doc_id is None:
            raise LrsError(400, f"{id_name}: is required")
        existing = docs.get(resource, scope, doc_id)
        _preconditions(ctx, existing, resource)
        content_type = ctx.headers.get("content-type", "application/octet-stream")
        content = ctx.body
        if ctx.method == "POST":
            is_json = content_type.split(";")[0].strip() == "application/json"
            if existing is not None:
                try:
                    old, new = json.loads(existing[1]), json.loads(content)
                except ValueError:
                    raise LrsError(400, "POST merges JSON objects: the document or the body is not JSON") from None
                if not (isinstance(old, dict) and isinstance(new, dict) and is_json
                        and existing[0].split(";")[0].strip() == "application/json"):
                    raise LrsError(400, "POST merges JSON objects: the document or the body is not one")
                content, content_type = json.dumps({**old, **new}).encode(), "application/json"
            elif is_json:
                try:
                    if not isinstance(json.loads(content), dict):
                        raise ValueError
                except ValueError:
                    raise LrsError(400, "POST with application/json takes a JSON object") from None
        docs.put(resource, scope, doc_id, content_type, content)
        return Response(status_code=204)

    return route
