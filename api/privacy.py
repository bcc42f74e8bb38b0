"""Personal data over HTTP: erasure (a district admin's), the record of disclosures (a
registrar's), and the middleware that puts every read of a learner's record on that record."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from api.credits import Key, _refused, _service

router = APIRouter(tags=["privacy"])

# The reads of a learner's identifiable record, by path: what each one discloses.
_READS = re.compile(r"^/v1/learners/([A-Za-z0-9][A-Za-z0-9._:-]{0,127})/"
                    r"(events|state|plans|audits/[^/]+|credits/[^/]+/badge)\Z")
_WHAT = {"events": "events", "state": "state", "plans": "plans", "audits": "audit", "credits": "badge"}
LearnerId = Annotated[str, Path(description="A learner id.", examples=["L1"])]


class DisclosureRecorder:
    """ASGI middleware: a read of a learner's record by a role that must state its purpose and
    did not (X-Purpose) is refused with 400; every read answered 2xx is recorded before the
    answer leaves (ledger.disclosures). Refusals (401, 403, 404) disclosed nothing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        found = _READS.match(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "GET" else None
        service = getattr(getattr(scope.get("app"), "state", None), "service", None)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        if found is None or service is None or not headers.get("x-api-key"):
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        from ledger.disclosures import PurposeMissing, Reader, stated_purpose

        grant, _ = await run_in_threadpool(service.grant_for, headers["x-api-key"])
        if grant is None:  # the route answers 401 with the reason
            await self.app(scope, receive, send)
            return
        try:
            purpose = stated_purpose(grant.role, headers.get("x-purpose"))
        except PurposeMissing as error:
            body = json.dumps({"error": str(error), "field": "X-Purpose"}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        learner, what = found.group(1), _WHAT[found.group(2).split("/")[0]]
        reader = Reader(grant.key_id, grant.role, grant.school_id, what, purpose)

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                await run_in_threadpool(service.ledger.disclosure_log.record, [learner], reader)
            await send(message)

        await self.app(scope, receive, recording_send)


@router.post("/v1/learners/{learner_id}/erase", responses={
    403: {"description": "only a district_admin key erases"}, 404: {"description": "no such learner"},
    422: {"description": "an unknown reason"}})
async def erase_learner(request: Request, grant: Key, learner_id: LearnerId) -> JSONResponse:
    """Erase a learner's personal data: records `person.erased` (no personal data) and destroys
    their data key. Body: {"reason": "data_subject_request" | "retention_ended" | "legal_order" |
    "other"}. Idempotent: a second call answers "already erased"."""
    from starlette.concurrency import run_in_threadpool

    from ledger.erasure import ErasureError, erase

    if grant.role != "district_admin":
        raise _refused(403, "only a district_admin key erases a person's data")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _refused(422, "the body is not JSON", "reason") from None
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        raise _refused(422, "reason is required (data_subject_request, retention_ended, legal_order, other)", "reason")
    try:
        done = await run_in_threadpool(erase, _service(request).ledger, learner_id, reason=reason,
                                       by=grant.actor_id or f"key-{grant.key_id}")
    except ErasureError as error:
        raise _refused(404 if "no learner" in str(error) else 422, str(error), "reason") from None
    return JSONResponse(done.as_dict())


@router.get("/v1/learners/{learner_id}/disclosures", responses={
    403: {"description": "only registrar and district_admin keys list disclosures"}})
def learner_disclosures(request: Request, grant: Key, learner_id: LearnerId) -> JSONResponse:
    """The record of disclosures of this learner's record, in order, and whether its chain holds."""
    if grant.role not in ("registrar", "district_admin"):
        raise _refused(403, "only registrar and district_admin keys list the record of disclosures")
    log = _service(request).ledger.disclosure_log
    return JSONResponse({"learner_id": learner_id, "disclosures": log.entries(learner_id),
                         "intact": not log.check()})
