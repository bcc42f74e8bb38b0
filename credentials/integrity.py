"""Data Integrity proofs with the `eddsa-rdfc-2022` cryptosuite (W3C vc-di-eddsa, section 3.3).

The credential and the proof options are each canonicalised with RDFC-1.0 (pyld's URDNA2015,
the same algorithm under its earlier name) using only the shipped contexts; the signature
covers sha256(proof options) || sha256(credential), and travels as base58btc multibase."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyld import jsonld

from credentials.contexts import document_loader
from credentials.multikey import MultikeyError, b58_decode, b58_encode

SUITE = "eddsa-rdfc-2022"

KeyResolver = Callable[[str], Ed25519PublicKey]


class ProofError(ValueError):
    """A proof that cannot be made or does not hold; the message says which part and why."""


def canonical(document: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document, contexts from the shipped set only."""
    try:
        return jsonld.normalize(document, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                           "documentLoader": document_loader(), "safe": True})
    except jsonld.JsonLdError as error:
        raise ProofError(f"cannot canonicalise: {_jsonld_reason(error)}") from None


def _jsonld_reason(error: jsonld.JsonLdError) -> str:
    cause = error
    while getattr(cause, "cause", None) is not None and isinstance(cause.cause, jsonld.JsonLdError):
        cause = cause.cause
    url = (getattr(cause, "details", None) or {}).get("url") if isinstance(getattr(cause, "details", None), dict) else None
    return f"context {url} is not one the project ships" if url and "loading" in str(cause.code or "") else str(cause).split("\n")[0]


def _options(document: dict[str, Any], proof: dict[str, Any]) -> dict[str, Any]:
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    options["@context"] = document["@context"]
    return options


def hash_data(document: dict[str, Any], proof: dict[str, Any]) -> bytes:
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    return (hashlib.sha256(canonical(_options(document, proof)).encode()).digest()
            + hashlib.sha256(canonical(unsecured).encode()).digest())


def sign(document: dict[str, Any], key: Ed25519PrivateKey, *, verification_method: str, created: str,
         purpose: str = "assertionMethod") -> dict[str, Any]:
    """The document with a DataIntegrityProof added (any earlier proof is replaced)."""
    proof = {"type": "DataIntegrityProof", "created": created, "verificationMethod": verification_method,
             "cryptosuite": SUITE, "proofPurpose": purpose}
    proof["proofValue"] = b58_encode(key.sign(hash_data(document, proof)))
    return {**{k: v for k, v in document.items() if k != "proof"}, "proof": proof}


@dataclass(frozen=True)
class ProofCheck:
    ok: bool
    reason: str  # one line: what held, or the first thing that did not
    verification_method: str | None = None


def verify(document: dict[str, Any], resolve: KeyResolver) -> ProofCheck:
    proof = document.get("proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            return ProofCheck(False, f"proof: {len(proof)} proofs; this verifier checks exactly one")
        proof = proof[0]
    if not isinstance(proof, dict):
        return ProofCheck(False, "proof: missing (an OB 3.0 credential needs at least one)")
    problems = [f"proof.{field}: {proof.get(field)!r}, expected {want!r}"
                for field, want in (("type", "DataIntegrityProof"), ("cryptosuite", SUITE))
                if proof.get(field) != want]
    if proof.get("proofPurpose") != "assertionMethod":
        problems.append(f"proof.proofPurpose: {proof.get('proofPurpose')!r}, expected 'assertionMethod'")
    for field in ("verificationMethod", "proofValue", "created"):
        if not isinstance(proof.get(field), str):
            problems.append(f"proof.{field}: missing")
    if problems:
        return ProofCheck(False, "; ".join(problems))
    method = proof["verificationMethod"]
    try:
        public = resolve(method)
        signature = b58_decode(proof["proofValue"])
    except (MultikeyError, ProofError, KeyError, ValueError) as error:
        return ProofCheck(False, f"proof: {error}", method)
    try:
        data = hash_data(document, proof)
    except ProofError as error:
        return ProofCheck(False, f"proof: {error}", method)
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return ProofCheck(False, "proof: the signature does not match the credential (changed after signing, "
                                 "or signed by another key)", method)
    return ProofCheck(True, f"proof: {SUITE} signature holds ({method})", method)
