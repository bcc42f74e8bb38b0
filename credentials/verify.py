"""Checking a credential offline: the OB 3.0 / CLR 2.0 shape, validity dates, the proof, and the
revocation bit in its status list. Every check runs; the one-line verdict names each failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pyld import jsonld

from credentials import integrity, jwt as vc_jwt, status_list
from credentials.contexts import document_loader
from credentials.multikey import MultikeyError, public_from_multibase

KINDS = {"OpenBadgeCredential", "AchievementCredential", "ClrCredential", "BitstringStatusListCredential"}
StatusLookup = Callable[[str], "dict[str, Any] | None"]
_UNDEFINED = "urn:mastery-ledger:undefined-term#"


@dataclass
class Verdict:
    ok: bool
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    revoked: bool = False

    @property
    def line(self) -> str:
        return "valid: " + "; ".join(self.checks) if self.ok else "NOT valid: " + "; ".join(self.problems)


def resolver(known: dict[str, Ed25519PublicKey]) -> integrity.KeyResolver:
    """Keys by verification method id: a known issuer's, a did:key's own, or, for an https method
    whose fragment is a Multikey (how the 1EdTech fixtures name theirs), that fragment."""
    def resolve(method: str) -> Ed25519PublicKey:
        if method in known:
            return known[method]
        if method.startswith("did:key:"):
            return public_from_multibase(method.split("#")[0][len("did:key:"):])
        if method.startswith("https://") and "#z" in method:
            return public_from_multibase(method.split("#", 1)[1])
        raise MultikeyError(f"verification method {method} cannot be resolved offline")
    return resolve


def shape_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    contexts = doc.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != "https://www.w3.org/ns/credentials/v2":
        problems.append("@context: must be a list starting with https://www.w3.org/ns/credentials/v2")
    types = doc.get("type") if isinstance(doc.get("type"), list) else [doc.get("type")]
    if "VerifiableCredential" not in types or not KINDS & set(types):
        problems.append(f"type: {types}, expected VerifiableCredential and one of {sorted(KINDS)}")
    issuer = doc.get("issuer")
    if not (isinstance(issuer, str) or (isinstance(issuer, dict) and isinstance(issuer.get("id"), str))):
        problems.append("issuer: missing, or without an id")
    if not isinstance(doc.get("validFrom"), str):
        problems.append("validFrom: missing")
    subject = doc.get("credentialSubject")
    if not isinstance(subject, dict):
        problems.append("credentialSubject: missing")
    elif {"OpenBadgeCredential", "AchievementCredential"} & set(types) and not isinstance(subject.get("achievement"), dict):
        problems.append("credentialSubject.achievement: missing (an OB 3.0 credential names its achievement)")
    elif "ClrCredential" in types and not isinstance(subject.get("verifiableCredential"), list):
        problems.append("credentialSubject.verifiableCredential: missing (a CLR holds its credentials)")
    return problems


def _date(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def undefined_terms(doc: dict[str, Any]) -> list[str]:
    """Members no context of the credential defines. RDFC-1.0 drops them, so a Data Integrity proof
    does not cover them: a verifier that let them through would vouch for unsigned JSON (Digital
    Bazaar's safe mode refuses such a credential; pyld has no safe mode). Found as the VC 2.0
    specification suggests: a last context with a catch-all @vocab, then expansion."""
    probe = {**doc, "@context": [*(doc["@context"] if isinstance(doc.get("@context"), list) else [doc.get("@context")]),
                                 {"@vocab": _UNDEFINED}]}
    try:
        expanded = jsonld.expand(probe, {"documentLoader": document_loader()})
    except jsonld.JsonLdError:
        return []  # a context that cannot be read: the proof check names it
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key.startswith(_UNDEFINED):
                    found.add(key[len(_UNDEFINED):])
                if key == "@type":
                    found.update(t[len(_UNDEFINED):] for t in (value if isinstance(value, list) else [value])
                                 if isinstance(t, str) and t.startswith(_UNDEFINED))
                walk(value)
    walk(expanded)
    return sorted(found)


def verify(doc: Any, *, keys: dict[str, Ed25519PublicKey] | None = None, status: StatusLookup | None = None,
           now: datetime | None = None) -> Verdict:
    if not isinstance(doc, dict):
        return Verdict(False, ["the file is not a JSON object"])
    resolve = resolver(keys or {})
    verdict = _verdict(doc, integrity.verify(doc, resolve), resolve, status, now)
    undefined = undefined_terms(doc)
    if undefined:
        verdict.problems.append(f"undefined terms {', '.join(undefined)}: no context defines them, so the proof "
                                "does not cover them")
        verdict.ok = False
    return verdict


def verify_jwt(token: str, *, keys: dict[str, Ed25519PublicKey] | None = None, status: StatusLookup | None = None,
               now: datetime | None = None) -> Verdict:
    """A VC-JWT: its JWS signature and claims in place of the Data Integrity proof, then the same checks."""
    resolve = resolver(keys or {})
    try:
        doc, kid = vc_jwt.decode(token, resolve)
    except vc_jwt.JwtError as error:
        return Verdict(False, [str(error)])
    return _verdict(doc, integrity.ProofCheck(True, f"VC-JWT {vc_jwt.ALGORITHM} signature by {kid}", kid),
                    resolve, status, now)


def _verdict(doc: dict[str, Any], proof: integrity.ProofCheck, resolve: integrity.KeyResolver,
             status: StatusLookup | None, now: datetime | None) -> Verdict:
    now = now or datetime.now(timezone.utc)
    verdict = Verdict(True)
    verdict.problems += shape_problems(doc)
    if not verdict.problems:
        verdict.checks.append("OB 3.0 shape")
    start, end = _date(doc.get("validFrom")), _date(doc.get("validUntil")) if "validUntil" in doc else None
    if doc.get("validFrom") is not None and start is None:
        verdict.problems.append(f"validFrom: {doc.get('validFrom')!r} is not a date-time")
    elif start and start > now:
        verdict.problems.append(f"validFrom: not valid before {doc['validFrom']}")
    if "validUntil" in doc and end is None:
        verdict.problems.append(f"validUntil: {doc.get('validUntil')!r} is not a date-time")
    elif end and end < now:
        verdict.problems.append(f"expired: validUntil {doc['validUntil']}")
    (verdict.checks if proof.ok else verdict.problems).append(proof.reason)
    # A proof only speaks for the issuer when its key is one of the issuer's: otherwise anyone's
    # did:key could sign a credential that names the district as its issuer.
    if proof.ok and proof.verification_method and _issuer_id(doc) is not None:
        controller = proof.verification_method.split("#", 1)[0]
        if controller != _issuer_id(doc):
            verdict.problems.append(f"proof: key {proof.verification_method} is not the issuer's ({_issuer_id(doc)})")
    for entry in _entries(doc):
        _check_status(entry, status, resolve, verdict)
    verdict.ok = not verdict.problems
    return verdict


def _issuer_id(doc: dict[str, Any]) -> str | None:
    issuer = doc.get("issuer")
    value = issuer.get("id") if isinstance(issuer, dict) else issuer
    return value if isinstance(value, str) else None


def _entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    value = doc.get("credentialStatus")
    return [e for e in (value if isinstance(value, list) else [value] if value else []) if isinstance(e, dict)]


def _check_status(entry: dict[str, Any], status: StatusLookup | None, resolve: integrity.KeyResolver,
                  verdict: Verdict) -> None:
    if entry.get("type") != "BitstringStatusListEntry":
        verdict.problems.append(f"credentialStatus.type {entry.get('type')!r}: this verifier reads BitstringStatusListEntry")
        return
    url = entry.get("statusListCredential")
    listed = status(url) if status and isinstance(url, str) else None
    if listed is None:
        verdict.problems.append(f"credentialStatus: status list {url} is not available here (give it with --status-list)")
        return
    checked = integrity.verify(listed, resolve)
    if not checked.ok:
        verdict.problems.append(f"status list {url}: {checked.reason}")
        return
    try:
        index = int(entry.get("statusListIndex"))
        revoked = status_list.is_set(listed["credentialSubject"]["encodedList"], index)
    except (TypeError, ValueError, KeyError) as error:
        verdict.problems.append(f"credentialStatus: {error}")
        return
    if revoked:
        verdict.revoked = True
        verdict.problems.append(f"revoked: bit {index} is set in {url}")
    else:
        verdict.checks.append(f"not revoked ({url} bit {index})")
