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

# No event nests more than five levels; a document far deeper is a mistake or an attack, and the
# standard parser would recurse on it until the interpreter gives up (the HTTP guard's limit too).
MAX_DEPTH = 16


@dataclass(frozen=True)
class Rejection:
    """Why a submission was refused: the field (dotted path, or "" for the whole thing) and a
    reason a school's data clerk can act on; `more` holds the further (field, reason) pairs
    when a document has several problems, so that one round of corrections fixes them all."""

    field: str
    reason: str
    more: tuple[tuple[str, str], ...] = ()

    @property
    def problems(self) -> list[tuple[str, str]]:
        return [(self.field, self.reason), *self.more]

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"field": field, "reason": reason} for field, reason in self.problems]

    def __str__(self) -> str:
        return "; ".join(f"{field}: {reason}" if field else reason for field, reason in self.problems)


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


def _every_error(error: ValidationError) -> Rejection:
    problems: list[tuple[str, str]] = []
    details = error.errors(include_url=False)
    i = 0
    while i < len(details):
        # A value matching no member of a union (a method parameter is a number, text or a
        # flag) gets one error per member, each under the member's name: say it once.
        group = [details[i]]
        while (i + len(group) < len(details) and len(details[i]["loc"]) > 1
               and details[i + len(group)]["loc"][:-1] == details[i]["loc"][:-1]
               and repr(details[i + len(group)].get("input")) == repr(details[i].get("input"))):
            group.append(details[i + len(group)])
        i += len(group)
        if len(group) > 1:
            wanted = [d["msg"].removeprefix("Input should be ") for d in group]
            *head, last = dict.fromkeys(wanted)
            reason = "Input should be " + (f"{', '.join(head)} or {last}" if head else last)
            problems.append((_location(group[0]["loc"][:-1]), reason))
        else:
            problems.append((_location(group[0]["loc"]), group[0]["msg"].removeprefix("Value error, ")))
    (field, reason), *more = list(dict.fromkeys(problems))
    return Rejection(field, reason, tuple(more))


def _too_deep(raw: bytes | str, data: Any) -> bool:
    opened = raw.count(b"{") + raw.count(b"[") if isinstance(raw, bytes) else raw.count("{") + raw.count("[")
    if opened <= MAX_DEPTH:  # cannot nest deeper than it has brackets (most events have a handful)
        return False
    stack = [(data, 1)]  # iterative: a hostile document must not exhaust the stack here
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _load(raw: bytes | str) -> tuple[Any, str | None] | Rejection:
    """The parsed document and the first non-finite literal it held (NaN, Infinity), if any."""
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            return Rejection("", f"not UTF-8 text ({error.reason} at byte {error.start})")
    too_deep = Rejection("", f"nested deeper than {MAX_DEPTH} levels")
    try:
        data, constant = orjson.loads(raw), None
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            return too_deep
        # orjson refuses integers beyond 64 bits, which JSON allows, and numbers too large for a
        # double (1e999), which the models then refuse by field: ask the standard parser.
        # Its NaN and Infinity extensions are not JSON; they are noted and refused below.
        seen: list[str] = []

        def constant_(name: str) -> float:
            seen.append(name)
            return float(name)

        try:
            data = json.loads(raw, parse_constant=constant_)
        except RecursionError:
            return too_deep
        except json.JSONDecodeError as error:
            return Rejection("", f"not valid JSON: {error}")
        constant = seen[0] if seen else None
    if _too_deep(raw, data):
        return too_deep
    return data, constant


def parse(raw: bytes | str, *, now: datetime | None = None) -> Submission | Rejection:
    """Validate one JSON document as an event of the catalogue."""
    loaded = _load(raw)
    if isinstance(loaded, Rejection):
        return loaded
    data, constant = loaded
    if not isinstance(data, dict):
        return Rejection("", f"expected a JSON object, got {type(data).__name__}")
    known = ", ".join(sorted(CURRENT_VERSION))
    if "type" not in data or data["type"] is None:
        return Rejection("type", f"is missing (known types: {known})")
    type_ = data["type"]
    if not isinstance(type_, str) or type_ not in CURRENT_VERSION:
        return Rejection("type", f"unknown event type {type_!r} (known types: {known})")
    version = data.get("schema_version")
    model = MODELS.get((type_, version)) if isinstance(version, int) and not isinstance(version, bool) else None
    if model is None:
        versions = sorted(v for t, v in MODELS if t == type_)
        if version is None:
            return Rejection("schema_version", f"is missing ({type_} has versions {versions})")
        return Rejection("schema_version", f"{type_} has versions {versions}, not {version!r}")
    if "recorded_at" in data:
        return Rejection("recorded_at", "is set by the ledger when it accepts the event; leave it out")
    context = {"now": now} if now else None
    try:
        posted = model.model_validate_json(raw, context=context)
    except ValidationError as error:
        return _every_error(error)
    if constant is not None:  # the models refuse non-finite numbers by field; this is the backstop
        return Rejection("", f"{constant} is not a number JSON allows (numbers must be finite)")
    stored = posted.model_dump(mode="json")
    if version == CURRENT_VERSION[type_]:
        return Submission(posted, stored)
    return Submission(load(stored), stored)


def load(stored: dict[str, Any]) -> Envelope:
    """Rebuild a model from a stored (already validated) event dict, upcasting it.

    Replay paths should work on the dicts; this is for callers that want the model."""
    current = upcast(stored)
    return current_model(current["type"]).model_validate(current, strict=False)
