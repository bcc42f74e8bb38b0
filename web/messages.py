"""The reasons the ledger and its access rules give, as translatable messages for the pages.

Denials (ledger.access), the ledger's rejections (ledger.invariants) and the pages' own form
checks are written in English where they are made: they are the API's and the CLI's words too.
A page shows them through this catalogue: each reason is matched against the English templates
below, and the template (a msgid, placeholders as %(name)s) is translated with the values put
back. The field name before a reason ("payload.from_school_id: ...") is kept as it is: it names
the form field or the event field either way. A reason no template matches is shown as given."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

# (English template with {placeholders}, as its source writes it). Keep in step with the
# sources; tests/unit/test_web_messages.py checks each reaches its msgid and Spanish has them all.
TEMPLATES = (
    # ledger.access: denials
    "a {role} sees only the learners they are linked to",
    "advisor {advisor} is not assigned to this learner",
    "this key reads learners of school {school} only",
    "a {role} cannot see the overview of school {school}",
    "only a registrar key approves or revokes credit",
    "a {role} key cannot post events whose actor is a {actor_role}",
    "this key acts as {actor}, not {other}",
    "the learner is enrolled at another school, not {school}",
    "this key posts for school {school}, not {other}",
    "not enrolled",
    # the pages' own checks (web.routes)
    "sign in first",
    "this form has expired or did not come from this site; reload the page and try again",
    "the caseload is an advisor's page",
    "only a registrar of the new school records a transfer",
    "learner {learner} is not enrolled",
    "choose approved, needs revision or rejected",
    "say what you checked (it is kept with the sign-off)",
    "tick the box to say you have read the audit",
    "a revocation needs a reason (1 to 2000 characters)",
    "name the learner who moves",
    "name the school the learner leaves",
    "the learner moves to {school}; name the school they leave",
    "{value} is not a date (YYYY-MM-DD)",
    "tick the box to confirm the learner now attends your school",
    # the ledger's rejections the pages can meet (ledger.invariants, consumers.credit_engine)
    "learner is enrolled at {school}, not {other}",
    "the new school ({school}) records a transfer, not {other}",
    "advisor {advisor} is not assigned to learner {learner}",
    "learner {learner} has been erased; nothing more is recorded about them",
    "no credit proposal for {learner} in {course}; run `ledger credit propose` first",
    "{learner} holds no awarded credit in {course}",
    # projections.credential_checks: a badge refused
    "not issued: the credit was revoked ({day}): {reason}",
    "not issued: the credit is flagged for review: {reasons}",
    # ledger.people: sign-in codes
    "that is not a sign-in code",
    "that sign-in code is not known",
    "that sign-in code has already been used",
)
ROLES = ("learner", "guardian", "advisor", "registrar", "partner", "school", "researcher", "district_admin",
         "teacher", "school_system")


def msgid(template: str) -> str:
    return re.sub(r"\{(\w+)\}", r"%(\1)s", template)


MESSAGE_IDS = tuple(msgid(t) for t in TEMPLATES) + tuple(f"role:{r}" for r in ROLES)


@lru_cache(maxsize=None)
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    compiled = []
    for template in TEMPLATES:
        pieces = re.split(r"(\{\w+\})", template)
        regex = "".join(f"(?P<{p[1:-1]}>.+?)" if p.startswith("{") else re.escape(p) for p in pieces)
        compiled.append((re.compile(f"^{regex}$"), msgid(template)))
    return tuple(compiled)


_FIELD = re.compile(r"^([A-Za-z_][\w.]*): (.+)$", re.S)


def translate(message: str, gettext: Callable[[str], str]) -> str:
    """`message` (one reason, or "field: reason; field: reason") in the page's language."""
    if _matched(message):  # a reason with "; " inside it
        return _reason(message, gettext)
    return "; ".join(_one(part, gettext) for part in message.split("; ") if part)


def _one(part: str, gettext: Callable[[str], str]) -> str:
    field = _FIELD.match(part)
    if field and not _matched(part):
        return f"{field[1]}: {_reason(field[2], gettext)}"
    return _reason(part, gettext)


def _matched(text: str) -> bool:
    return any(pattern.match(text) for pattern, _ in _patterns())


def _reason(reason: str, gettext: Callable[[str], str]) -> str:
    for pattern, key in _patterns():
        found = pattern.match(reason)
        if found:
            values = {name: gettext(f"role:{value}") if name in ("role", "actor_role") and value in ROLES else value
                      for name, value in found.groupdict().items()}
            return gettext(key) % values
    return reason
