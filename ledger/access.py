"""Who may do what: API-key grants and the rules that bind them to schools and learners.

Pure policy: given a grant and what the request touches, say allowed or why not. The HTTP
layer asks; the ledger's own invariants still hold underneath (an advisor must be assigned,
a learner enrolled) whoever is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ledger.events import CURRENT_VERSION, MODELS

# lrs_client: an LMS or course player posting xAPI statements to /xapi/ with HTTP Basic auth.
# partner: a community partner organisation (ledger.partners), acting as itself (--actor).
ROLES = ("school", "advisor", "registrar", "researcher", "district_admin", "lrs_client", "partner")
Role = Literal["school", "advisor", "registrar", "researcher", "district_admin", "lrs_client", "partner"]

# What each key role may post, by the event's `actor.role`. Credit decisions are a registrar
# key's alone (as approving and revoking are, `may_decide_credit`): a district_admin key acts
# for the district office and its schools, never as a registrar.
POSTING_ROLES: dict[str, frozenset[str]] = {
    "school": frozenset({"teacher", "school_system"}),
    "advisor": frozenset({"advisor"}),
    "registrar": frozenset({"registrar"}),
    "district_admin": frozenset({"district_admin", "school_system", "teacher", "advisor"}),
    "researcher": frozenset(),
    "lrs_client": frozenset(),  # posts statements to /xapi/ only, never /v1/events
    # About learners it is linked to only: the ledger checks the link (LearnerFile), on every path.
    "partner": frozenset({"partner"}),
}




def postable_types(key_role: str) -> list[str]:
    """The event types a key with this role can post at all: those whose allowed actor roles
    (the catalogue's `roles`, enforced on every path) include one the key may act as. The key
    check and the catalogue agree by construction: a registrar key posts no evidence, a school
    key no credit decision."""
    acting = POSTING_ROLES[key_role]
    return sorted(t for (t, v), model in MODELS.items() if v == CURRENT_VERSION[t]
                  and (model.kind != "reference" or key_role == "district_admin")
                  and (model.allowed_roles is None or acting & model.allowed_roles))


@dataclass(frozen=True)
class Grant:
    key_id: str
    role: str
    school_id: str | None = None  # school keys: the one school they act for
    actor_id: str | None = None  # advisor and registrar keys: the person they act as
    label: str = ""
    learners: frozenset[str] = frozenset()  # people signed in on the web: the learners they are bound to


@dataclass(frozen=True)
class Denial:
    reason: str


def needs(role: str, *, school_id: str | None, actor_id: str | None) -> str | None:
    """Why a key with this role cannot be made with these bindings, or None."""
    if role not in ROLES:
        return f"role must be one of {', '.join(ROLES)}, not {role!r}"
    if role == "school" and not school_id:
        return "a school key needs --school"
    if role == "lrs_client" and not school_id:
        return "an lrs_client key needs --school (the school whose LMS sends the statements)"
    if role == "partner" and not actor_id:
        return "a partner key needs --actor (the partner organisation's id)"
    if role in ("advisor", "registrar") and not actor_id:
        return f"an {role} key needs --actor (the {role}'s id)" if role == "advisor" else "a registrar key needs --actor"
    return None


def may_post(grant: Grant, *, kind: str, actor_role: str, actor_id: str, event_school: str | None,
             learner_school: str | None, learner_advisors: set[str], event_type: str | None = None) -> Denial | None:
    """May this key post this event? `learner_school` / `learner_advisors` are what the ledger
    already knows of the learner (None / empty before enrolment)."""
    if grant.role == "researcher":
        return Denial("a researcher key reads de-identified data only")
    if actor_role not in POSTING_ROLES[grant.role]:
        return Denial(f"a {grant.role} key cannot post events whose actor is a {actor_role}")
    if grant.actor_id and actor_id != grant.actor_id:
        return Denial(f"this key acts as {grant.actor_id}, not {actor_id}")
    if kind == "reference":
        return None if grant.role == "district_admin" else Denial("only a district_admin key publishes frameworks and courses")
    if grant.role == "school":
        if event_school != grant.school_id:
            return Denial(f"this key posts for school {grant.school_id}, not {event_school}")
        # A transfer is the new school's to record (the ledger checks it names the current school).
        if learner_school is not None and learner_school != grant.school_id and event_type != "learner.transferred":
            return Denial(f"the learner is enrolled at another school, not {grant.school_id}")
    if grant.role == "advisor" and grant.actor_id not in learner_advisors:
        return Denial(f"advisor {grant.actor_id} is not assigned to this learner")
    return None


# People signed in on the web pages (ledger.people) hold grants too; these roles read only the
# learners they are bound to (a learner themself, a guardian's children, a partner's placements).
PERSON_ROLES = ("learner", "guardian", "advisor", "registrar", "partner")
BOUND_ROLES = frozenset({"learner", "guardian", "partner"})


def may_read_learner(grant: Grant, *, learner_school: str | None, learner_advisors: set[str],
                     learner_id: str | None = None, former_schools: tuple[str, ...] = ()) -> Denial | None:
    if grant.role in BOUND_ROLES:
        return None if learner_id is not None and learner_id in grant.learners else Denial(
            f"a {grant.role} sees only the learners they are linked to")
    if grant.role == "researcher":
        return Denial("a researcher key reads de-identified data only (/v1/research/...)")
    # A school the learner transferred from still reads the record (what it wrote stays its own);
    # writing moved with the learner (may_post).
    if grant.role == "school" and learner_school != grant.school_id and grant.school_id not in former_schools:
        return Denial(f"this key reads learners of school {grant.school_id} only")
    if grant.role == "advisor" and grant.actor_id not in learner_advisors:
        return Denial(f"advisor {grant.actor_id} is not assigned to this learner")
    return None


def own_records_only(grant: Grant, *, learner_school: str | None, former_schools: tuple[str, ...] = ()) -> str | None:
    """The school whose own events are all this grant may read of the learner, when the grant
    acts for a school the learner transferred from (what it recorded stays its own; the rest of
    the record, and anything computed from it, went with the learner); None: no such limit.
    One rule for the API and the web pages: filter the learner's events to those whose
    `school_id` is this, and refuse whole-record views (states, plans, credits, audits)."""
    if grant.role == "school" and learner_school != grant.school_id and grant.school_id in former_schools:
        return grant.school_id
    return None


def may_read_whole_record(grant: Grant, *, learner_school: str | None,
                          former_schools: tuple[str, ...] = ()) -> Denial | None:
    school = own_records_only(grant, learner_school=learner_school, former_schools=former_schools)
    return None if school is None else Denial(
        f"school {school} is a former school of this learner: it reads only the events it recorded "
        "(GET /v1/learners/ID/events)")


def may_read_school(grant: Grant, school_id: str) -> Denial | None:
    """School-wide figures (the overview page): the school's own staff and registrars."""
    if grant.role in ("registrar", "district_admin"):
        return None
    if grant.role in ("school", "advisor") and grant.school_id == school_id:
        return None
    return Denial(f"a {grant.role} cannot see the overview of school {school_id}")


def may_decide_credit(grant: Grant) -> Denial | None:
    return None if grant.role == "registrar" else Denial("only a registrar key approves or revokes credit")


def may_read_research(grant: Grant) -> Denial | None:
    return None if grant.role in ("researcher", "registrar", "district_admin") else Denial(
        f"a {grant.role} key cannot read district-wide research data")


def may_operate(grant: Grant) -> Denial | None:
    return None if grant.role in ("registrar", "district_admin") else Denial(
        f"a {grant.role} key cannot run ledger-wide checks")
