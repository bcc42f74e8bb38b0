"""The HTTP API of `ledger serve`: the same use cases as the CLI, behind API keys with roles.

Every refusal is JSON `{"error": reason}` (and `field` where one field is at fault) with a
4xx status; nothing a client sends produces a 5xx."""


import json
import re
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.credits import router as credit_routes
from api.credentials import router as credential_routes
from api.edges import RequestLog
from api.metrics import CONTENT_TYPE, Metrics, metrics_token_ok
from api.guard import BODY_TIMEOUT_SECONDS, MAX_BATCH, MAX_BODY_BYTES, BadBody, BodyGuard, json_documents
from api.service import Service
from api.checkpoints import router as checkpoint_routes
from ledger import access
from ledger.access import Denial, Grant
from ledger.config import Settings
from ledger.intake import Rejection, parse
from ledger.learners import learner_facts

# \Z, not $: `$` also matches before a trailing newline, so "lrn-1\n" would pass.
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                          description="A key made with `ledger keys create`; it carries a role and a school.")


class Refused(Exception):
    def __init__(self, status: int, reason: str, field: str | None = None, counted: bool = False) -> None:
        super().__init__(reason)
        self.status, self.reason, self.field, self.counted = status, reason, field, counted


def _refusal(status: int, reason: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": reason, **({"field": field} if field else {})}, status_code=status)


EVENT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "oneOf": [
            {"$ref": "#/components/schemas/PostedEvent"},
            {"type": "array", "items": {"$ref": "#/components/schemas/PostedEvent"}, "minItems": 1,
             "maxItems": MAX_BATCH},
        ]}}},
}
POSTED_EVENT_SCHEMA = {
    "type": "object",
    "description": "One event of the catalogue (see schemas/ for each type's full JSON Schema).",
    "required": ["event_id", "type", "schema_version", "actor", "demonstrated_at", "payload"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid"}, "type": {"type": "string"},
        "schema_version": {"type": "integer"}, "learner_id": {"type": "string"}, "school_id": {"type": "string"},
        "actor": {"type": "object", "properties": {"id": {"type": "string"}, "role": {"type": "string"}}},
        "demonstrated_at": {"type": "string", "format": "date-time"}, "payload": {"type": "object"},
    },
}


