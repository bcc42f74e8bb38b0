"""How a statement is shown: `exact` as stored, `ids` with agents and activities cut to their
identifiers, `canonical` with every language map cut to the one language the client prefers."""

from __future__ import annotations

import copy
from typing import Any

AGENT_KEYS = ("mbox", "mbox_sha1sum", "openid", "account")


def _ids_agent(agent: dict[str, Any]) -> dict[str, Any]:
    out = {k: agent[k] for k in ("objectType", *AGENT_KEYS) if k in agent}
    if "member" in agent and not any(k in agent for k in AGENT_KEYS):
        out["member"] = [_ids_agent(m) for m in agent["member"]]
    return out


def _ids(s: dict[str, Any]) -> dict[str, Any]:
    s["actor"] = _ids_agent(s["actor"])
    if "authority" in s:
        s["authority"] = _ids_agent(s["authority"])
    s["verb"] = {"id": s["verb"]["id"]}
    obj = s["object"]
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        s["object"] = {"id": obj["id"]}
    elif kind in ("Agent", "Group"):
        s["object"] = _ids_agent(obj)
    elif kind == "SubStatement":
        _ids(obj)
    ctx = s.get("context") or {}
    for key in ("instructor", "team"):
        if key in ctx:
            ctx[key] = _ids_agent(ctx[key])
    for value in (ctx.get("contextActivities") or {}).values():
        for i, a in enumerate(value):
            value[i] = {"id": a["id"]}
    return s


def _pick(language_map: dict[str, str], languages: list[str]) -> dict[str, str]:
    for wanted in languages:
        for tag in language_map:
            if tag.lower() == wanted.lower() or tag.lower().split("-")[0] == wanted.lower():
                return {tag: language_map[tag]}
    first = next(iter(language_map), None)
    return {first: language_map[first]} if first is not None else {}


LANGUAGE_MAPS = {"display", "name", "description"}


def _canonical(value: Any, languages: list[str], key: str | None = None) -> Any:
    if isinstance(value, dict):
        if key in LANGUAGE_MAPS and all(isinstance(v, str) for v in value.values()):
            return _pick(value, languages)
        return {k: v if k == "extensions" else _canonical(v, languages, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v, languages, None) for v in value]
    return value


def accept_languages(header: str | None) -> list[str]:
    out = []
    for part in (header or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        if tag and tag != "*":
            try:
                out.append((float(q) if q else 1.0, tag))
            except ValueError:
                continue
    return [tag for _, tag in sorted(out, key=lambda x: -x[0])]


def shown(statement: dict[str, Any], fmt: str, languages: list[str]) -> dict[str, Any]:
    if fmt == "exact":
        return statement
    if fmt == "ids":
        return _ids(copy.deepcopy(statement))
    return _canonical(statement, languages)
