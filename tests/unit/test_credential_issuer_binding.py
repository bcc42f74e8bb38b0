"""A proof speaks for the issuer only when its key is the issuer's: a credential that names one
issuer and is signed with anybody's did:key is not valid, however well the signature holds."""

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials.integrity import sign
from credentials.multikey import did_key, did_key_method
from credentials.verify import verify

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "credentials"


def unsigned_badge(issuer_id: str) -> dict:
    doc = {k: v for k, v in json.loads((DATA / "ob30_simple.json").read_text()).items() if k != "proof"}
    doc.pop("credentialStatus", None)
    issuer = doc["issuer"]
    doc["issuer"] = {**issuer, "id": issuer_id} if isinstance(issuer, dict) else issuer_id
    return doc


def test_a_badge_naming_the_district_but_signed_by_another_did_key_is_refused_and_names_the_key():
    forger = Ed25519PrivateKey.generate()
    method = did_key_method(forger.public_key())
    forged = sign(unsigned_badge("did:web:district.example.edu"), forger, verification_method=method,
                  created="2026-01-01T00:00:00Z")
    verdict = verify(forged)
    assert not verdict.ok
    assert any("is not the issuer's" in p and method in p for p in verdict.problems), verdict.problems


def test_the_same_key_signing_for_its_own_did_is_valid_as_far_as_the_proof_goes():
    key = Ed25519PrivateKey.generate()
    signed = sign(unsigned_badge(did_key(key.public_key())), key, verification_method=did_key_method(key.public_key()),
                  created="2026-01-01T00:00:00Z")
    verdict = verify(signed)
    assert not any("proof" in p for p in verdict.problems), verdict.problems
