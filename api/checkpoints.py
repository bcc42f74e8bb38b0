"""The anchored log over HTTP: the newest signed checkpoint and the key that signs them.

Any valid key may read them: a checkpoint says only how many events the log holds and the root
of their tree, and publishing it widely is what makes rewriting history detectable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader

from ledger.access import Grant

router = APIRouter(tags=["operations"])
_KEY = APIKeyHeader(name="X-API-Key", auto_error=False,
                    description="A key made with `ledger keys create`; it carries a role and a school.")


def _refused(status: int, reason: str) -> Exception:
    from api.app import Refused  # api.app includes this router: import it once both are loaded

    return Refused(status, reason)


def _grant(request: Request, key: Annotated[str | None, Depends(_KEY)]) -> Grant:
    if not key:
        raise _refused(401, "send an API key in the X-API-Key header")
    grant, reason = request.app.state.service.grant_for(key)
    if grant is None:
        raise _refused(401, reason)
    return grant


Key = Annotated[Grant, Depends(_grant)]


@router.get("/v1/checkpoints/latest", responses={404: {"description": "no checkpoint has been signed yet"}})
def latest_checkpoint(request: Request, grant: Key) -> JSONResponse:
    """The newest signed checkpoint {tree_size, root, time, key_id, log_position, signature}, and the
    public key (PEM) that verifies it. Keep a copy: `ledger verify --since` proves the log extends it."""
    from ledger.checkpoints import key_id, last_checkpoint, load_public_key

    anchor = request.app.state.service.ledger.anchor
    found = last_checkpoint(anchor.checkpoints_file)
    if found is None:
        raise _refused(404, "no checkpoint has been signed yet: post events or run `ledger checkpoint`")
    pem = anchor.public_key_file.read_text() if anchor.public_key_file.exists() else None
    return JSONResponse({"checkpoint": found.as_dict(), "public_key_pem": pem,
                         "public_key_id": key_id(load_public_key(pem)) if pem else None})


@router.get("/v1/checkpoints/public-key", response_class=PlainTextResponse,
            responses={404: {"description": "no key has been made yet"}})
def public_key(request: Request, grant: Key) -> PlainTextResponse:
    """The Ed25519 public key (PEM) whose SHA-256 is every checkpoint's key_id."""
    anchor = request.app.state.service.ledger.anchor
    if not anchor.public_key_file.exists():
        raise _refused(404, "no checkpoint key has been made yet")
    return PlainTextResponse(anchor.public_key_file.read_text(), media_type="application/x-pem-file")