def create_app(settings: Settings | None = None, *, project: bool = True, service: Service | None = None,
               body_timeout: float = BODY_TIMEOUT_SECONDS) -> FastAPI:
    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = service or Service(settings, project=project)
        yield
        app.state.service.close()

    app = FastAPI(title="Mastery ledger", version="1", lifespan=lifespan,
                  description="Competency evidence in, mastery and credit out. "
                              f"Bodies are JSON, at most {MAX_BODY_BYTES} bytes.")
    app.add_middleware(BodyGuard, body_timeout=body_timeout)
    from api.privacy import DisclosureRecorder

    app.add_middleware(DisclosureRecorder)  # every read of a learner's record on the record of disclosures
    # The web pages (web/) take HTML form posts and sessions, not keys and JSON: routed past the
    # guard, inside the request log.
    from web.routes import mount as mount_pages

    mount_pages(app)
    # Outermost: it logs and counts every request, the guard's refusals included.
    app.state.metrics = Metrics(positions=lambda: app.state.service.positions(),
                                events=lambda: app.state.service.event_outcomes())
    app.add_middleware(RequestLog, metrics=app.state.metrics)
    # Outermost of all: /xapi/ is the LRS (HTTP Basic, multipart bodies), past the /v1 guard.
    from xapi.http import mount as mount_lrs

    mount_lrs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["PostedEvent"] = POSTED_EVENT_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(checkpoint_routes)
    app.include_router(credit_routes)
    app.include_router(credential_routes)
    from api.privacy import router as privacy_routes

    app.include_router(privacy_routes)  # erasure and the record of disclosures (api/privacy.py)

    @app.exception_handler(Refused)
    async def _refused(request: Request, error: Refused) -> JSONResponse:
        if error.status in (401, 403):  # a word for /metrics: reasons carry ids and client-chosen values
            request.state.refusal = ("forbidden" if error.status == 403 else
                                     "bad_key" if request.headers.get("x-api-key") else "missing_key")
        return _refusal(error.status, error.reason, error.field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return _refusal(422, first.get("msg", "invalid request"), field or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _refusal(error.status_code, str(error.detail))

    def service_of(request: Request) -> Service:
        return request.app.state.service

    def grant_of(request: Request, key: Annotated[str | None, Depends(KEY_HEADER)]) -> Grant:
        if not key:
            raise Refused(401, "send an API key in the X-API-Key header")
        grant, reason = service_of(request).grant_for(key)
        if grant is None:
            raise Refused(401, reason)
        return grant

    LearnerId = Annotated[str, Path(description="A learner id.", examples=["L1"])]
    CourseId = Annotated[str, Path(description="A course id.", examples=["CRS-1"])]
    Svc = Annotated[Service, Depends(service_of)]
    Key = Annotated[Grant, Depends(grant_of)]

    def allow(denial: Denial | None) -> None:
        if denial is not None:
            raise Refused(403, denial.reason)

    def learner(svc: Service, grant: Grant, learner_id: str, *, own_records: bool = False):
        """The learner's facts if this grant may read them; `own_records`: the caller shows a
        former school only the events it recorded (access.own_records_only), else it is refused."""
        if not ID.match(learner_id):
            raise Refused(404, "no such learner (ids are letters, digits and . _ : -)")
        def decide(fresh: bool):
            facts = learner_facts(svc.ledger, learner_id, fresh=fresh)
            if not facts.enrolled:
                return facts, Denial("not enrolled")
            return facts, access.may_read_learner(grant, learner_school=facts.school_id,
                                                  learner_advisors=set(facts.advisors),
                                                  former_schools=facts.former_schools)

        facts, denial = decide(fresh=False)
        if denial is not None:  # a refusal is worth one read of the store itself
            facts, denial = decide(fresh=True)
        if not facts.enrolled:
            raise Refused(404, f"learner {learner_id} is not enrolled")
        allow(denial)
        if not own_records:
            allow(access.may_read_whole_record(grant, learner_school=facts.school_id,
                                               former_schools=facts.former_schools))
        return facts

    # --- health ------------------------------------------------------------------------------

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, Any]:
        """The process is up."""
        return {"ok": True}

    @app.get("/ready", tags=["operations"], responses={503: {"description": "store or read models unavailable"}})
    def ready(svc: Svc) -> JSONResponse:
        """The store answers and the read models are being kept up to date."""
        try:
            status = svc.status()
        except Exception as error:  # the store itself is down: say so, do not crash
            return _refusal(503, f"store unavailable: {type(error).__name__}: {error}")
        ok = status["projector_error"] is None
        return JSONResponse({"ok": ok, **status}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
        401: {"description": "no operator key or metrics token"}, 403: {"description": "not an operator key"}})
    def metrics(request: Request, svc: Svc, key: Annotated[str | None, Depends(KEY_HEADER)]) -> Response:
        """Prometheus metrics: requests and latency per route and status, refusals by kind,
        posting outcomes, projection lag, relay and ingest positions. Needs an operator key
        (registrar, district_admin) or `Authorization: Bearer $LEDGER_METRICS_TOKEN`."""
        if not metrics_token_ok(request.headers.get("authorization")):
            allow(access.may_operate(grant_of(request, key)))
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)

    # --- posting -----------------------------------------------------------------------------

    @app.post("/v1/events", tags=["events"], openapi_extra={"requestBody": EVENT_BODY}, responses={
        200: {"description": "duplicate (nothing new stored), or a batch's outcomes"},
        201: {"description": "accepted"}, 400: {"description": "not JSON"},
        401: {"description": "no or bad key"}, 403: {"description": "the key may not post this"},
        409: {"description": "the event id was recorded with different content"},
        413: {"description": "too large"}, 415: {"description": "not JSON"},
        422: {"description": "the event breaks the catalogue or the ledger's rules"}})
    async def post_events(request: Request, svc: Svc, grant: Key) -> JSONResponse:
        """Record one event (an object) or a batch (an array): the same validation and
        idempotency as `ledger post`. In a batch every valid event is recorded; if the key may
        not post any one of them, the whole batch is refused with 403 and nothing is stored."""
        try:
            documents, batch = json_documents(await request.body())
        except BadBody as error:
            raise Refused(error.status, error.reason) from None
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_post, svc, grant, documents, batch)

    def _post(svc: Service, grant: Grant, documents: list[Any], batch: bool) -> JSONResponse:
        raws = [json.dumps(d).encode() if isinstance(d, dict) else b"" for d in documents]
        with svc.write_lock:
            parsed = [parse(raw) if raw else Rejection("", "each event must be a JSON object") for raw in raws]
            for index, item in enumerate(parsed):
                if isinstance(item, Rejection):
                    continue
                denial = _may_post(svc, grant, item.event)
                if denial is not None:
                    where = f" (event {index} of the batch)" if batch else ""
                    raise Refused(403, denial.reason + where)
            outcomes = list(svc.ledger.record(parsed))
        results = []
        for outcome in outcomes:
            result: dict[str, Any] = {"index": outcome.index, "status": outcome.status, "event_id": outcome.event_id}
            if outcome.rejection is not None:
                conflict = outcome.rejection.reason.startswith("conflict")
                result.update(status="conflict" if conflict else "rejected", field=outcome.rejection.field or None,
                              reason=outcome.rejection.reason)
            results.append(result)
            svc.count(f"events {result['status']}")
        if not batch:
            status = {"accepted": 201, "duplicate": 200, "conflict": 409, "rejected": 422}[results[0]["status"]]
            return JSONResponse(results[0], status_code=status)
        counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate", "conflict", "rejected")}
        status = 422 if counts["rejected"] else 409 if counts["conflict"] else 200
        return JSONResponse({**counts, "results": results}, status_code=status)

    def _may_post(svc: Service, grant: Grant, event: Any) -> Denial | None:
        def decide(fresh: bool) -> Denial | None:
            facts = learner_facts(svc.ledger, event.learner_id, fresh=fresh) if event.learner_id else None
            return access.may_post(
                grant, kind=event.kind, actor_role=event.actor.role, actor_id=event.actor.id,
                event_school=event.school_id, learner_school=facts.school_id if facts else None,
                learner_advisors=set(facts.advisors) if facts else set(), event_type=event.type)

        # A refusal is worth one read of the store itself (another process may have just enrolled
        # the learner or assigned the advisor).
        return decide(fresh=False) and decide(fresh=True)

    # --- reading -----------------------------------------------------------------------------

    def when(value: str | None, name: str) -> date | datetime | None:
        if value is None:
            return None
        from projections.queries import parse_moment

        try:
            return parse_moment(value)
        except ValueError as error:
            raise Refused(422, str(error), name) from None

    @app.get("/v1/learners/{learner_id}/events", tags=["learners"])
    def learner_events(learner_id: LearnerId, svc: Svc, grant: Key) -> dict[str, Any]:
        """The learner's events in order, each with its chain hash."""
        facts = learner(svc, grant, learner_id, own_records=True)
        school = access.own_records_only(grant, learner_school=facts.school_id, former_schools=facts.former_schools)
        return {"learner_id": learner_id, "events": [
            {"version": e.position, "hash": e.hash, "event": e.event} for e in svc.ledger.learner_events(learner_id)
            if school is None or e.event["school_id"] == school]}

    @app.get("/v1/learners/{learner_id}/state", tags=["learners"])
    def learner_state(learner_id: LearnerId, svc: Svc, grant: Key,
                      as_of: Annotated[str | None, Query(description="What was true on this date.")] = None,
                      known_at: Annotated[str | None, Query(description="What the ledger knew then.")] = None
                      ) -> JSONResponse:
        """Competency states, now or on a date on either time axis."""
        from projections import queries

        learner(svc, grant, learner_id)
        on, known = when(as_of, "as_of"), when(known_at, "known_at")
        with svc.reading() as con:
            rows = queries.competency_states(con, learner_id, as_of=on, known_at=known)
        return _json({"learner_id": learner_id, "as_of": as_of, "known_at": known_at, "competencies": rows})

    @app.get("/v1/learners/{learner_id}/plans", tags=["learners"])
    def learner_plans(learner_id: LearnerId, svc: Svc, grant: Key) -> JSONResponse:
        """Learning plans: goals, progress and pace."""
        from projections import queries

        learner(svc, grant, learner_id)
        with svc.reading() as con:
            return _json({"learner_id": learner_id, "plans": svc.ledger.shredder.reveal(queries.plans(con, learner_id))})

    @app.get("/v1/learners/{learner_id}/audits/{course_id}", tags=["credit"],
             responses={200: {"content": {"application/json": {}, "text/html": {}}}})
    def learner_audit(learner_id: LearnerId, course_id: CourseId, svc: Svc, grant: Key,
                      format: Annotated[str, Query(pattern="^(json|html)$")] = "json"):
        """How a credit was earned, every hash re-checked: JSON, or HTML for people."""
        from projections.audit import AuditError, build_audit
        from projections.audit_html import render_html

        learner(svc, grant, learner_id)
        try:
            report = build_audit(svc.ledger, learner_id, course_id)
        except AuditError as error:
            raise Refused(404, str(error)) from None
        return HTMLResponse(render_html(report)) if format == "html" else _json(report)

    # --- credit ------------------------------------------------------------------------------

    @app.post("/v1/credits/propose", tags=["credit"])
    def propose_credits(svc: Svc, grant: Key) -> JSONResponse:
        """Propose every credit whose rule the current states satisfy (registrar keys only)."""
        from consumers.credit_engine import propose_from

        allow(access.may_decide_credit(grant))
        svc.wait_projected(svc.ledger.head_position())
        with svc.write_lock, svc.reading() as con:
            run = propose_from(svc.ledger, con)
        return JSONResponse({"proposed": run.proposed, "rejected": run.rejected, "skipped": run.skipped})

    @app.post("/v1/learners/{learner_id}/credits/{course_id}/approve", tags=["credit"])
    def approve_credit(learner_id: LearnerId, course_id: CourseId, svc: Svc, grant: Key) -> JSONResponse:
        """Award the learner's latest credit proposal for the course (registrar keys only)."""
        from consumers.credit_engine import CreditError, approve

        allow(access.may_decide_credit(grant))
        learner(svc, grant, learner_id)
        try:
            with svc.write_lock:
                result = approve(svc.ledger, learner_id, course_id, grant.actor_id or grant.key_id)
        except CreditError as error:
            raise Refused(409, str(error)) from None
        return JSONResponse(result, status_code=201 if result["status"] == "accepted" else 200)

    @app.post("/v1/learners/{learner_id}/credits/{course_id}/revoke", tags=["credit"], openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["reason"],
            "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}}}}}})
    async def revoke_credit(learner_id: LearnerId, course_id: CourseId, request: Request, svc: Svc, grant: Key) -> JSONResponse:
        """Revoke an awarded credit, with a reason (registrar keys only)."""
        from starlette.concurrency import run_in_threadpool

        allow(access.may_decide_credit(grant))
        try:
            [body], _ = json_documents(await request.body())
        except (BadBody, ValueError) as error:
            raise Refused(getattr(error, "status", 400), getattr(error, "reason", "send one JSON object")) from None
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
            raise Refused(422, "a revocation needs a reason (1 to 2000 characters)", "reason")
        return await run_in_threadpool(_revoke, svc, grant, learner_id, course_id, reason)

    def _revoke(svc: Service, grant: Grant, learner_id: str, course_id: str, reason: str) -> JSONResponse:
        from consumers.credit_engine import CreditError, revoke

        learner(svc, grant, learner_id)
        try:
            with svc.write_lock:
                result = revoke(svc.ledger, learner_id, course_id, grant.actor_id or grant.key_id, reason)
        except CreditError as error:
            raise Refused(409, str(error)) from None
        return JSONResponse(result, status_code=201 if result["status"] == "accepted" else 200)

    @app.post("/v1/learners/{learner_id}/credits/{course_id}/confirm", tags=["credit"], openapi_extra={
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 2000}}}}}}})
    async def confirm_credit(learner_id: LearnerId, course_id: CourseId, request: Request, svc: Svc,
                             grant: Key) -> JSONResponse:
        """Record a registrar's review of a flagged award (`ledger credit confirm`): 409 if the
        rule no longer holds once the voided evidence is taken out (registrar keys only)."""
        from starlette.concurrency import run_in_threadpool

        allow(access.may_decide_credit(grant))
        raw = await request.body()
        note = None
        if raw.strip():
            try:
                [body], _ = json_documents(raw)
            except (BadBody, ValueError) as error:
                raise Refused(getattr(error, "status", 400), getattr(error, "reason", "send one JSON object")) from None
            note = body.get("note") if isinstance(body, dict) else None
            if note is not None and (not isinstance(note, str) or not note.strip() or len(note) > 2000):
                raise Refused(422, "a note is 1 to 2000 characters", "note")
        return await run_in_threadpool(_confirm, svc, grant, learner_id, course_id, note)

    def _confirm(svc: Service, grant: Grant, learner_id: str, course_id: str, note: str | None) -> JSONResponse:
        from consumers.credit_engine import CreditError, confirm

        learner(svc, grant, learner_id)
        try:
            with svc.write_lock:
                result = confirm(svc.ledger, learner_id, course_id, grant.actor_id or grant.key_id, note)
        except CreditError as error:
            raise Refused(409, str(error)) from None
        return JSONResponse(result, status_code=201 if result["status"] == "accepted" else 200)

    # --- ledger-wide ---------------------------------------------------------------------------

    @app.get("/v1/verify", tags=["operations"])
    def verify(svc: Svc, grant: Key) -> JSONResponse:
        """`ledger verify`: chains, streams, receipts, the Merkle tree against every signed checkpoint,
        credit awards; 200 when all hold, 409 naming what broke (the first 20 of each kind)."""
        from ledger.verification import verify_everything

        allow(access.may_operate(grant))
        report = verify_everything(svc.ledger, svc.ledger.anchor)
        body = {**report.as_dict(), "broken": report.broken[:20], "credit_problems": report.credit_problems[:20]}
        return JSONResponse(body, status_code=200 if report.ok else 409)

    @app.get("/v1/research/competency-states", tags=["research"])
    def research_states(svc: Svc, grant: Key,
                        competency_id: Annotated[str | None, Query(max_length=128)] = None,
                        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                        aggregates_only: bool = False) -> JSONResponse:
        """Competency states, de-identified: learners appear as stable pseudonyms, with no
        school and dates to the month; erased learners are left out. `aggregates_only=true`:
        per-competency counts and means over every learner (the erased too), no learner rows."""
        from projections.research_aggregates import competency_aggregates

        allow(access.may_read_research(grant))
        if aggregates_only:
            with svc.reading() as con:
                return _json({"aggregates": competency_aggregates(con, competency_id)})
        erased = sorted(svc.ledger.shredder.all_erased())
        with svc.reading() as con:
            rows = con.execute("""
                SELECT learner_id, competency_id, level, mastered, method, evidence_count,
                       strftime(first_demonstrated, '%Y-%m'), strftime(mastered_since, '%Y-%m')
                FROM competency_state WHERE ($competency IS NULL OR competency_id = $competency)
                  AND learner_id <> ALL($erased::VARCHAR[])
                ORDER BY learner_id, competency_id LIMIT $limit OFFSET $offset""",
                {"competency": competency_id, "limit": limit, "offset": offset, "erased": erased}).fetchall()
        names = ["competency_id", "level", "mastered", "method", "evidence_count", "first_month", "mastered_month"]
        return _json({"rows": [{"learner": svc.pseudonym(r[0]), **dict(zip(names, r[1:]))} for r in rows],
                      "limit": limit, "offset": offset})

    return app


def _json(value: Any) -> JSONResponse:
    return JSONResponse(json.loads(json.dumps(value, default=_plain)))


def _plain(value: Any) -> str:
    """Dates and times as ISO 8601; anything else JSON cannot hold, as text."""
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)
