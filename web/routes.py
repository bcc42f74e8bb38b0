"""The pages' routes: who is asking (the session), may they (ledger.access), what to show
(web.views), in their language (web.i18n). Forms post back here; every change needs the
session's CSRF token and goes through the same ledger calls as the API."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import access
from ledger.learners import learner_facts
from ledger.people import LANGUAGES, InviteError, People, Sessions, grant_of
from web import messages, views
from web.chart import mastery_svg
from web.i18n import iso, render, translations

COOKIE = "ledger_session"
router = APIRouter(prefix="/web", include_in_schema=False)
static = StaticFiles(directory=Path(__file__).parent / "static")


class PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _service(request: Request):
    return request.scope["ledger_service"]


def _sessions(request: Request) -> Sessions:
    state = request.app.state
    if not hasattr(state, "web_sessions"):
        state.web_sessions = Sessions(_service(request).settings)
        state.web_people = People(_service(request).settings)
    return state.web_sessions


def _people(request: Request) -> People:
    _sessions(request)
    return request.app.state.web_people


def _session(request: Request) -> dict[str, Any] | None:
    session = _sessions(request).read(request.cookies.get(COOKIE))
    if session is not None and not _people(request).session_live(session):
        return None  # revoked since it was issued: the signature alone does not keep it alive
    return session


def _language(request: Request, session: dict[str, Any] | None) -> str:
    wanted = (session or {}).get("language") or request.headers.get("accept-language", "en")[:2]
    return wanted if wanted in LANGUAGES else "en"


def page(request: Request, session: dict[str, Any] | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    language = _language(request, session)
    csrf = _sessions(request).csrf_token(session) if session else ""
    html = render(language, template, session=session, csrf=csrf, path=request.url.path, query=request.url.query,
                  **context)
    return HTMLResponse(html, status_code=status)


def _translated(request: Request, message: str) -> str:
    """A denial's or rejection's reason in the page's language (web.messages), fields kept."""
    return messages.translate(message, translations(_language(request, _session(request))).gettext)


def _set_cookie(request: Request, response: Response, value: str) -> None:
    # Lax, not Strict: the one-time link is followed from a mail client, and its page is a form.
    response.set_cookie(COOKIE, value, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=12 * 3600, path="/web")


def _signed_in(request: Request) -> dict[str, Any]:
    session = _session(request)
    if session is None:
        raise PageError(401, "sign in first")
    return session


async def _form(request: Request, session: dict[str, Any]) -> dict[str, str]:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not _sessions(request).csrf_ok(session, form.get("csrf")):
        raise PageError(403, "this form has expired or did not come from this site; reload the page and try again")
    return form


def _deny(denial: access.Denial | None) -> None:
    if denial is not None:
        raise PageError(403, denial.reason)


def _learner(request: Request, session: dict[str, Any], learner_id: str):
    svc = _service(request)
    grant = grant_of(session)
    for fresh in (False, True):  # a refusal is worth one read of the store itself, as in the API
        facts = learner_facts(svc.ledger, learner_id, fresh=fresh)
        denial = access.may_read_learner(grant, learner_school=facts.school_id, learner_advisors=set(facts.advisors),
                                         learner_id=learner_id) if facts.enrolled else access.Denial("not enrolled")
        if denial is None:
            return facts
    if not facts.enrolled and grant.role not in access.BOUND_ROLES:
        raise PageError(404, f"learner {learner_id} is not enrolled")
    raise PageError(403, denial.reason)


# What a page view states as its purpose on the record of disclosures: a person's own and a
# guardian's reads are implied by who they are; staff read as school officials, as the API's
# school and advisor keys do; a registrar's pages are the credit review.
PURPOSES = {"learner": "the learner's own record", "guardian": "parent or guardian of the learner",
            "advisor": "school official", "registrar": "registrar: credit review", "partner": "community partner placement"}


