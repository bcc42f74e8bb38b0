"""Canonical JSON and the per-stream hash chain.

The hash covers the exact bytes that are stored, so any edit to a stored event, however
small, changes its hash and breaks every later link of its stream."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text as is. orjson writes it ~8x faster than the standard
    library and the same bytes, but for floats beyond 1e16 or below 1e-4 (1e16, not 1e+16),
    which only the fingerprint of a repeat posted before this change could notice."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers beyond 64 bits
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_hash(previous: str, body: str) -> str:
    return sha256_hex(previous + "\n" + body)
