"""Response logs as researchers share them (ASSISTments, KDD Cup style CSV: one row per answer
with `user_id`, `skill_name`, `correct`, `order_id`, optionally `problem_id`, `template_id` and
a timestamp) turned into ledger events: one framework holding a competency per skill, one
enrolment per learner and one assessment per usable row.

Event ids are derived from the row's content (uuid5), so importing the same file again gives
only duplicates. Rows repeating the same learner, skill, order and problem stay separate pieces
of evidence (the n-th repeat has its own id); `dedupe` drops rows identical in every column to
an earlier one instead.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

REQUIRED = ("user_id", "skill_name", "correct", "order_id")
ITEM_COLUMNS = ("problem_id", "template_id")
TIME_COLUMNS = ("timestamp", "start_time")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_NAMESPACE = uuid.UUID("6f1d8c2e-3a4b-5c6d-8e9f-0a1b2c3d4e5f")
# Without a timestamp column, order_id orders a learner's answers: each becomes that many
# seconds after this moment (ASSISTments order ids grow with time across all learners).
ORDER_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
SCHOOL_SYSTEM = {"id": "response-import", "role": "school_system"}
PUBLISHER = {"id": "response-import", "role": "district_admin"}


class ResponseFileError(ValueError):
    """The file as a whole cannot be read as a response log (not the fault of one row)."""


@dataclass
class Plan:
    """What an import will post: numbered JSON lines (CSV row numbers for answers, 0 and below
    for the framework and enrolments), and the rows refused before posting."""

    lines: list[tuple[int, str]] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)  # {"row", "problems": [{field, reason}]}
    rows: int = 0
    answers: int = 0
    dropped_duplicates: int = 0
    learners: int = 0
    skills: dict[str, str] = field(default_factory=dict)  # skill name -> competency id


def competency_id(skill: str, taken: set[str]) -> str:
    """An id the ledger accepts, made from the skill's name, unique within the framework."""
    base = re.sub(r"[^A-Za-z0-9._:-]+", "-", skill).strip("-._:")[:100] or "skill"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _moment(text: str) -> datetime:
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
        return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, tz=timezone.utc)
    moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _row_problems(row: dict[str, str], time_column: str | None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    user = (row.get("user_id") or "").strip()
    if not user:
        problems.append(("user_id", "is empty"))
    elif not _ID.match(user):
        problems.append(("user_id", f"{user!r} is not an id (letters, digits and . _ : - only, up to 128)"))
    skill = (row.get("skill_name") or "").strip()
    if not skill:
        problems.append(("skill_name", "is empty"))
    elif len(skill) > 300:
        problems.append(("skill_name", "is longer than 300 characters"))
    correct = (row.get("correct") or "").strip()
    if correct not in ("0", "1"):
        problems.append(("correct", f"{correct!r} is not 0 or 1" if correct else "is empty"))
    order = (row.get("order_id") or "").strip()
    if not re.fullmatch(r"\d{1,18}", order):
        problems.append(("order_id", f"{order!r} is not a whole number" if order else "is empty"))
    for column in ITEM_COLUMNS:
        value = (row.get(column) or "").strip()
        if value and not _ID.match(value):
            problems.append((column, f"{value!r} is not an id"))
        values[column] = value or None
    if time_column is not None:
        text = (row.get(time_column) or "").strip()
        try:
            values["at"] = _moment(text)
        except (ValueError, OverflowError, OSError):
            problems.append((time_column, f"{text!r} is not an ISO 8601 time or epoch seconds"
                             if text else "is empty"))
    values.update(user=user, skill=skill, correct=correct == "1", order=int(order) if order.isdigit() else 0)
    return problems, values


def _event(event_id: str, type_: str, when: datetime, payload: dict[str, Any], **scope: Any) -> str:
    return json.dumps({"event_id": event_id, "type": type_, "schema_version": 2 if type_ == "assessment.recorded"
                       else 1, **scope, "demonstrated_at": when.isoformat(), "payload": payload})


def plan_import(text: str, *, framework_id: str, title: str, school_id: str, grade: int = 8, version: int = 1,
                dedupe: bool = False, now: datetime | None = None) -> Plan:
    """The events a response log becomes (nothing is posted here)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ResponseFileError(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                f"(a response log needs {', '.join(REQUIRED)}; found {', '.join(columns) or 'none'})")
    reader.fieldnames = columns
    time_column = next((c for c in TIME_COLUMNS if c in columns), None)
    now = now or datetime.now(timezone.utc)
    plan = Plan()
    answers: list[tuple[int, dict[str, Any]]] = []
    seen_rows: set[tuple[str, ...]] = set()
    for number, row in enumerate(reader, 2):  # row 1 is the header
        plan.rows += 1
        if None in row:  # more cells than the header has columns
            row.pop(None)
        problems, values = _row_problems(row, time_column)
        if not problems and "at" in values and values["at"] > now:
            problems.append((time_column, f"{values['at'].isoformat()} is in the future"))
        if problems:
            plan.problems.append({"row": number, "problems": [{"field": f, "reason": r} for f, r in problems]})
            continue
        if dedupe:
            whole = tuple(row.get(c) or "" for c in columns)
            if whole in seen_rows:
                plan.dropped_duplicates += 1
                continue
            seen_rows.add(whole)
        answers.append((number, values))
    taken: set[str] = set()
    for _, values in answers:
        if values["skill"] not in plan.skills:
            plan.skills[values["skill"]] = competency_id(values["skill"], taken)
    if not answers:
        return plan
    first = min(values.get("at", ORDER_EPOCH + timedelta(seconds=values["order"])) for _, values in answers)
    start = min(first, ORDER_EPOCH) - timedelta(days=1)
    framework = {"framework_id": framework_id, "title": title, "version": version,
                 "scale": {"min": 0, "max": 1, "mastery_threshold": 1},
                 "competencies": [{"id": cid, "title": skill} for skill, cid in plan.skills.items()],
                 "source": "response log import"}
    plan.lines.append((0, _event(str(uuid.uuid5(_NAMESPACE, f"framework:{framework_id}:{version}")),
                                 "framework.published", start, framework, actor=PUBLISHER)))
    plan.labels[0] = f"framework {framework_id}"
    learners = list(dict.fromkeys(values["user"] for _, values in answers))
    for i, user in enumerate(learners, 1):
        plan.lines.append((-i, _event(str(uuid.uuid5(_NAMESPACE, f"enrolment:{school_id}:{user}")), "learner.enrolled",
                                      start, {"grade": grade}, learner_id=user, school_id=school_id,
                                      actor=SCHOOL_SYSTEM)))
        plan.labels[-i] = f"enrolment of {user}"
    repeats: dict[tuple[Any, ...], int] = {}
    for number, values in answers:
        key = (values["user"], values["skill"], values["order"], values["problem_id"], values.get("at"))
        n = repeats[key] = repeats.get(key, -1) + 1
        # A repeat is the same answer recorded again a microsecond later, so it keeps its place.
        when = values.get("at", ORDER_EPOCH + timedelta(seconds=values["order"])) + timedelta(microseconds=n)
        item = values["problem_id"] or values["template_id"] or f"order-{values['order']}"
        payload = {"competency_id": plan.skills[values["skill"]], "score": 1.0 if values["correct"] else 0.0,
                   "source": {"assessment_id": item, "kind": "quiz"}}
        event_id = uuid.uuid5(_NAMESPACE, f"answer:{framework_id}:{':'.join(map(str, key))}:{n}")
        plan.lines.append((number, _event(str(event_id), "assessment.recorded", when, payload,
                                          learner_id=values["user"], school_id=school_id, actor=SCHOOL_SYSTEM)))
        plan.labels[number] = f"row {number}"
    plan.answers, plan.learners = len(answers), len(learners)
    return plan


def rows_refused(plan: Plan, rejections: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every unusable row, in file order: refused here or by the ledger, each with all its reasons."""
    refused = [{"row": p["row"], "where": f"row {p['row']}", "problems": p["problems"]} for p in plan.problems]
    for r in rejections:
        refused.append({"row": r["line"] if r["line"] > 0 else None, "where": plan.labels.get(r["line"], str(r["line"])),
                        "problems": r["problems"]})
    yield from sorted(refused, key=lambda r: (r["row"] is not None, r["row"] or 0))
