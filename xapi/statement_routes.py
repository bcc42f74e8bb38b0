"""HTTP semantics of /statements, /activities and /agents: parameters, status codes, headers,
attachments in multipart/mixed bodies and responses."""

from __future__ import annotations

import hashlib
import json
import uuid as uuidlib
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from xapi.formats import accept_languages, shown
from xapi.statements import LrsError, Prepared, cursor_token, ifi, read_token
from xapi.validation import Problems, UUID_RE, agent as check_agent, iri, timestamp

QUERY_PARAMS = {"statementId", "voidedStatementId", "agent", "verb", "activity", "registration",
                "related_activities", "related_agents", "since", "until", "limit", "format", "attachments",
                "ascending", "more"}
MAX_LIMIT = 500
SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"


def _bool(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise LrsError(400, f"{name}: must be true or false, not {value!r}")
    return value == "true"


def _utc(value: str, name: str) -> str:
    from datetime import datetime, timezone

    p = Problems()
    timestamp(value, name, p)
    if p:
        raise LrsError(400, "; ".join(p))
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def statements_route(ctx: Any) -> Response:
    if ctx.method in ("GET", "HEAD"):
        response = _get(ctx)
        if ctx.method == "HEAD":
            return Response(status_code=response.status_code, headers=dict(response.headers))
        return response
    if ctx.method not in ("PUT", "POST"):
        raise LrsError(405, f"{ctx.method} is not a method of /statements")
    documents, parts = _body(ctx)
    if ctx.method == "PUT":
        statement_id = ctx.params.get("statementId")
        if statement_id is None:
            raise LrsError(400, "statementId: PUT needs the statement's id as a parameter")
        if not UUID_RE.match(statement_id):
            raise LrsError(400, f"statementId: {statement_id!r} is not a UUID")
        if not isinstance(documents, dict):
            raise LrsError(400, "PUT takes one statement (a JSON object)")
        if "id" in documents and str(documents["id"]).lower() != statement_id.lower():
            raise LrsError(400, "statementId: does not match the statement's id")
        documents = {**documents, "id": statement_id.lower()}
    batch = documents if isinstance(documents, list) else [documents]
    if isinstance(documents, list) and not documents:
        raise LrsError(400, "the array holds no statements")
    ids = ctx.core.post(batch, authority=ctx.authority, version=ctx.version, parts=parts,
                        check_parts=_check_attachments)
    return Response(status_code=204) if ctx.method == "PUT" else JSONResponse(ids)


def _body(ctx: Any) -> tuple[Any, dict[str, tuple[str, bytes]]]:
    media = ctx.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/mixed":
        return _multipart(ctx)
    if media != "application/json":
        raise LrsError(400, f"Content-Type: send application/json or multipart/mixed, not {media or 'nothing'!r}")
    return ctx.json(), {}


def _multipart(ctx: Any) -> tuple[Any, dict[str, tuple[str, bytes]]]:
    head = f"Content-Type: {ctx.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + ctx.body)
    if not message.is_multipart():
        raise LrsError(400, "Content-Type: the multipart/mixed body has no parts")
    parts = list(message.iter_parts())
    if not parts or parts[0].get_content_type() != "application/json":
        raise LrsError(400, "the first part of a multipart/mixed body must be the application/json statements")
    try:
        documents = json.loads(parts[0].get_payload(decode=True))
    except (ValueError, TypeError) as error:
        raise LrsError(400, f"the statements part is not JSON: {error}") from None
    found: dict[str, tuple[str, bytes]] = {}
    for i, part in enumerate(parts[1:], 1):
        sha2 = part.get("X-Experience-API-Hash")
        if not sha2:
            raise LrsError(400, f"part {i}: X-Experience-API-Hash is required on every attachment part")
        if part.get("Content-Transfer-Encoding", "binary").lower() != "binary":
            raise LrsError(400, f"part {i}: Content-Transfer-Encoding must be binary")
        content = part.get_payload(decode=True) or b""
        if hashlib.sha256(content).hexdigest() != sha2.lower():
            raise LrsError(400, f"part {i}: the content's SHA-256 is not its X-Experience-API-Hash")
        found[sha2.lower()] = (part.get_content_type(), content)
    return documents, found


def _check_attachments(prepared: list[Prepared], parts: dict[str, tuple[str, bytes]]) -> None:
    from xapi.signatures import check_signature

    wanted = set()
    for p in prepared:
        for a in p.statement.get("attachments", []):
            if a["sha2"].lower() in parts:
                wanted.add(a["sha2"].lower())
            elif "fileUrl" not in a:
                raise LrsError(400, f"attachment {a['sha2']}: no part carries it and it has no fileUrl")
            if a["usageType"] == SIGNATURE:
                part = parts.get(a["sha2"].lower())
                if part is None:
                    raise LrsError(400, "a signature attachment must be sent as a part")
                check_signature(p.statement, part[1], a["contentType"])
    extra = set(parts) - wanted
    if extra:
        raise LrsError(400, f"parts {', '.join(sorted(extra))} match no attachment of the statements")


def _get(ctx: Any) -> Response:
    params = ctx.params
    unknown = set(params) - QUERY_PARAMS
    if unknown:
        raise LrsError(400, f"{', '.join(sorted(unknown))}: not a parameter of GET /statements")
    if "more" in params:
        after, params = read_token(params["more"])
    else:
        after = None
    fmt = params.get("format", "exact")
    if fmt not in ("exact", "ids", "canonical"):
        raise LrsError(400, f"format: must be exact, ids or canonical, not {fmt!r}")
    attachments = _bool(params, "attachments")
    languages = accept_languages(ctx.headers.get("accept-language"))
    single = [k for k in ("statementId", "voidedStatementId") if k in params]
    headers = {"X-Experience-API-Consistent-Through": ctx.statements.consistent_through()}
    if single:
        allowed = {"statementId", "voidedStatementId", "format", "attachments"}
        if len(single) > 1 or set(params) - allowed:
            raise LrsError(400, f"{single[0]}: may come only with format and attachments")
        wanted = params[single[0]]
        statement = ctx.statements.one(wanted, voided=single[0] == "voidedStatementId") \
            if UUID_RE.match(wanted) else None
        if statement is None:
            raise LrsError(404, f"{single[0]}: no {'voided ' if single[0] != 'statementId' else ''}statement {wanted}")
        headers["Last-Modified"] = _http_date(statement["stored"])
        return _respond(shown(statement, fmt, languages), [statement], attachments, ctx, headers)
    agent = None
    if "agent" in params:
        try:
            value = json.loads(params["agent"])
        except ValueError:
            raise LrsError(400, "agent: is not JSON") from None
        p = Problems()
        check_agent(value, "agent", p)
        if p:
            raise LrsError(400, "; ".join(p))
        agent = ifi(value)
    for name in ("verb", "activity"):
        if name in params:
            p = Problems()
            iri(params[name], name, p)
            if p:
                raise LrsError(400, "; ".join(p))
    if "registration" in params and not UUID_RE.match(params["registration"]):
        raise LrsError(400, f"registration: {params['registration']!r} is not a UUID")
    try:
        limit = int(params.get("limit", "0"))
        if limit < 0:
            raise ValueError
    except ValueError:
        raise LrsError(400, f"limit: must be a whole number, not {params.get('limit')!r}") from None
    limit = MAX_LIMIT if limit == 0 else min(limit, MAX_LIMIT)
    ascending = _bool(params, "ascending")
    found, more = ctx.statements.query(
        agent=agent, verb=params.get("verb"), activity=params.get("activity"),
        registration=params.get("registration"), related_agents=_bool(params, "related_agents"),
        related_activities=_bool(params, "related_activities"),
        since=_utc(params["since"], "since") if "since" in params else None,
        until=_utc(params["until"], "until") if "until" in params else None,
        limit=limit, ascending=ascending, after=after)
    body = {"statements": [shown(s, fmt, languages) for s in found],
            "more": f"/xapi/statements?{urlencode({'more': cursor_token(more, params)})}" if more else ""}
    return _respond(body, found, attachments, ctx, headers)


def _respond(body: Any, statements: list[dict[str, Any]], attachments: bool, ctx: Any,
             headers: dict[str, str]) -> Response:
    if not attachments:
        return JSONResponse(body, headers=headers)
    boundary = uuidlib.uuid4().hex
    chunks = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(), json.dumps(body).encode(), b"\r\n"]
    for sha2 in sorted({a["sha2"].lower() for s in statements for a in s.get("attachments", [])}):
        stored = ctx.statements.attachment(sha2)
        if stored is None:
            continue
        content_type, content = stored
        chunks += [f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n"
                   f"X-Experience-API-Hash: {sha2}\r\n\r\n".encode(), content, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks), media_type=f"multipart/mixed; boundary={boundary}", headers=headers)


