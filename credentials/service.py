"""Signed credentials from the ledger: a badge for an issuable award, the issuer's status lists,
the learner's CLR transcript. Refusals come from `projections.credential_checks`, the one place
that decides whether an award may leave the district."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from credentials import integrity, issuer as issuers, jwt as vc_jwt, status_list
from credentials.badges import open_badge
from credentials.verify import Verdict, verify, verify_jwt
from ledger.proofs import decision_anchor, position_of
from ledger.streams import stream_id
from projections.credential_checks import issuable


# VC v2 (final) has no @vocab, so an undefined term is dropped by RDFC-1.0 and left unsigned
# (pyld drops it silently; Digital Bazaar's safe mode refuses the credential). The anchor is
# therefore named, as a JSON literal: its inclusion proofs are checked as JSON, not as RDF. Only
# on request: verifiers that accept nothing but the pinned context URLs (openbadgeslib) refuse
# a credential with an inline context, so a signed badge leaves the anchor out by default.
ANCHOR_TERM = {"anchor": {"@id": "urn:mastery-ledger:vocab#anchor", "@type": "@json"}}


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def award_position(ledger: Any, award: dict[str, Any]) -> int:
    key = f"learner:{award['learner_id']}"
    version = next(e.position for e in ledger.stream_events(key) if e.event["event_id"] == award["event_id"])
    position = position_of(ledger.recorder, stream_id(key), version)
    if position is None:
        raise ValueError(f"award {award['event_id']} has no log position")
    return position


def revoked_positions(ledger: Any) -> set[int]:
    """Log positions of every award a `credit.revoked` event names (a full scan, done per request)."""
    awarded: dict[str, int] = {}
    revoked: set[str] = set()
    after = 0
    while batch := ledger.read(after, 10_000):
        for e in batch:
            if e.event["type"] == "credit.awarded":
                awarded[str(e.event["event_id"])] = e.position
            elif e.event["type"] == "credit.revoked":
                revoked.add(str(e.event["payload"]["credit_event_id"]))
        after = batch[-1].position
    return {awarded[i] for i in revoked if i in awarded}


def signed(document: dict[str, Any], issuer: issuers.Issuer) -> dict[str, Any]:
    return integrity.sign(document, issuer.private_key(), verification_method=issuer.method_id(), created=now())


def unsigned_badge(ledger: Any, home: Path, learner: str, course: str, *, with_anchor: bool = False
                   ) -> tuple[dict[str, Any], issuers.Issuer]:
    """The OpenBadgeCredential with its status entry, before any proof; `Refusal` (from
    credential_checks) when it may not be issued."""
    ok = issuable(ledger, learner, course)
    issuer = issuers.load_or_default(home)
    doc = open_badge(ok.award, ok.course, ok.competencies, issuer_id=issuer.did, issuer_name=issuer.name,
                     anchor=decision_anchor(ledger, ok.award) if with_anchor else None, sources=ok.sources)
    if "anchor" in doc:
        doc["@context"] = [*doc["@context"], ANCHOR_TERM]
    doc["credentialStatus"] = status_list.entry(issuer.base_url, award_position(ledger, ok.award))
    return doc, issuer


def badge(ledger: Any, home: Path, learner: str, course: str, *, with_anchor: bool = False) -> dict[str, Any]:
    """The signed (eddsa-rdfc-2022) OpenBadgeCredential."""
    return signed(*unsigned_badge(ledger, home, learner, course, with_anchor=with_anchor))


def badge_jwt(ledger: Any, home: Path, learner: str, course: str, *, with_anchor: bool = False) -> str:
    """The same credential as a VC-JWT (compact JWS, EdDSA, kid = the issuer's verification method)."""
    doc, issuer = unsigned_badge(ledger, home, learner, course, with_anchor=with_anchor)
    return vc_jwt.encode(doc, issuer.private_key(), kid=issuer.method_id())


def status_list_credential(ledger: Any, home: Path, number: int) -> dict[str, Any]:
    issuer = issuers.load_or_default(home)
    return signed(status_list.status_list_credential(issuer.base_url, number, issuer.did,
                                                     revoked_positions(ledger), now()), issuer)


def verify_here(doc: Any, ledger: Any | None, home: Path, extra_lists: list[dict[str, Any]] = ()) -> Verdict:
    """Verify with this issuer's keys (old ones too) and its status lists read from the log; `doc`
    is a credential with a Data Integrity proof, or a VC-JWT (a str)."""
    try:
        issuer = issuers.load(home)
        keys = issuer.public_keys()
    except issuers.IssuerError:
        issuer, keys = None, {}
    given = {d.get("id"): d for d in extra_lists if isinstance(d, dict)}

    def lookup(url: str) -> dict[str, Any] | None:
        if url in given:
            return given[url]
        if issuer is None or ledger is None or not url.startswith(status_list.list_url(issuer.base_url, 0)[:-1]):
            return None
        return status_list_credential(ledger, home, int(url.rsplit(":" if url.startswith("urn:") else "/", 1)[1]))
    if isinstance(doc, str):
        return verify_jwt(doc, keys=keys, status=lookup)
    return verify(doc, keys=keys, status=lookup)
