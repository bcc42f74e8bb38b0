"""Signed statements (xAPI 2.0 §2.6): the signature attachment is a JWS (compact form) whose
payload is the statement as signed, with an RS256/384/512 signature."""

from __future__ import annotations

import base64
import json
from typing import Any

from xapi.statements import LrsError

ALGORITHMS = {"RS256", "RS384", "RS512"}


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _stripped(s: dict[str, Any]) -> dict[str, Any]:
    # What the signer could not have known or what the LRS may have changed; durations compare
    # to 0.01 s (xAPI 2.0 §4.2.7).
    out = json.loads(json.dumps({k: v for k, v in s.items()
                                 if k not in ("authority", "stored", "version", "attachments", "id")}))
    if isinstance(out.get("result"), dict) and isinstance(out["result"].get("duration"), str):
        out["result"]["duration"] = hundredths(out["result"]["duration"])
    return out


def hundredths(duration: str) -> str:
    """An ISO 8601 duration with its seconds cut (not rounded) to two decimals."""
    import re

    return re.sub(r"(\d+)\.(\d{1,2})\d*S$", r"\1.\2S", duration)


def check_signature(statement: dict[str, Any], content: bytes, content_type: str) -> None:
    if content_type != "application/octet-stream":
        raise LrsError(400, "a signature attachment's contentType must be application/octet-stream")
    try:
        header_b64, payload_b64, signature_b64 = content.decode("ascii").strip().split(".")
        header, payload = json.loads(_b64(header_b64)), json.loads(_b64(payload_b64))
        signature = _b64(signature_b64)
    except (ValueError, UnicodeDecodeError):
        raise LrsError(400, "the signature attachment is not a JWS in compact form") from None
    alg = header.get("alg") if isinstance(header, dict) else None
    if alg not in ALGORITHMS:
        raise LrsError(400, f"the JWS algorithm must be one of {', '.join(sorted(ALGORITHMS))}, not {alg!r}")
    if not isinstance(payload, dict) or _stripped(payload) != _stripped(statement) \
            or ("id" in payload and payload["id"] != statement.get("id")):
        raise LrsError(400, "the JWS payload is not the statement that carries it")
    chain = header.get("x5c")
    if chain:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            key = x509.load_der_x509_certificate(base64.b64decode(chain[0])).public_key()
            digest = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}[alg]
            key.verify(signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), digest)
        except (InvalidSignature, ValueError, TypeError):
            raise LrsError(400, "the JWS signature does not verify against its x5c certificate") from None
