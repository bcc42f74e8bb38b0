"""W3C Bitstring Status List v1.0: one list credential per 131,072 ledger positions.

A badge's status index is the global log position of its `credit.awarded` event, so no counter
has to be kept and two badges never share a bit. The bits are not stored: they are read from the
log (`credit.revoked` events) whenever the list is served, so `credit revoke` sets the bit by
being recorded, and a replay of the store gives the same list."""

from __future__ import annotations

import base64
import gzip
from typing import Any, Iterable

LIST_BITS = 131_072  # the specification's minimum length, for herd privacy


class StatusListError(ValueError):
    """A status list that cannot be read; the message says why."""


def entry(base_url: str, position: int) -> dict[str, Any]:
    number, index = divmod(position, LIST_BITS)
    url = list_url(base_url, number)
    return {"id": f"{url}#{index}", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": str(index), "statusListCredential": url}


def list_url(base_url: str, number: int) -> str:
    return f"{base_url}:status:{number}" if base_url.startswith("urn:") else f"{base_url}/credentials/status/{number}"


def encode(indexes: Iterable[int], size: int = LIST_BITS) -> str:
    bits = bytearray(size // 8)
    for i in indexes:
        bits[i // 8] |= 0x80 >> (i % 8)  # index 0 is the first (most significant) bit
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).decode().rstrip("=")


def is_set(encoded: str, index: int) -> bool:
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusListError("encodedList: not base64url multibase (must start with 'u')")
    try:
        raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    except (ValueError, OSError, EOFError) as error:
        raise StatusListError(f"encodedList: not GZIP-compressed base64url ({error})") from None
    if index < 0 or index >= len(raw) * 8:
        raise StatusListError(f"statusListIndex {index} is outside the list ({len(raw) * 8} bits)")
    return bool(raw[index // 8] & (0x80 >> (index % 8)))


def status_list_credential(base_url: str, number: int, issuer_id: str, revoked_positions: Iterable[int],
                           valid_from: str) -> dict[str, Any]:
    """The unsigned list credential for list `number`, bits set at the revoked awards' positions."""
    url = list_url(base_url, number)
    low = number * LIST_BITS
    return {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"], "issuer": issuer_id,
            "validFrom": valid_from,
            "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
                                  "encodedList": encode(p - low for p in revoked_positions if low <= p < low + LIST_BITS)}}
