"""The door: raw bytes from a file, Kafka or HTTP become a validated event or a rejection.

Validation happens here, once. Everything behind the door trusts what it is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from ledger.canonical import canonical_json
from ledger.events import CURRENT_VERSION, MODELS, Envelope, current_model, upcast


@dataclass(frozen=True)
class Rejection:
    """Why a submission was refused: the field (dotted path, or "" for the whole thing)
    and a reason a school's data clerk can act on."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


@dataclass(frozen=True)
class Submission:
    """A valid event. `stored` is what will be kept (the version it was posted in, in
    canonical form); `event` is the same event brought up to the current version."""

    event: Envelope
    stored: dict[str, Any]

    @property
    def fingerprint_source(self) -> str:
        return canonical_json(self.stored)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _first_error(error: ValidationError) -> Rejection:
    details = error.errors(include_url=False)
    first = details[0]
    reason = first["msg"].removeprefix("Value error, ")
    if len(details) > 1:
        reason += f" (and {len(details) - 1} more problem{'s' if len(details) > 2 else ''})"
    return Rejection(_location(first["loc"]), reason)


def parse(raw: bytes | str, *, now: datetime | None = None) -> Submission | Rejection:
    """Validate one JSON document as an event of the catalogue."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # orjson refuses integers beyond 64 bits, which JSON allows; ask the standard parser
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return Rejection("", f"not valid JSON: {error}")
    if not isinstance(data, dict):
        return Rejection("", f"expected a JSON object, got {type(data).__name__}")
    type_ = data.get("type")
    if not isinstance(type_, str) or type_ not in CURRENT_VERSION:
        known = ", ".join(sorted(CURRENT_VERSION))
        return Rejection("type", f"unknown event type {type_!r}; known types: {known}")
    version = data.get("schema_version")
    model = MODELS.get((type_, version)) if isinstance(version, int) and not isinstance(version, bool) else None
    if model is None:
        versions = sorted(v for t, v in MODELS if t == type_)
        return Rejection("schema_version", f"{type_} has versions {versions}, not {version!r}")
    if "recorded_at" in data:
        return Rejection("recorded_at", "is set by the ledger when it accepts the event; leave it out")
    context = {"now": now} if now else None
    try:
        posted = model.model_validate_json(raw, context=context)
    except ValidationError as error:
        return _first_error(error)
    stored = posted.model_dump(mode="json")
    if version == CURRENT_VERSION[type_]:
        return Submission(posted, stored)
    return Submission(load(stored), stored)


def load(stored: dict[str, Any]) -> Envelope:
    """Rebuild a model from a stored (already validated) event dict, upcasting it.

    Replay paths should work on the dicts; this is for callers that want the model."""
    current = upcast(stored)
    return current_model(current["type"]).model_validate(current, strict=False)
