"""What the ledger knows, and what it refuses.

`Catalog` is the reference data (frameworks, courses); `LearnerFile` is one learner's
record. Each `check`s a validated event against what is already recorded and `apply`s a
stored event dict. Both are rebuilt from stored events alone, so they are pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.credit.decisions import History, check_award, check_confirmation, check_proposal
from ledger.events import EVIDENCE_TYPES, Envelope, Scale
from ledger.intake import Rejection
from ledger.partners import posting_problem


@dataclass
class Catalog:
    frameworks: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {version, scale, competencies}
    competencies: dict[str, str] = field(default_factory=dict)  # competency id -> framework id
    courses: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> course payload
    scales: dict[str, Scale] = field(default_factory=dict)  # framework id -> scale
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)  # competency id -> its own mastery method

    def scale_of(self, competency_id: str) -> Scale | None:
        framework = self.competencies.get(competency_id)
        return self.scales[framework] if framework is not None else None

    def missing(self, competency_ids: list[str] | set[str], where: str) -> Rejection | None:
        unknown = [c for c in competency_ids if c not in self.competencies]
        if unknown:
            return Rejection(where, f"competency {unknown[0]!r} is not in any published framework")
        return None

    def score_problem(self, competency_id: str, score: float, where: str) -> Rejection | None:
        scale = self.scale_of(competency_id)
        if scale is None:
            return Rejection(where, f"competency {competency_id!r} is not in any published framework")
        if not scale.contains(score):
            return Rejection(where, f"{score} is outside the scale {scale.min}..{scale.max} of {competency_id}")
        return None

    def check(self, event: Envelope) -> Rejection | None:
        p = event.payload
        if event.type == "framework.published":
            known = self.frameworks.get(p.framework_id)
            if known is not None and p.version <= known["version"]:
                return Rejection(
                    "payload.version",
                    f"framework {p.framework_id} is already at version {known['version']}; publish a higher one",
                )
            for competency in p.competencies:
                owner = self.competencies.get(competency.id)
                if owner is not None and owner != p.framework_id:
                    return Rejection("payload.competencies", f"competency {competency.id} belongs to framework {owner}")
            return None
        if event.type == "course.defined":
            if p.framework_id not in self.frameworks:
                return Rejection("payload.framework_id", f"framework {p.framework_id!r} has not been published")
            known = self.courses.get(p.course_id)
            if known is not None and p.credit_rule.version <= known["credit_rule"]["version"]:
                return Rejection(
                    "payload.credit_rule.version",
                    f"course {p.course_id} already has rule version {known['credit_rule']['version']}; "
                    "a redefinition needs a higher one",
                )
            return self.missing(p.competencies, "payload.competencies")
        if event.type == "xapi.alignment.posted":
            unknown = self.missing(p.competencies, "payload.competencies")
            if unknown:
                return unknown
            for name in ("success_level", "failure_level"):
                value = getattr(p, name)
                for competency in p.competencies if value is not None else []:
                    problem = self.score_problem(competency, value, f"payload.{name}")
                    if problem:
                        return problem
            return None
        raise ValueError(f"{event.type} is not reference data")

    def apply(self, event: dict[str, Any]) -> None:
        p = event["payload"]
        if event["type"] == "framework.published":
            fid = p["framework_id"]
            for cid in [c for c, owner in self.competencies.items() if owner == fid]:
                del self.competencies[cid]
                self.methods.pop(cid, None)
            for competency in p["competencies"]:
                self.competencies[competency["id"]] = fid
                if competency.get("mastery_method"):
                    self.methods[competency["id"]] = competency["mastery_method"]
            self.frameworks[fid] = {"version": p["version"], "title": p["title"]}
            self.scales[fid] = Scale.model_validate(p["scale"], strict=False)
        elif event["type"] == "course.defined":
            self.courses[p["course_id"]] = p


@dataclass
class LearnerFile:
    school_id: str | None = None
    grade: int | None = None
    advisors: set[str] = field(default_factory=set)
    former_schools: list[str] = field(default_factory=list)  # schools the learner transferred from
    evidence: dict[str, str] = field(default_factory=dict)  # event id -> type
    voided: set[str] = field(default_factory=set)
    plans: dict[str, set[str]] = field(default_factory=dict)  # plan id -> goal competencies
    credits: dict[str, bool] = field(default_factory=dict)  # credit event id -> revoked
    proposals: dict[str, str] = field(default_factory=dict)  # proposal event id -> course id
    awarded_proposals: set[str] = field(default_factory=set)
    partners: dict[str, str] = field(default_factory=dict)  # linked partner id -> the school that linked it
    unlinked_partners: set[str] = field(default_factory=set)
    external: set[str] = field(default_factory=set)  # partners' evidence event ids
    approvals: dict[str, str] = field(default_factory=dict)  # sign-off id -> the external piece it approved

    def _live_evidence(self, event_id: str, where: str, kinds: set[str] | frozenset[str]) -> Rejection | None:
        kind = self.evidence.get(event_id)
        if kind is None or kind not in kinds:
            return Rejection(where, f"no {' or '.join(sorted(kinds))} event {event_id} for this learner")
        if event_id in self.voided:
            return Rejection(where, f"event {event_id} has been voided")
        return None

    def _plan(self, plan_id: str) -> Rejection | None:
        if plan_id not in self.plans:
            return Rejection("payload.plan_id", f"no plan {plan_id!r} for this learner")
        return None

    def check(self, event: Envelope, catalog: Catalog, history: History | None = None) -> Rejection | None:
        """`history`: the learner's recorded events, asked for by credit decisions only (the
        ledger derives their basis from the record itself)."""
        p = event.payload
        if event.type == "learner.enrolled":
            if self.school_id == event.school_id:
                return Rejection("school_id", f"learner is already enrolled at {event.school_id}")
            return None
        if self.school_id is None:
            return Rejection("learner_id", f"learner {event.learner_id} is not enrolled")
        if event.type == "learner.transferred":
            return _check_transfer(event, self.school_id)
        if event.school_id != self.school_id:
            return Rejection("school_id", f"learner is enrolled at {self.school_id}, not {event.school_id}")
        if event.actor.role == "partner":
            problem = posting_problem(event, self.partners, self.unlinked_partners)
            if problem:
                return problem
        if event.type == "advisor.signed_off" and event.actor.id not in self.advisors:
            return Rejection("actor.id", f"advisor {event.actor.id} is not assigned to learner {event.learner_id}")
        if event.type in _CREDIT_DECISIONS:
            return getattr(self, "_check_" + event.type.replace(".", "_"))(p, catalog) or _CREDIT_DECISIONS[
                event.type](event, catalog, history)
        return getattr(self, "_check_" + event.type.replace(".", "_"), _accept)(p, catalog)

    def _check_assessment_recorded(self, p: Any, catalog: Catalog) -> Rejection | None:
        return (catalog.missing([p.competency_id], "payload.competency_id")
                or catalog.score_problem(p.competency_id, p.score, "payload.score"))

    def _check_artifact_submitted(self, p: Any, catalog: Catalog) -> Rejection | None:
        return catalog.missing(p.competencies_claimed, "payload.competencies_claimed")

    def _check_artifact_scored(self, p: Any, catalog: Catalog) -> Rejection | None:
        problem = self._live_evidence(str(p.artifact_event_id), "payload.artifact_event_id", {"artifact.submitted"})
        for competency_id, level in p.levels.items():
            problem = problem or catalog.score_problem(competency_id, level, f"payload.levels.{competency_id}")
        return problem

    def _check_advisor_signed_off(self, p: Any, catalog: Catalog) -> Rejection | None:
        subject = str(p.subject_event_id)
        # An external piece counts from its one standing approval (ledger.partners); another
        # waits until that one is voided.
        if p.decision == "approved" and subject in self.approvals.values():
            return Rejection("payload.subject_event_id", f"external evidence {subject} is already signed off")
        return self._live_evidence(subject, "payload.subject_event_id", EVIDENCE_TYPES)

    def _check_evidence_voided(self, p: Any, catalog: Catalog) -> Rejection | None:
        target = str(p.voided_event_id)
        if target in self.voided:
            return Rejection("payload.voided_event_id", f"event {target} is already voided")
        return self._live_evidence(target, "payload.voided_event_id", EVIDENCE_TYPES)

    def _check_partner_linked(self, p: Any, catalog: Catalog) -> Rejection | None:
        if p.partner_id in self.partners:
            return Rejection("payload.partner_id", f"partner {p.partner_id} is already linked to this learner")
        return None

    def _check_partner_unlinked(self, p: Any, catalog: Catalog) -> Rejection | None:
        if p.partner_id not in self.partners:
            return Rejection("payload.partner_id", f"partner {p.partner_id} is not linked to this learner")
        return None

    def _check_plan_set(self, p: Any, catalog: Catalog) -> Rejection | None:
        return catalog.missing(p.goals, "payload.goals")

    def _check_plan_goal_added(self, p: Any, catalog: Catalog) -> Rejection | None:
        problem = self._plan(p.plan_id) or catalog.missing([p.competency_id], "payload.competency_id")
        if problem is None and p.competency_id in self.plans[p.plan_id]:
            return Rejection("payload.competency_id", f"{p.competency_id} is already a goal of {p.plan_id}")
        return problem

    def _check_plan_goal_dropped(self, p: Any, catalog: Catalog) -> Rejection | None:
        problem = self._plan(p.plan_id)
        if problem is None and p.competency_id not in self.plans[p.plan_id]:
            return Rejection("payload.competency_id", f"{p.competency_id} is not a goal of {p.plan_id}")
        return problem

    def _check_plan_target_date_changed(self, p: Any, catalog: Catalog) -> Rejection | None:
        return self._plan(p.plan_id)

    def _check_credit_proposed(self, p: Any, catalog: Catalog) -> Rejection | None:
        if p.course_id not in catalog.courses:
            return Rejection("payload.course_id", f"course {p.course_id!r} has not been defined")
        for evidence_id in p.evidence_event_ids:
            problem = self._live_evidence(str(evidence_id), "payload.evidence_event_ids", EVIDENCE_TYPES)
            if problem:
                return problem
        return None

    def _check_credit_awarded(self, p: Any, catalog: Catalog) -> Rejection | None:
        proposal = str(p.proposal_event_id)
        if self.proposals.get(proposal) != p.course_id:
            return Rejection("payload.proposal_event_id", f"no credit proposal {proposal} for {p.course_id}")
        if proposal in self.awarded_proposals:
            return Rejection("payload.proposal_event_id", f"proposal {proposal} has already been approved")
        return self._check_credit_proposed(p, catalog)

    def _check_credit_revoked(self, p: Any, catalog: Catalog) -> Rejection | None:
        target = str(p.credit_event_id)
        if target not in self.credits:
            return Rejection("payload.credit_event_id", f"no credit award {target} for this learner")
        if self.credits[target]:
            return Rejection("payload.credit_event_id", f"credit {target} is already revoked")
        return None

    def _check_credit_confirmed(self, p: Any, catalog: Catalog) -> Rejection | None:
        return self._check_credit_revoked(p, catalog)

    def apply(self, event: dict[str, Any]) -> None:
        type_, p, event_id = event["type"], event["payload"], event["event_id"]
        if type_ == "learner.enrolled":
            self.school_id, self.grade = event["school_id"], p["grade"]
        elif type_ == "advisor.assigned":
            self.advisors.add(p["advisor_id"])
        elif type_ == "learner.transferred":
            # The old school's advisors stop acting for the learner; the new school assigns its own.
            self.former_schools.append(self.school_id)
            self.school_id, self.advisors = p["to_school_id"], set()
            # A partner was linked by the old school: the new one links its own.
            self.unlinked_partners |= set(self.partners)
            self.partners = {}
        elif type_ == "partner.linked":
            self.partners[p["partner_id"]] = event["school_id"]
            self.unlinked_partners.discard(p["partner_id"])
        elif type_ == "partner.unlinked":
            del self.partners[p["partner_id"]]
            self.unlinked_partners.add(p["partner_id"])
        elif type_ in EVIDENCE_TYPES:
            self.evidence[event_id] = type_
            if event["actor"]["role"] == "partner":
                self.external.add(event_id)
            elif type_ == "advisor.signed_off" and p["decision"] == "approved" and p["subject_event_id"] in self.external:
                self.approvals[event_id] = p["subject_event_id"]
        elif type_ == "evidence.voided":
            self.voided.add(p["voided_event_id"])
            self.approvals.pop(p["voided_event_id"], None)
        elif type_ == "plan.set":
            self.plans[p["plan_id"]] = set(p["goals"])
        elif type_ == "plan.goal_added":
            self.plans[p["plan_id"]].add(p["competency_id"])
        elif type_ == "plan.goal_dropped":
            self.plans[p["plan_id"]].discard(p["competency_id"])
        elif type_ == "credit.proposed":
            self.proposals[event_id] = p["course_id"]
        elif type_ == "credit.awarded":
            self.credits[event_id] = False
            self.awarded_proposals.add(p["proposal_event_id"])
        elif type_ == "credit.revoked":
            self.credits[p["credit_event_id"]] = True


def _accept(p: Any, catalog: Catalog) -> None:
    return None


def _check_transfer(event: Envelope, current: str) -> Rejection | None:
    p = event.payload
    problems = []
    if p.from_school_id != current:
        problems.append(("payload.from_school_id", f"learner is enrolled at {current}, not {p.from_school_id}"))
    if p.to_school_id == current:
        problems.append(("payload.to_school_id", f"learner is already enrolled at {current}"))
    if event.school_id != p.to_school_id:
        problems.append(("school_id", f"the new school ({p.to_school_id}) records a transfer, not {event.school_id}"))
    if not problems:
        return None
    return Rejection(problems[0][0], problems[0][1], tuple(problems[1:]))


# Checked after the record's own invariants, from the learner's history (see ledger.credit.decisions).
_CREDIT_DECISIONS = {
    "credit.proposed": lambda e, catalog, history: check_proposal(e.payload.model_dump(mode="json"), catalog, history),
    "credit.awarded": lambda e, catalog, history: check_award(e.payload.model_dump(mode="json"), e.actor.id, catalog,
                                                              history),
    "credit.confirmed": lambda e, catalog, history: check_confirmation(e.payload.model_dump(mode="json"), catalog,
                                                                       history),
}
