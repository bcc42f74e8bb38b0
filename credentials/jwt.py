"""Credentials as VC-JWT (Open Badges 3.0 section 8.2): a compact JWS whose payload is the
credential itself, with the registered claims iss, jti, nbf (and exp, sub when the credential has
them) bound to its issuer, id, validFrom, validUntil and subject.

Signed EdDSA with the issuer's Ed25519 key and `kid` = its verification method, so the DID
document that resolves a Data Integrity proof resolves the JWT too, old keys included. (OB 3.0
asks RS256 of issuers seeking 1EdTech certification; an RSA issuer key is not kept here.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credentials.multikey import MultikeyError

ALGORITHM = "EdDSA"
_CLAIMS = ("iss", "jti", "nbf", "exp", "sub", "iat")


class JwtError(ValueError):
    """A token that is not a VC-JWT we can check, or whose signature or claims do not hold."""


def _epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def claims(credential: dict[str, Any]) -> dict[str, Any]:
    """The registered claims OB 3.0 section 8.2.6 derives from the credential."""
    bound = {"iss": _id(credential["issuer"]), "jti": credential["id"], "nbf": _epoch(credential["validFrom"])}
    if "validUntil" in credential:
        bound["exp"] = _epoch(credential["validUntil"])
    if _id(credential.get("credentialSubject")):
        bound["sub"] = _id(credential["credentialSubject"])
    return bound


def encode(credential: dict[str, Any], key: Ed25519PrivateKey, *, kid: str) -> str:
    unsecured = {k: v for k, v in credential.items() if k != "proof"}
    return jwt.encode({**unsecured, **claims(unsecured)}, key, algorithm=ALGORITHM,
                      headers={"kid": kid, "typ": "JWT"})


def looks_like_jwt(text: str) -> bool:
    parts = text.strip().split(".")
    return len(parts) == 3 and all(parts[:2]) and not text.lstrip().startswith("{")


def decode(token: str, resolve: Any) -> tuple[dict[str, Any], str]:
    """(the credential without its JWT claims, the kid that verified it); `JwtError` naming what failed.
    Dates are left to the caller, which checks validFrom/validUntil as for any credential."""
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.exceptions.InvalidTokenError as error:
        raise JwtError(f"jwt: not a compact JWS ({error})") from None
    if header.get("alg") != ALGORITHM:
        raise JwtError(f"jwt: alg {header.get('alg')!r}; this verifier checks {ALGORITHM} (Ed25519)")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise JwtError("jwt: the header names no kid (the verification method)")
    try:
        key: Ed25519PublicKey = resolve(kid)
    except MultikeyError as error:
        raise JwtError(f"jwt: {error}") from None
    try:
        payload = jwt.decode(token, key, algorithms=[ALGORITHM],
                             options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                      "verify_aud": False})
    except jwt.exceptions.InvalidSignatureError:
        raise JwtError(f"proof: the JWT signature does not match ({kid})") from None
    except jwt.exceptions.InvalidTokenError as error:
        raise JwtError(f"jwt: {error}") from None
    credential = {k: v for k, v in payload.items() if k not in _CLAIMS}
    try:
        expected = claims(credential)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise JwtError(f"jwt: the payload is not a credential the claims can be bound to ({error!r})") from None
    wrong = [f"{c} {payload.get(c)!r} (the credential says {v!r})" for c, v in expected.items() if payload.get(c) != v]
    if wrong:
        raise JwtError("jwt claims do not match the credential: " + "; ".join(wrong))
    if kid.split("#")[0] != _id(credential.get("issuer")):
        raise JwtError(f"jwt: kid {kid} is not a key of the issuer {_id(credential.get('issuer'))}")
    return credential, kid