def _disclose(request: Request, session: dict[str, Any], learner_id: str, what: str) -> None:
    """Put this page view on the learner's record of disclosures (ledger.disclosures), before
    the page leaves, as the API does for its reads."""
    from ledger.disclosures import Reader

    reader = Reader(f"person:{session['person_id']}", session["role"], session.get("school_id"), f"page:{what}",
                    PURPOSES.get(session["role"], "school official"))
    _service(request).ledger.disclosure_log.record([learner_id], reader)


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PageError(422, f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None


def pages_app() -> FastAPI:
    pages = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    pages.mount("/web/static", static, name="web-static")
    pages.include_router(router)

    @pages.exception_handler(PageError)
    async def _page_error(request: Request, error: PageError) -> Response:
        if error.status == 401:
            return RedirectResponse("/web/sign-in", status_code=303)
        return page(request, _session(request), "error.html", status=error.status,
                    message=_translated(request, error.message))

    @pages.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        return page(request, _session(request), "error.html", status=error.status_code, message=str(error.detail))

    @pages.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return page(request, _session(request), "error.html", status=422, message=f"{field}: {first.get('msg')}")

    return pages


def mount(app: Any) -> None:
    """api/app.py's hook: a middleware sending /web/ to the pages with the ledger's Service in the
    scope, everything else on to the API (and its key and JSON guard)."""
    pages = pages_app()

    class Dispatch:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and (scope["path"] == "/web" or scope["path"].startswith("/web/")):
                await pages({**scope, "ledger_service": scope["app"].state.service}, receive, send)
                return
            await self.inner(scope, receive, send)

    app.add_middleware(Dispatch)


# --- signing in ------------------------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, code: str = "") -> HTMLResponse:
    return page(request, None, "sign_in.html", code=code, problem=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    code = str(form.get("code") or "")
    try:
        person = await run_in_threadpool(_people(request).redeem, code)
    except InviteError as error:
        return page(request, None, "sign_in.html", status=400, code="", problem=_translated(request, str(error)))
    response = RedirectResponse("/web/", status_code=303)
    _set_cookie(request, response, _sessions(request).issue(person))
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = _signed_in(request)
    await _form(request, session)
    # The cookie is deleted, and the session itself ended: a copy of the cookie no longer works.
    await run_in_threadpool(_people(request).revoke, session["person_id"], nonce=session["nonce"])
    response = RedirectResponse("/web/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/web")
    return response


@router.post("/language")
async def language(request: Request) -> Response:
    session = _signed_in(request)
    form = await _form(request, session)
    chosen = form.get("language") if form.get("language") in LANGUAGES else session["language"]
    back = form.get("back", "/web/")
    response = RedirectResponse(back if back.startswith("/web/") else "/web/", status_code=303)
    _set_cookie(request, response, _sessions(request).relabel(session, language=chosen))
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    session = _signed_in(request)
    role = session["role"]
    if role == "advisor":
        return RedirectResponse("/web/caseload", status_code=303)  # type: ignore[return-value]
    if role == "registrar":
        return RedirectResponse("/web/registrar", status_code=303)  # type: ignore[return-value]
    return page(request, session, "home.html", learners=session.get("learners") or [])


# --- a learner ---------------------------------------------------------------------------------


@router.get("/learners/{learner_id}", response_class=HTMLResponse)
def learner_profile(request: Request, learner_id: str, as_of: str | None = None) -> HTMLResponse:
    session = _signed_in(request)
    facts = _learner(request, session, learner_id)
    on = _day(as_of, "as_of")
    _disclose(request, session, learner_id, "profile")
    svc = _service(request)
    with svc.reading() as con:
        data = views.profile(con, learner_id, on)
        learner = views.learner_row(con, learner_id)
    language = _language(request, session)
    gettext = translations(language).gettext
    from web.i18n import environment

    day = environment(language).filters["day"]
    total = sum(c["total"] for c in data["courses"])
    chart = mastery_svg(data["series"], total=total, title=gettext("Competencies mastered over time"),
                        describe=lambda d, n: f"{day(d)}: {n}")
    return page(request, session, "profile.html", learner=learner, facts=facts, as_of=iso(on), chart=chart,
                **data)


@router.get("/learners/{learner_id}/plan", response_class=HTMLResponse)
def learner_plan(request: Request, learner_id: str, on: str | None = None) -> HTMLResponse:
    session = _signed_in(request)
    _learner(request, session, learner_id)
    day = _day(on, "on")
    _disclose(request, session, learner_id, "plan")
    from projections import queries

    with _service(request).reading() as con:
        plans = queries.plans(con, learner_id, today=day)
    return page(request, session, "plan.html", learner_id=learner_id, plans=plans, on=iso(day))


@router.get("/learners/{learner_id}/audits/{course_id}")
def learner_audit(request: Request, learner_id: str, course_id: str) -> HTMLResponse:
    """The printable audit of `ledger audit`, as the API serves it."""
    from projections.audit import AuditError, build_audit
    from projections.audit_html import render_html

    session = _signed_in(request)
    _learner(request, session, learner_id)
    try:
        audit = build_audit(_service(request).ledger, learner_id, course_id)
    except AuditError as error:
        raise PageError(404, str(error)) from None
    _disclose(request, session, learner_id, "audit")
    return HTMLResponse(render_html(audit))


@router.get("/learners/{learner_id}/credits/{course_id}/badge")
def learner_badge(request: Request, learner_id: str, course_id: str) -> Response:
    """The signed Open Badge of an award, for a person who may read the learner (the profile
    links it). The same checks as the API's and `ledger credential badge`: a revoked or flagged
    credit, or a log that does not verify, yields no credential."""
    from credentials.service import badge
    from projections.credential_checks import Refusal

    session = _signed_in(request)
    _learner(request, session, learner_id)
    svc = _service(request)
    try:
        credential = badge(svc.ledger, svc.settings.home, learner_id, course_id)
    except Refusal as refusal:
        raise PageError(404 if "holds no awarded credit" in str(refusal) else 409, str(refusal)) from None
    _disclose(request, session, learner_id, "badge")
    return Response(json.dumps(credential, indent=2), media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="badge-{learner_id}-{course_id}.json"'})


# --- advisors ------------------------------------------------------------------------------------


@router.get("/caseload", response_class=HTMLResponse)
def caseload(request: Request, sort: str = "learner", behind: str = "", awaiting: str = "") -> HTMLResponse:
    session = _signed_in(request)
    if session["role"] != "advisor":
        raise PageError(403, "the caseload is an advisor's page")
    with _service(request).reading() as con:
        rows = views.caseload(con, session["actor_id"], sort=sort, behind_only=bool(behind),
                              awaiting_only=bool(awaiting))
    return page(request, session, "caseload.html", rows=rows, sort=sort, behind=bool(behind),
                awaiting=bool(awaiting), sorts=views.CASELOAD_SORTS, done=request.query_params.get("done"))


@router.post("/learners/{learner_id}/sign-off")
async def sign_off(request: Request, learner_id: str) -> Response:
    session = _signed_in(request)
    form = await _form(request, session)
    facts = _learner(request, session, learner_id)
    problems = []
    if form.get("decision") not in ("approved", "needs_revision", "rejected"):
        problems.append("decision: choose approved, needs revision or rejected")
    if not (form.get("statement") or "").strip():
        problems.append("statement: say what you checked (it is kept with the sign-off)")
    if problems:
        raise PageError(422, "; ".join(problems))
    event = {"event_id": str(uuid.uuid4()), "type": "advisor.signed_off", "schema_version": 1,
             "learner_id": learner_id, "school_id": facts.school_id,
             "actor": {"id": session.get("actor_id"), "role": "advisor"},
             "demonstrated_at": datetime.now(timezone.utc).isoformat(),
             "payload": {"subject_event_id": form.get("event_id", ""), "decision": form["decision"],
                         "statement": form["statement"].strip()}}
    _deny(access.may_post(grant_of(session), kind="learner", actor_role="advisor", actor_id=session.get("actor_id"),
                          event_school=facts.school_id, learner_school=facts.school_id,
                          learner_advisors=set(facts.advisors)))
    await run_in_threadpool(_record, request, event)
    return RedirectResponse(f"/web/caseload?done={form['event_id'][:8]}", status_code=303)


def _record(request: Request, event: dict[str, Any]) -> None:
    svc = _service(request)
    with svc.write_lock:
        [outcome] = list(svc.ledger.post([json.dumps(event)]))
    if outcome.rejection is not None:
        raise PageError(422, str(outcome.rejection))
    svc.count(f"events {outcome.status}")
    svc.wait_projected(svc.ledger.head_position())


# --- registrars ---------------------------------------------------------------------------------------


@router.get("/registrar", response_class=HTMLResponse)
def registrar_queue(request: Request, school: str = "") -> HTMLResponse:
    session = _signed_in(request)
    _deny(access.may_decide_credit(grant_of(session)))
    with _service(request).reading() as con:
        queue = views.queue(con, school or None)
    return page(request, session, "queue.html", queue=queue, school=school)


@router.get("/learners/{learner_id}/credits/{course_id}", response_class=HTMLResponse)
def credit_decision(request: Request, learner_id: str, course_id: str) -> HTMLResponse:
    from projections.audit import AuditError, build_audit

    session = _signed_in(request)
    _learner(request, session, learner_id)
    try:
        report = build_audit(_service(request).ledger, learner_id, course_id)
    except AuditError as error:
        raise PageError(404, str(error)) from None
    _disclose(request, session, learner_id, "credit")
    may_decide = access.may_decide_credit(grant_of(session)) is None
    status = report["decision"]["status"].split(" ")[0]  # "proposed (awaiting a registrar)": the word is the key
    return page(request, session, "credit.html", learner_id=learner_id, course_id=course_id, report=report,
                credit_status=status, may_decide=may_decide, done=request.query_params.get("done"))


@router.post("/learners/{learner_id}/credits/{course_id}/{action}")
async def decide_credit(request: Request, learner_id: str, course_id: str, action: str) -> Response:
    from consumers.credit_engine import CreditError, approve, revoke

    session = _signed_in(request)
    form = await _form(request, session)
    _deny(access.may_decide_credit(grant_of(session)))
    _learner(request, session, learner_id)
    if action not in ("approve", "revoke"):
        raise PageError(404, f"no action {action!r}: approve or revoke")
    problems = [] if form.get("confirm") == "yes" else ["confirm: tick the box to say you have read the audit"]
    reason = (form.get("reason") or "").strip()
    if action == "revoke" and not 0 < len(reason) <= 2000:
        problems.append("reason: a revocation needs a reason (1 to 2000 characters)")
    if problems:
        raise PageError(422, "; ".join(problems))
    svc = _service(request)

    def decide() -> None:
        try:
            with svc.write_lock:
                if action == "approve":
                    approve(svc.ledger, learner_id, course_id, session["actor_id"])
                else:
                    revoke(svc.ledger, learner_id, course_id, session["actor_id"], reason)
        except CreditError as error:
            raise PageError(409, str(error)) from None
        svc.wait_projected(svc.ledger.head_position())

    await run_in_threadpool(decide)
    return RedirectResponse(f"/web/learners/{learner_id}/credits/{course_id}?done={action}", status_code=303)


# --- transfers ----------------------------------------------------------------------------------------


def _may_transfer(session: dict[str, Any]) -> None:
    # The catalogue lets a registrar (not an advisor) record a transfer, and it is the new
    # school's to record: the registrar's own school is the one the learner moves to.
    if session["role"] != "registrar":
        raise PageError(403, "only a registrar of the new school records a transfer")


@router.get("/transfers", response_class=HTMLResponse)
def transfer_form(request: Request) -> HTMLResponse:
    session = _signed_in(request)
    _may_transfer(session)
    return page(request, session, "transfer.html", done=request.query_params.get("done"))


@router.post("/transfers")
async def transfer(request: Request) -> Response:
    session = _signed_in(request)
    form = await _form(request, session)
    _may_transfer(session)
    learner_id, from_school = (form.get("learner_id") or "").strip(), (form.get("from_school_id") or "").strip()
    problems = [] if learner_id else ["learner_id: name the learner who moves"]
    if not from_school:
        problems.append("from_school_id: name the school the learner leaves")
    elif from_school == session["school_id"]:
        problems.append(f"from_school_id: the learner moves to {from_school}; name the school they leave")
    try:
        effective = date.fromisoformat(form.get("effective") or "")
    except ValueError:
        problems.append(f"effective: {form.get('effective')!r} is not a date (YYYY-MM-DD)")
    if form.get("confirm") != "yes":
        problems.append("confirm: tick the box to confirm the learner now attends your school")
    if problems:
        raise PageError(422, "; ".join(problems))
    facts = learner_facts(_service(request).ledger, learner_id, fresh=True)
    event = {"event_id": str(uuid.uuid4()), "type": "learner.transferred", "schema_version": 1,
             "learner_id": learner_id, "school_id": session["school_id"],
             "actor": {"id": session.get("actor_id"), "role": "registrar"},
             "demonstrated_at": datetime.now(timezone.utc).isoformat(),
             "payload": {"from_school_id": from_school, "to_school_id": session["school_id"],
                         "effective": effective.isoformat()}}
    _deny(access.may_post(grant_of(session), kind="learner", actor_role="registrar", actor_id=session.get("actor_id"),
                          event_school=session["school_id"], learner_school=facts.school_id,
                          learner_advisors=set(facts.advisors), event_type="learner.transferred"))
    await run_in_threadpool(_record, request, event)
    return RedirectResponse(f"/web/transfers?done={learner_id}", status_code=303)


# --- a school ------------------------------------------------------------------------------------------


@router.get("/schools/{school_id}", response_class=HTMLResponse)
def school(request: Request, school_id: str) -> HTMLResponse:
    session = _signed_in(request)
    _deny(access.may_read_school(grant_of(session), school_id))
    with _service(request).reading() as con:
        rows = views.school_overview(con, school_id)
    return page(request, session, "school.html", school_id=school_id, rows=rows)
