"""Credential routes: what a verifier anywhere may fetch without a key (the issuer's DID document
and profile, its status lists) and, for a key that may read the learner, signed badges and the
signed CLR transcript. The work is in `credentials.service`; these only translate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.credits import Key, _may_read, _refused, _service

router = APIRouter(tags=["credentials"])


def _issuer(request: Request):
    from credentials.issuer import IssuerError, load_or_default

    try:
        return load_or_default(_service(request).settings.home)
    except IssuerError as error:
        raise _refused(503, str(error)) from None


@router.get("/.well-known/did.json", summary="The issuer's DID document (did:web), every key it signed with")
def did_document(request: Request) -> JSONResponse:
    return JSONResponse(_issuer(request).did_document(), media_type="application/did+json")


@router.get("/v1/credentials/issuer", summary="The issuer's Open Badges Profile")
def issuer_profile(request: Request) -> JSONResponse:
    return JSONResponse(_issuer(request).profile())


@router.get("/credentials/status/{number}", summary="A signed Bitstring Status List credential (revocations)")
def status_list(request: Request, number: Annotated[int, Path(ge=0, le=100_000)]) -> JSONResponse:
    from credentials.service import status_list_credential

    return JSONResponse(status_list_credential(_service(request).ledger, _service(request).settings.home, number),
                        media_type="application/vc+ld+json")


def _readable(request: Request, grant, learner_id: str):
    from api.app import ID
    from ledger.learners import learner_facts

    if not ID.match(learner_id):
        raise _refused(404, "no such learner (ids are letters, digits and . _ : -)")
    denial = _may_read(_service(request), grant, learner_id, learner_facts)
    if denial is not None:
        raise denial


@router.get("/v1/learners/{learner_id}/credits/{course_id}/badge/signed",
            responses={409: {"description": "the award is revoked or flagged, or the log does not verify"}})
def signed_badge(request: Request, grant: Key, learner_id: str, course_id: str, jwt: bool = False) -> Response:
    """The award as a signed (eddsa-rdfc-2022) OpenBadgeCredential with its revocation status entry;
    with ?jwt=true the same credential as a VC-JWT (EdDSA)."""
    from credentials.service import badge, badge_jwt
    from projections.credential_checks import Refusal

    _readable(request, grant, learner_id)
    svc = _service(request)
    try:
        if jwt:
            return Response(badge_jwt(svc.ledger, svc.settings.home, learner_id, course_id), media_type="application/vc+jwt")
        return JSONResponse(badge(svc.ledger, svc.settings.home, learner_id, course_id))
    except Refusal as refusal:
        raise _refused(404 if "holds no awarded credit" in str(refusal) else 409, str(refusal)) from None


@router.get("/v1/learners/{learner_id}/transcript")
def transcript(request: Request, grant: Key, learner_id: str, html: bool = False):
    """The signed CLR 2.0 transcript (JSON), or with ?html=true its printable page."""
    from credentials.transcript import TranscriptError, signed_transcript
    from credentials.transcript_html import render

    _readable(request, grant, learner_id)
    svc = _service(request)
    try:
        clr, skipped = signed_transcript(svc.ledger, svc.settings.home, learner_id)
    except TranscriptError as error:
        raise _refused(404, str(error)) from None
    return HTMLResponse(render(clr, skipped)) if html else JSONResponse(clr)
