"""The LRS as an ASGI app: HTTP Basic auth against `lrs_client` keys, the version header, and
dispatch to the resources. Mounted by api/app.py in front of the ledger's own middleware (its
X-API-Key and JSON-only body checks are the /v1 API's, not xAPI's).

Every refusal is `{"error": reason}` with the spec's status; a 5xx only if the store fails."""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xapi.documents import documents_route
from xapi.service import LrsCore, authority
from xapi.statements import LrsError, now_iso
from xapi.statement_routes import activities_route, agents_route, statements_route

VERSIONS = ("2.0.0", "1.0.3")
# What a request that names no version is answered as (in the response's version header):
# a deployment whose clients are 1.0.3 LMSs sets LEDGER_XAPI_DEFAULT_VERSION=1.0.3.
DEFAULT_VERSION = os.environ.get("LEDGER_XAPI_DEFAULT_VERSION", "2.0.0")
MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class _Route:
    path: str


class Lrs:
    """Holds the LRS's core once the ledger's Service exists (it is made in the app's lifespan)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.core: LrsCore | None = None

    def resources(self, service: Any) -> LrsCore:
        with self._lock:
            if self.core is None:
                self.core = LrsCore(service.settings, service.ledger, service.write_lock)
        return self.core

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        resource = request.url.path.removeprefix("/xapi").rstrip("/")
        # The route label /metrics counts by (api.edges.RequestLog): the resource, never the raw path.
        scope["route"] = _Route(f"/xapi{resource}" if resource in ROUTES or resource == "/about" else "unmatched")
        try:
            response = await self.handle(request, scope["ledger_service"])
        except LrsError as error:
            response = JSONResponse({"error": error.reason}, status_code=error.status)
        declared = request.headers.get("x-experience-api-version") or DEFAULT_VERSION
        response.headers["X-Experience-API-Version"] = "1.0.3" if declared.startswith("1.0") else "2.0.0"
        if request.url.path.rstrip("/").endswith("/statements") and request.method in ("GET", "HEAD"):
            # On every answer to a statement query, errors included (XAPI-00153).
            response.headers["X-Experience-API-Consistent-Through"] = now_iso()
        await response(scope, receive, send)

    async def handle(self, request: Request, service: Any) -> Response:
        from starlette.concurrency import run_in_threadpool

        path = request.url.path.removeprefix("/xapi").rstrip("/")
        if path == "/about" and request.method in ("GET", "HEAD"):
            return JSONResponse({"version": list(VERSIONS), "extensions": {}})
        body = await request.body()
        if len(body) > MAX_BODY:
            raise LrsError(413, f"the body is larger than {MAX_BODY} bytes")
        view = _alternate(request, body) if "method" in request.query_params else \
            View(request.method, dict(request.query_params), request.headers, body)
        authority = _authorise(view.headers, service)
        version = view.headers.get("x-experience-api-version")
        if version is None:
            raise LrsError(400, "X-Experience-API-Version: the header is required")
        if version not in VERSIONS and not version.startswith(("2.0.", "1.0.")):
            raise LrsError(400, f"X-Experience-API-Version: {version} is not supported ({', '.join(VERSIONS)})")
        if view.alternate and not version.startswith("1.0"):
            raise LrsError(400, "method: xAPI 2.0 has no alternate request syntax")
        core = await run_in_threadpool(self.resources, service)
        ctx = Context(view, authority, version, core)
        route = ROUTES.get(path)
        if route is None:
            raise LrsError(404, f"{request.url.path}: no such xAPI resource")
        return await run_in_threadpool(route, ctx)


@dataclass
class View:
    """What a request asks, once a 1.0.3 alternate-syntax POST (method=..., headers and content
    in a form body) is unfolded into the request it stands for."""

    method: str
    params: dict[str, str]
    headers: Any
    body: bytes
    alternate: bool = False


def _alternate(request: Request, body: bytes) -> View:
    from urllib.parse import parse_qsl

    from starlette.datastructures import Headers

    method = request.query_params["method"].upper()
    if request.method != "POST" or set(request.query_params) != {"method"}:
        raise LrsError(400, "method: the alternate request syntax is a POST whose only parameter is method")
    if method not in ("GET", "PUT", "POST", "DELETE"):
        raise LrsError(400, f"method: {method!r} is not GET, PUT, POST or DELETE")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise LrsError(400, "Content-Type: the alternate request syntax sends application/x-www-form-urlencoded")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    names = {"authorization", "x-experience-api-version", "content-type", "content-length", "if-match",
             "if-none-match"}
    headers = {k.lower(): v for k, v in form.items() if k.lower() in names}
    for key in ("authorization", "x-experience-api-version"):
        if key not in headers and key in request.headers:
            headers[key] = request.headers[key]
    if "content" in form:
        headers.setdefault("content-type", "application/json")
    params = {k: v for k, v in form.items() if k.lower() not in names and k != "content"}
    return View(method, params, Headers(headers), form.get("content", "").encode(), alternate=True)


class Context:
    def __init__(self, view: View, authority: dict[str, Any], version: str, core: LrsCore) -> None:
        self.body, self.authority, self.version = view.body, authority, version
        self.core, self.statements, self.documents = core, core.statements, core.documents
        self.method, self.params, self.headers = view.method, view.params, view.headers

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise LrsError(400, f"the body is not JSON: {error}") from None


def _authorise(headers: Any, service: Any) -> dict[str, Any]:
    header = headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise LrsError(401, "send HTTP Basic credentials (an lrs_client key made with `ledger keys create`)")
    try:
        user, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise LrsError(401, "the Basic credentials are not base64 of user:password") from None
    grant, reason = service.grant_for(secret)
    if grant is None or user != grant.key_id:
        raise LrsError(401, reason or "the user is not the key's id")
    if grant.role != "lrs_client":
        raise LrsError(403, f"a {grant.role} key is not an LRS client key")
    return authority(grant.school_id, grant.key_id, grant.label or grant.key_id)


ROUTES = {
    "/statements": statements_route,
    "/activities": activities_route,
    "/agents": agents_route,
    "/activities/state": documents_route("state"),
    "/activities/profile": documents_route("activity_profile"),
    "/agents/profile": documents_route("agent_profile"),
}


def mount(app: Any) -> Any:
    """api/app.py's hook: an outermost middleware sending /xapi/ to the LRS with the ledger's
    Service in the scope, everything else on to the ledger's own app."""
    from api.edges import RequestLog

    lrs = Lrs()
    # The same access log and /metrics counters as /v1 requests (app.state.metrics is made first).
    logged = RequestLog(lrs, metrics=app.state.metrics)

    class Dispatch:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and (scope["path"] == "/xapi" or scope["path"].startswith("/xapi/")):
                await logged({**scope, "ledger_service": scope["app"].state.service}, receive, send)
                return
            await self.inner(scope, receive, send)

    app.add_middleware(Dispatch)
    return lrs
