"""Credit routes for finding what to approve and fetching what was awarded: the proposals and
awards list, and an award's Open Badges credential (refused as `ledger credit badge` refuses it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from ledger import access
from ledger.access import Denial, Grant

router = APIRouter(tags=["credit"])
_KEY = APIKeyHeader(name="X-API-Key", auto_error=False,
                    description="A key made with `ledger keys create`; it carries a role and a school.")
ISSUER_ID, ISSUER_NAME = "urn:mastery-ledger:district", "District registrar"  # as `ledger credit badge`


def _refused(status: int, reason: str, field: str | None = None) -> Exception:
    from api.app import Refused  # api.app includes this router: import it once both are loaded

    return Refused(status, reason, field)


def _service(request: Request):
    return request.app.state.service


def _grant(request: Request, key: Annotated[str | None, Depends(_KEY)]) -> Grant:
    if not key:
        raise _refused(401, "send an API key in the X-API-Key header")
    grant, reason = _service(request).grant_for(key)
    if grant is None:
        raise _refused(401, reason)
    return grant


Key = Annotated[Grant, Depends(_grant)]


def may_list_credits(grant: Grant) -> tuple[Denial | None, str | None]:
    """(why not, or None; the one school a school key sees, or None for every school)."""
    if grant.role in ("registrar", "district_admin"):
        return None, None
    if grant.role == "school":
        return None, grant.school_id
    return Denial(f"a {grant.role} key cannot list credit decisions"), None


@router.get("/v1/credits", responses={403: {"description": "the key may not list credits"},
                                      422: {"description": "unknown status"}})
def list_credits(request: Request, grant: Key,
                 status: Annotated[str | None, Query(max_length=32, description="Only this status.")] = None
                 ) -> JSONResponse:
    """Proposals and awards with their status, from the read models: everything for registrar
    and district_admin keys, the learners of its school for a school key."""
    from api.app import _json
    from projections.queries import credits

    denial, school = may_list_credits(grant)
    if denial is not None:
        raise _refused(403, denial.reason)
    try:
        with _service(request).reading() as con:
            rows = credits(con, status=status, school=school)
    except ValueError as error:
        raise _refused(422, str(error), "status") from None
    rows = _service(request).ledger.shredder.reveal(rows)  # reasons are sealed in the read model
    return _json({"status": status, "credits": rows})


@router.get("/v1/learners/{learner_id}/credits/{course_id}/badge",
            responses={404: {"description": "no such learner, or no award in the course"},
                       409: {"description": "the award is revoked or flagged, or the log does not verify"}})
def credit_badge(request: Request, grant: Key,
                 learner_id: Annotated[str, Path(description="A learner id.", examples=["L1"])],
                 course_id: Annotated[str, Path(description="A course id.", examples=["CRS-1"])]) -> JSONResponse:
    """The award as an Open Badges 3.0 credential (unsigned), for whoever may read the learner."""
    from api.app import ID
    from credentials.badges import open_badge
    from ledger.learners import learner_facts
    from projections.credential_checks import Refusal, issuable

    svc = _service(request)
    if not ID.match(learner_id) or not ID.match(course_id):
        raise _refused(404, "no such learner or course (ids are letters, digits and . _ : -)")
    denial = _may_read(svc, grant, learner_id, learner_facts)
    if denial is not None:
        raise denial
    try:
        found = issuable(svc.ledger, learner_id, course_id)
    except Refusal as refusal:
        raise _refused(404 if "holds no awarded credit" in str(refusal) else 409, str(refusal)) from None
    from ledger.anchor import decision_anchor  # the award's checkpoint and inclusion proofs, as the CLI's

    credential: dict[str, Any] = open_badge(found.award, found.course, found.competencies, issuer_id=ISSUER_ID,
                                            issuer_name=ISSUER_NAME, anchor=decision_anchor(svc.ledger, found.award),
                                            sources=found.sources)
    return JSONResponse(credential)


def _may_read(svc, grant: Grant, learner_id: str, learner_facts) -> Exception | None:
    # As the learner routes decide: a refusal is worth one read of the store itself.
    for fresh in (False, True):
        facts = learner_facts(svc.ledger, learner_id, fresh=fresh)
        denial = access.may_read_learner(grant, learner_school=facts.school_id,
                                         learner_advisors=set(facts.advisors)) if facts.enrolled else None
        if facts.enrolled and denial is None:
            return None
    if not facts.enrolled:
        return _refused(404, f"learner {learner_id} is not enrolled")
    return _refused(403, denial.reason)
