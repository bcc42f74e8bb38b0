"""Canonical JSON and the per-stream hash chain.

The hash covers the exact bytes that are stored, so any edit to a stored event, however
small, changes its hash and breaks every later link of its stream."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_hash(previous: str, body: str) -> str:
    return sha256_hex(previous + "\n" + body)
