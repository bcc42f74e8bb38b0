"""Statement validation as xAPI 2.0 / 1.0.3 require it: every problem is a `path: reason`, so a
400 names the property at fault (e.g. `statement.actor.mbox: must be a mailto: IRI`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

# Any 8-4-4-4-12 hex id: real LMS exports (the spec's own cmi5 example) carry ids of other variants.
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
IRI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+\Z")
LANG_RE = re.compile(r"^(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8}|[xX]|[iI]-[A-Za-z]+)"
                     r"(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
                     r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?\Z")
DURATION_RE = re.compile(r"^P(?:\d+(?:\.\d+)?W|(?=\d|T\d)(?:\d+(?:\.\d+)?Y)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?D)?"
                         r"(?:T(?=\d)(?:\d+(?:\.\d+)?H)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?S)?)?)\Z")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d(?::?\d\d)?)\Z")
SHA1_RE = re.compile(r"^[0-9a-fA-F]{40}\Z")
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
INTERACTION_TYPES = {"true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing",
                     "likert", "numeric", "other"}
COMPONENT_LISTS = {"choices", "scale", "source", "target", "steps"}
COMPONENTS_OF = {"choice": {"choices"}, "sequencing": {"choices"}, "likert": {"scale"},
                 "matching": {"source", "target"}, "performance": {"steps"}}


class Problems(list):
    def add(self, path: str, reason: str) -> None:
        self.append(f"{path}: {reason}")


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _object(v: Any, path: str, p: Problems, allowed: set[str], required: set[str] = frozenset()) -> bool:
    if not isinstance(v, dict):
        p.add(path, "must be a JSON object")
        return False
    for key in sorted(set(v) - allowed):
        p.add(f"{path}.{key}", "is not a property xAPI defines here")
    for key in sorted(required - set(v)):
        p.add(f"{path}.{key}", "is required")
    return True


def _string(v: Any, path: str, p: Problems) -> bool:
    if not isinstance(v, str):
        p.add(path, "must be a string")
        return False
    return True


def iri(v: Any, path: str, p: Problems) -> None:
    if _string(v, path, p) and not IRI_RE.match(v):
        p.add(path, f"must be an absolute IRI, not {v!r}")


def uuid(v: Any, path: str, p: Problems) -> None:
    if _string(v, path, p) and not UUID_RE.match(v):
        p.add(path, f"must be a UUID, not {v!r}")


def timestamp(v: Any, path: str, p: Problems) -> None:
    if not _string(v, path, p):
        return
    if not TIMESTAMP_RE.match(v):
        p.add(path, f"must be an ISO 8601 timestamp with a time zone, not {v!r}")
        return
    if v.endswith(("-00:00", "-0000", "-00")):
        p.add(path, "must not use the -00:00 offset")
        return
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        p.add(path, f"is not a real date and time: {v!r}")


def language_map(v: Any, path: str, p: Problems) -> None:
    if not isinstance(v, dict):
        p.add(path, "must be a language map (an object of RFC 5646 tags to strings)")
        return
    for tag, text in v.items():
        if not LANG_RE.match(tag):
            p.add(f"{path}.{tag}", "is not an RFC 5646 language tag")
        elif not isinstance(text, str):
            p.add(f"{path}.{tag}", "must be a string")


def extensions(v: Any, path: str, p: Problems) -> None:
    if not isinstance(v, dict):
        p.add(path, "must be an object keyed by IRIs")
        return
    for key in v:
        if not IRI_RE.match(key):
            p.add(f"{path}.{key}", "extension keys must be IRIs")


def agent(v: Any, path: str, p: Problems, *, group_ok: bool = True, identified: bool = True) -> None:
    if not isinstance(v, dict):
        p.add(path, "must be an Agent or Group object")
        return
    kind = v.get("objectType", "Agent")
    if kind == "Group" and group_ok:
        _object(v, path, p, {"objectType", "name", "member", "mbox", "mbox_sha1sum", "openid", "account"})
        ifis = _ifis(v, path, p)
        if "member" in v:
            if not isinstance(v["member"], list):
                p.add(f"{path}.member", "must be an array of Agents")
            else:
                for i, m in enumerate(v["member"]):
                    if isinstance(m, dict) and m.get("objectType") == "Group":
                        p.add(f"{path}.member[{i}]", "a Group's members are Agents, not Groups")
                    else:
                        agent(m, f"{path}.member[{i}]", p, group_ok=False)
        if ifis == 0 and not v.get("member"):
            p.add(f"{path}.member", "an anonymous Group needs members")
    elif kind == "Agent":
        _object(v, path, p, {"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
        if _ifis(v, path, p) != 1 and identified:
            p.add(path, "an Agent needs exactly one of mbox, mbox_sha1sum, openid, account")
    else:
        p.add(f"{path}.objectType", f"must be 'Agent'{' or Group' if group_ok else ''}, not {kind!r}")
    if "name" in v:
        _string(v["name"], f"{path}.name", p)


def _ifis(v: dict[str, Any], path: str, p: Problems) -> int:
    found = [k for k in ("mbox", "mbox_sha1sum", "openid", "account") if k in v]
    if len(found) > 1:
        p.add(path, f"carries more than one identifier ({', '.join(found)})")
    if "mbox" in v and (not isinstance(v["mbox"], str) or not re.match(r"^mailto:[^@\s]+@[^@\s]+\Z", v["mbox"])):
        p.add(f"{path}.mbox", "must be a mailto: IRI")
    if "mbox_sha1sum" in v and (not isinstance(v["mbox_sha1sum"], str) or not SHA1_RE.match(v["mbox_sha1sum"])):
        p.add(f"{path}.mbox_sha1sum", "must be 40 hex digits")
    if "openid" in v:
        iri(v["openid"], f"{path}.openid", p)
    if "account" in v:
        a = v["account"]
        if _object(a, f"{path}.account", p, {"homePage", "name"}, {"homePage", "name"}):
            if "homePage" in a:
                iri(a["homePage"], f"{path}.account.homePage", p)
            if "name" in a:
                _string(a["name"], f"{path}.account.name", p)
    return len(found)


def verb(v: Any, path: str, p: Problems) -> None:
    if _object(v, path, p, {"id", "display"}, {"id"}):
        if "id" in v:
            iri(v["id"], f"{path}.id", p)
        if "display" in v:
            language_map(v["display"], f"{path}.display", p)


def activity(v: Any, path: str, p: Problems) -> None:
    if not _object(v, path, p, {"objectType", "id", "definition"}, {"id"}):
        return
    if v.get("objectType", "Activity") != "Activity":
        p.add(f"{path}.objectType", "must be 'Activity'")
    if "id" in v:
        iri(v["id"], f"{path}.id", p)
    if "definition" in v:
        definition(v["definition"], f"{path}.definition", p)


def definition(d: Any, path: str, p: Problems) -> None:
    allowed = {"name", "description", "type", "moreInfo", "extensions", "interactionType",
               "correctResponsesPattern"} | COMPONENT_LISTS
    if not _object(d, path, p, allowed):
        return
    for key in ("name", "description"):
        if key in d:
            language_map(d[key], f"{path}.{key}", p)
    for key in ("type", "moreInfo"):
        if key in d:
            iri(d[key], f"{path}.{key}", p)
    if "extensions" in d:
        extensions(d["extensions"], f"{path}.extensions", p)
    kind = d.get("interactionType")
    if kind is not None and (not isinstance(kind, str) or kind not in INTERACTION_TYPES):
        p.add(f"{path}.interactionType", f"must be one of {', '.join(sorted(INTERACTION_TYPES))}")
    if "correctResponsesPattern" in d:
        crp = d["correctResponsesPattern"]
        if kind is None:
            p.add(f"{path}.correctResponsesPattern", "needs an interactionType")
        if not isinstance(crp, list) or not all(isinstance(s, str) for s in crp):
            p.add(f"{path}.correctResponsesPattern", "must be an array of strings")
    for key in COMPONENT_LISTS & set(d):
        if not isinstance(kind, str) or key not in COMPONENTS_OF.get(kind, set()):
            p.add(f"{path}.{key}", f"is not allowed for interactionType {kind!r}")
        items = d[key]
        if not isinstance(items, list):
            p.add(f"{path}.{key}", "must be an array of interaction components")
            continue
        ids = []
        for i, c in enumerate(items):
            where = f"{path}.{key}[{i}]"
            if _object(c, where, p, {"id", "description"}, {"id"}):
                if "id" in c and _string(c["id"], f"{where}.id", p):
                    ids.append(c["id"])
                if "description" in c:
                    language_map(c["description"], f"{where}.description", p)
        if len(set(ids)) != len(ids):
            p.add(f"{path}.{key}", "interaction component ids must be distinct")


def statement_ref(v: Any, path: str, p: Problems) -> None:
    if _object(v, path, p, {"objectType", "id"}, {"objectType", "id"}):
        if v.get("objectType") != "StatementRef":
            p.add(f"{path}.objectType", "must be 'StatementRef'")
        if "id" in v:
            uuid(v["id"], f"{path}.id", p)


def statement_object(v: Any, path: str, p: Problems, *, sub: bool) -> None:
    if not isinstance(v, dict):
        p.add(path, "must be an object")
        return
    kind = v.get("objectType", "Activity")
    if kind == "Activity":
        activity(v, path, p)
    elif kind in ("Agent", "Group"):
        agent(v, path, p)
    elif kind == "StatementRef":
        statement_ref(v, path, p)
    elif kind == "SubStatement" and not sub:
        check_statement(v, path, p, sub=True)
    else:
        p.add(f"{path}.objectType", f"{kind!r} is not an object type allowed here")


def result(v: Any, path: str, p: Problems) -> None:
    if not _object(v, path, p, {"score", "success", "completion", "response", "duration", "extensions"}):
        return
    for key in ("success", "completion"):
        if key in v and not isinstance(v[key], bool):
            p.add(f"{path}.{key}", "must be true or false")
    if "response" in v:
        _string(v["response"], f"{path}.response", p)
    if "duration" in v and (not isinstance(v["duration"], str) or not DURATION_RE.match(v["duration"])):
        p.add(f"{path}.duration", "must be an ISO 8601 duration")
    if "extensions" in v:
        extensions(v["extensions"], f"{path}.extensions", p)
    if "score" in v and _object(v["score"], f"{path}.score", p, {"scaled", "raw", "min", "max"}):
        s = v["score"]
        for key in ("scaled", "raw", "min", "max"):
            if key in s and not is_number(s[key]):
                p.add(f"{path}.score.{key}", "must be a number")
        nums = {k: s[k] for k in s if is_number(s[k])}
        if "scaled" in nums and not -1 <= nums["scaled"] <= 1:
            p.add(f"{path}.score.scaled", "must lie within -1..1")
        if "min" in nums and "max" in nums and not nums["min"] < nums["max"]:
            p.add(f"{path}.score.min", "must be below max")
        if "raw" in nums and ("min" in nums and nums["raw"] < nums["min"] or "max" in nums and nums["raw"] > nums["max"]):
            p.add(f"{path}.score.raw", "must lie within min..max")


def context(v: Any, path: str, p: Problems, object_kind: str) -> None:
    allowed = {"registration", "instructor", "team", "contextActivities", "revision", "platform", "language",
               "statement", "extensions", "contextAgents", "contextGroups"}
    if not _object(v, path, p, allowed):
        return
    if "registration" in v:
        uuid(v["registration"], f"{path}.registration", p)
    if "instructor" in v:
        agent(v["instructor"], f"{path}.instructor", p)
    if "team" in v:
        if not isinstance(v["team"], dict) or v["team"].get("objectType") != "Group":
            p.add(f"{path}.team", "must be a Group")
        else:
            agent(v["team"], f"{path}.team", p)
    for key in ("revision", "platform"):
        if key in v:
            _string(v[key], f"{path}.{key}", p)
            if object_kind != "Activity":
                p.add(f"{path}.{key}", "is allowed only when the object is an Activity")
    if "language" in v and (not isinstance(v["language"], str) or not LANG_RE.match(v["language"])):
        p.add(f"{path}.language", "must be an RFC 5646 language tag")
    if "statement" in v:
        statement_ref(v["statement"], f"{path}.statement", p)
    if "extensions" in v:
        extensions(v["extensions"], f"{path}.extensions", p)
    if "contextActivities" in v and _object(v["contextActivities"], f"{path}.contextActivities", p,
                                            {"parent", "grouping", "category", "other"}):
        for key, value in v["contextActivities"].items():
            for i, a in enumerate(value if isinstance(value, list) else [value]):
                activity(a, f"{path}.contextActivities.{key}[{i}]", p)
    for key, group_key in (("contextAgents", "agent"), ("contextGroups", "group")):
        if key not in v:
            continue
        if not isinstance(v[key], list):
            p.add(f"{path}.{key}", "must be an array")
            continue
        for i, item in enumerate(v[key]):
            where = f"{path}.{key}[{i}]"
            if _object(item, where, p, {"objectType", group_key, "relevantTypes"}, {"objectType", group_key}):
                expected = "contextAgent" if key == "contextAgents" else "contextGroup"
                if item.get("objectType") != expected:
                    p.add(f"{where}.objectType", f"must be {expected!r}")
                if group_key in item:
                    if key == "contextGroups" and (not isinstance(item[group_key], dict)
                                                   or item[group_key].get("objectType") != "Group"):
                        p.add(f"{where}.group", "must be a Group")
                    else:
                        agent(item[group_key], f"{where}.{group_key}", p, group_ok=key == "contextGroups")
                if "relevantTypes" in item:
                    types = item["relevantTypes"]
                    if not isinstance(types, list) or not types:
                        p.add(f"{where}.relevantTypes", "must be a non-empty array of IRIs")
                    else:
                        for j, t in enumerate(types):
                            iri(t, f"{where}.relevantTypes[{j}]", p)


def attachments(v: Any, path: str, p: Problems) -> None:
    if not isinstance(v, list):
        p.add(path, "must be an array")
        return
    for i, a in enumerate(v):
        where = f"{path}[{i}]"
        if not _object(a, where, p, {"usageType", "display", "description", "contentType", "length", "sha2",
                                      "fileUrl"}, {"usageType", "display", "contentType", "length", "sha2"}):
            continue
        if "usageType" in a:
            iri(a["usageType"], f"{where}.usageType", p)
        for key in ("display", "description"):
            if key in a:
                language_map(a[key], f"{where}.{key}", p)
        if "contentType" in a and _string(a["contentType"], f"{where}.contentType", p) \
                and not re.match(r"^[\w.+-]+/[\w.+-]+", a["contentType"]):
            p.add(f"{where}.contentType", "must be an Internet media type")
        if "length" in a and (not isinstance(a["length"], int) or isinstance(a["length"], bool)):
            p.add(f"{where}.length", "must be an integer")
        if "sha2" in a and _string(a["sha2"], f"{where}.sha2", p) and not re.match(r"^[0-9a-fA-F]{56,128}\Z", a["sha2"]):
            p.add(f"{where}.sha2", "must be a SHA-2 hex digest")
        if "fileUrl" in a:
            iri(a["fileUrl"], f"{where}.fileUrl", p)


def check_statement(s: Any, path: str = "statement", p: Problems | None = None, *, sub: bool = False) -> Problems:
    p = Problems() if p is None else p
    allowed = {"actor", "verb", "object", "result", "context", "timestamp", "attachments"}
    allowed |= {"objectType"} if sub else {"id", "stored", "authority", "version"}
    if not _object(s, path, p, allowed, {"actor", "verb", "object"}):
        return p
    if sub and s.get("objectType") != "SubStatement":
        p.add(f"{path}.objectType", "must be 'SubStatement'")
    if "id" in s:
        uuid(s["id"], f"{path}.id", p)
    if "actor" in s:
        agent(s["actor"], f"{path}.actor", p)
    if "verb" in s:
        verb(s["verb"], f"{path}.verb", p)
    if "object" in s:
        statement_object(s["object"], f"{path}.object", p, sub=sub)
    if "result" in s:
        result(s["result"], f"{path}.result", p)
    if "context" in s:
        kind = s["object"].get("objectType", "Activity") if isinstance(s.get("object"), dict) else "Activity"
        context(s["context"], f"{path}.context", p, kind)
    for key in ("timestamp", "stored"):
        if key in s:
            timestamp(s[key], f"{path}.{key}", p)
    if "authority" in s:
        authority(s["authority"], f"{path}.authority", p)
    if "version" in s and (not isinstance(s["version"], str) or not re.match(r"^(1\.0|2\.0)(\.\d+)?\Z", s["version"])):
        p.add(f"{path}.version", "must be a 1.0.x or 2.0.x version")
    if "attachments" in s:
        attachments(s["attachments"], f"{path}.attachments", p)
    if not sub and isinstance(s.get("verb"), dict) and s["verb"].get("id") == VOIDED:
        obj = s.get("object")
        if not isinstance(obj, dict) or obj.get("objectType") != "StatementRef":
            p.add(f"{path}.object", "a voiding statement's object must be a StatementRef")
    return p


def authority(v: Any, path: str, p: Problems) -> None:
    agent(v, path, p)
    if isinstance(v, dict) and v.get("objectType") == "Group":
        if any(k in v for k in ("mbox", "mbox_sha1sum", "openid", "account")):
            p.add(path, "a Group authority is anonymous: an OAuth consumer and a user as its two members")
        members = v.get("member")
        if not isinstance(members, list) or len(members) != 2:
            p.add(f"{path}.member", "a Group authority has exactly two Agents (an OAuth consumer and a user)")