def _http_date(iso: str) -> str:
    from datetime import datetime
    from email.utils import format_datetime

    return format_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")), usegmt=True)


def activities_route(ctx: Any) -> Response:
    if ctx.method not in ("GET", "HEAD"):
        raise LrsError(405, "/activities is read-only")
    activity_id = ctx.params.get("activityId")
    if activity_id is None:
        raise LrsError(400, "activityId: is required")
    p = Problems()
    iri(activity_id, "activityId", p)
    if p:
        raise LrsError(400, "; ".join(p))
    return JSONResponse(ctx.statements.activity(activity_id))


def agents_route(ctx: Any) -> Response:
    if ctx.method not in ("GET", "HEAD"):
        raise LrsError(405, "/agents is read-only")
    if "agent" not in ctx.params:
        raise LrsError(400, "agent: is required")
    try:
        value = json.loads(ctx.params["agent"])
    except ValueError:
        raise LrsError(400, "agent: is not JSON") from None
    p = Problems()
    check_agent(value, "agent", p, group_ok=False)
    if p:
        raise LrsError(400, "; ".join(p))
    person: dict[str, Any] = {"objectType": "Person"}
    if "name" in value:
        person["name"] = [value["name"]]
    for key in ("mbox", "mbox_sha1sum", "openid", "account"):
        if key in value:
            person[key] = [value[key]]
    return JSONResponse(person)
