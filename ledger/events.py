"""The event catalogue: one pydantic v2 model per event type and schema version.

Models are strict (no coercion of "3" into 3, no unknown fields, no naive datetimes)
because evidence is kept forever: a mistake let in at the door can never be edited out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Pseudonymous ids only: a narrow alphabet keeps names, e-mail addresses and unicode
# look-alikes (which would make two "equal" ids differ) out of the ledger. The whole value must
# match: pydantic-core's regex engine reads `$` as the end of the text (Python's `re` would let
# a trailing newline through, hence `\Z` in api/app.py), and JSON Schema readers read it so too.
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


def _not_sealed_looking(value: str) -> str:
    # `pd1:` marks sealed personal text (ledger.shredding), opened wherever it appears in a
    # string: an id holding it would read as `[erased]` or as someone's text.
    if "pd1:" in value:
        raise ValueError("must not contain 'pd1:' (it marks sealed personal text)")
    return value


Id = Annotated[Id, AfterValidator(_not_sealed_looking)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=300)]
MethodName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Uri = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9+.-]*://\S+$", max_length=2000)]
Score = float

# Clocks disagree a little between a school's system and the ledger; more than this
# and "demonstrated in the future" is a data-entry mistake.
CLOCK_SKEW = timedelta(minutes=5)


class Model(BaseModel):
    # allow_inf_nan=False: NaN and Infinity (and 1e999, read as infinity) would be stored as null
    # and break every computation that reads the rule or the score later.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


# --- reference data -----------------------------------------------------------------


class Scale(Model):
    min: Score
    max: Score
    mastery_threshold: Score
    labels: dict[str, Title] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if not self.min < self.max:
            raise ValueError("scale min must be below max")
        if not self.min <= self.mastery_threshold <= self.max:
            raise ValueError("mastery_threshold must lie within the scale")
        return self

    def contains(self, score: float) -> bool:
        return self.min <= score <= self.max


class MasteryMethod(Model):
    name: MethodName
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)


# CASE identifiers are UUIDs in CASE 1.0, but older exports (and ASN) use URIs: keep them as given.
CaseId = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class Competency(Model):
    id: Id
    title: Title
    parent_id: Id | None = None
    case_guid: CaseId | None = None
    statement: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = None
    mastery_method: MasteryMethod | None = None


class FrameworkPublishedPayload(Model):
    framework_id: Id
    title: Title
    version: int = Field(ge=1)
    scale: Scale
    competencies: list[Competency] = Field(min_length=1)
    case_document_guid: CaseId | None = None
    source: Text | None = None

    @model_validator(mode="after")
    def _hierarchy(self) -> FrameworkPublishedPayload:
        ids = [c.id for c in self.competencies]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"competency ids repeat: {', '.join(dupes)}")
        parents = {c.id: c.parent_id for c in self.competencies}
        for c in self.competencies:
            if c.parent_id is not None and c.parent_id not in parents:
                raise ValueError(f"competency {c.id} has unknown parent {c.parent_id}")
        for start in parents:
            seen, node = set(), start
            while node is not None:
                if node in seen:
                    raise ValueError(f"competency hierarchy has a cycle through {node}")
                seen.add(node)
                node = parents[node]
        return self


class CreditRule(Model):
    kind: Literal["all_mastered", "n_of_m", "points"]
    version: int = Field(ge=1)
    n: int | None = Field(default=None, ge=1)
    points: dict[Id, float] | None = None
    min_points: float | None = None
    required: list[Id] = Field(default_factory=list)

    @model_validator(mode="after")
    def _parameters(self) -> CreditRule:
        if self.kind == "n_of_m" and self.n is None:
            raise ValueError("an n_of_m rule needs n")
        if self.kind == "points" and (self.points is None or self.min_points is None):
            raise ValueError("a points rule needs points and min_points")
        return self


class CourseDefinedPayload(Model):
    course_id: Id
    title: Title
    framework_id: Id
    credits: float = Field(gt=0, le=20)
    competencies: list[Id] = Field(min_length=1)
    credit_rule: CreditRule
    mastery_method: MasteryMethod

    @model_validator(mode="after")
    def _rule_fits_course(self) -> CourseDefinedPayload:
        listed = set(self.competencies)
        rule = self.credit_rule
        if rule.n is not None and rule.n > len(listed):
            raise ValueError(f"credit_rule.n={rule.n} exceeds the course's {len(listed)} competencies")
        named = set(rule.required) | set(rule.points or {})
        if named - listed:
            raise ValueError(f"credit_rule names competencies outside the course: {sorted(named - listed)}")
        return self


# --- learners -------------------------------------------------------------------------


class LearnerEnrolledPayload(Model):
    grade: int = Field(ge=0, le=12)
    cohort: Id | None = None


class AdvisorAssignedPayload(Model):
    advisor_id: Id


class LearnerTransferredPayload(Model):
    """A learner moves schools and keeps their one chain: the envelope's school_id is the new
    school (it writes from now on); the old one keeps reading what it recorded."""

    from_school_id: Id
    to_school_id: Id
    effective: date


class PartnerLinkedPayload(Model):
    """A school links a community partner (an internship, co-op, museum) to a learner: the
    partner may then post observations and artifacts about them, which count once signed off."""

    partner_id: Id
    name: Title | None = None


class PartnerUnlinkedPayload(Model):
    partner_id: Id


# --- evidence ---------------------------------------------------------------------------


class AssessmentSource(Model):
    assessment_id: Id
    kind: Literal["quiz", "test", "performance_task", "observation", "standardized"]
    title: Title | None = None


class AssessmentRecordedPayloadV1(Model):
    competency_id: Id
    score: Score
    assessment_id: Id


class AssessmentRecordedPayload(Model):
    competency_id: Id
    score: Score
    source: AssessmentSource


class ArtifactSubmittedPayload(Model):
    uri: Uri
    sha256: Sha256
    competencies_claimed: list[Id] = Field(min_length=1)
    title: Title | None = None


class ArtifactScoredPayload(Model):
    artifact_event_id: UUID
    levels: dict[Id, Score] = Field(min_length=1)
    rubric_id: Id | None = None


class AdvisorSignedOffPayload(Model):
    subject_event_id: UUID
    decision: Literal["approved", "needs_revision", "rejected"]
    statement: Text


class EvidenceVoidedPayload(Model):
    voided_event_id: UUID
    reason: Text


class XapiStatementPayload(Model):
    """An xAPI statement from an LRS client (xapi/), on the chain of the learner it is about.
    `statement` is the statement as the LRS stored it (its actor's identifiers are personal
    data, encrypted before hashing: ledger.personal_data, declared at the end of this module)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
    statement_id: UUID
    verb: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    activity: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    lms: Id  # the lrs_client key that sent it
    statement: dict[str, Any]


class XapiAlignmentPostedPayload(Model):
    """Reference data: statements about this activity IRI (or any IRI starting with it, `prefix`)
    are evidence of these competencies (xapi.evidence). A later alignment of the same `activity`
    replaces the earlier one. `success_level`/`failure_level`: the level `result.success` alone
    maps to (default: the scale's max / min)."""

    activity: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")]
    prefix: bool = False
    competencies: list[Id] = Field(min_length=1)
    kind: Literal["quiz", "test", "performance_task", "observation", "standardized"] = "quiz"
    success_level: float | None = None
    failure_level: float | None = None


# --- learning plans -----------------------------------------------------------------------


class PlanSetPayload(Model):
    plan_id: Id
    title: Title
    goals: list[Id] = Field(min_length=1)
    target_date: date

    @field_validator("goals")
    @classmethod
    def _distinct(cls, goals: list[str]) -> list[str]:
        if len(set(goals)) != len(goals):
            raise ValueError("goals repeat a competency")
        return goals


class PlanGoalAddedPayload(Model):
    plan_id: Id
    competency_id: Id


class PlanGoalDroppedPayload(Model):
    plan_id: Id
    competency_id: Id
    reason: Text | None = None


class PlanTargetDateChangedPayload(Model):
    plan_id: Id
    target_date: date


# --- credit ----------------------------------------------------------------------------------


class BasisEvent(Model):
    """One logged event a decision rests on, pinned by its hash and log position."""

    event_id: UUID
    hash: Sha256
    position: int = Field(ge=1)
    type: str
    demonstrated_at: AwareDatetime
    score: Score | None = None
    actor_id: Id | None = None
    decision: str | None = None


class CompetencyStateAtDecision(Model):
    competency_id: Id
    level: Score | None
    mastered: bool
    counted: bool  # whether the rule counted this competency towards the credit
    method: MasteryMethod
    evidence: list[BasisEvent] = Field(default_factory=list)
    sign_offs: list[BasisEvent] = Field(default_factory=list)


class CreditBasis(Model):
    """Everything a credit decision rests on, copied into the event so that rules and methods
    changed later can never rewrite it."""

    course_id: Id
    credits: float = Field(gt=0, le=20)
    rule: CreditRule
    competency_states: list[CompetencyStateAtDecision] = Field(min_length=1)
    evidence_event_ids: list[UUID] = Field(min_length=1)
    log_position: int = Field(ge=0)  # the log position the states were computed at


class CreditProposedPayload(CreditBasis):
    pass


class CreditAwardedPayload(CreditBasis):
    proposal_event_id: UUID
    approved_by: Id


class CreditRevokedPayload(Model):
    credit_event_id: UUID
    reason: Text


class CreditConfirmedPayload(Model):
    """A registrar's review of a flagged award: the ledger re-evaluates the rule with the voided
    evidence removed and records the confirmation only if it still holds."""

    credit_event_id: UUID
    still_holds: bool
    note: Text | None = None


# --- personal data ----------------------------------------------------------------------------


class PersonErasedPayload(Model):
    """A person's data key was destroyed (ledger.erasure). No personal data: the reason is a
    code, not free text, and the person is the envelope's pseudonymous learner_id."""

    reason: Literal["data_subject_request", "retention_ended", "legal_order", "other"]


# --- envelope ---------------------------------------------------------------------------------

Role = Literal["teacher", "advisor", "registrar", "school_system", "district_admin", "ledger_service", "partner"]


class Actor(Model):
    id: Id
    role: Role


class Envelope(Model):
    """What every posted event carries. `recorded_at` is not here: the ledger sets it."""

    kind: ClassVar[str]  # "reference" or "learner": which chain the event joins
    allowed_roles: ClassVar[frozenset[str] | None] = None

    event_id: UUID
    type: str
    schema_version: int
    learner_id: Id | None = None
    school_id: Id | None = None
    actor: Actor
    demonstrated_at: AwareDatetime
    payload: Model

    @field_validator("demonstrated_at")
    @classmethod
    def _not_in_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now") or datetime.now(timezone.utc)
        if value > now + CLOCK_SKEW:
            raise ValueError(f"{value.isoformat()} is in the future")
        return value

    @model_validator(mode="after")
    def _scope(self) -> Envelope:
        if self.kind == "learner":
            if self.learner_id is None:
                raise ValueError(f"learner_id is required for {self.type}")
            if self.school_id is None:
                raise ValueError(f"school_id is required for {self.type}")
        elif self.learner_id is not None:
            raise ValueError(f"{self.type} is reference data and carries no learner_id")
        if self.allowed_roles is not None and self.actor.role not in self.allowed_roles:
            raise ValueError(
                f"actor.role {self.actor.role!r} may not post {self.type}; "
                f"allowed: {', '.join(sorted(self.allowed_roles))}"
            )
        return self


def _event(type_: str, version: int, payload: type[Model], kind: str, roles: set[str] | None = None):
    # Pydantic needs Literal annotations per subclass, so each class is built here once.
    return type(
        "".join(part.title() for part in type_.replace("_", ".").split(".")) + f"V{version}",
        (Envelope,),
        {
            "__annotations__": {
                "type": Literal[type_],  # type: ignore[valid-type]
                "schema_version": Literal[version],  # type: ignore[valid-type]
                "payload": payload,
            },
            "kind": kind,
            "allowed_roles": frozenset(roles) if roles else None,
            "__module__": __name__,
        },
    )


# Who may post what, by the actor's role, on every path (CLI, HTTP, Kafka): a registrar records
# credit decisions but no evidence; teachers, advisors and school systems record evidence but
# decide no credit; district staff keep the reference data and the rolls. README: "Event types".
REFERENCE_ROLES = {"district_admin", "registrar"}
ROLL_ROLES = {"school_system", "district_admin", "registrar"}
ASSESSING_ROLES = {"teacher", "school_system"}
EVIDENCE_ROLES = {"teacher", "advisor", "school_system"}
PLANNING_ROLES = {"advisor", "teacher", "school_system"}
# A community partner's postings are external evidence (ledger.partners): counted only once an
# advisor of the learner's school signs them off.
PARTNER_ROLE = "partner"

# (type, version) -> model. The newest version of each type is the current one.
MODELS: dict[tuple[str, int], type[Envelope]] = {
    (t, v): _event(t, v, p, k, r)
    for t, v, p, k, r in [
        ("framework.published", 1, FrameworkPublishedPayload, "reference", REFERENCE_ROLES),
        ("course.defined", 1, CourseDefinedPayload, "reference", REFERENCE_ROLES),
        ("xapi.alignment.posted", 1, XapiAlignmentPostedPayload, "reference", REFERENCE_ROLES),
        ("learner.enrolled", 1, LearnerEnrolledPayload, "learner", ROLL_ROLES),
        ("advisor.assigned", 1, AdvisorAssignedPayload, "learner", ROLL_ROLES),
        ("learner.transferred", 1, LearnerTransferredPayload, "learner", ROLL_ROLES),
        ("partner.linked", 1, PartnerLinkedPayload, "learner", ROLL_ROLES),
        ("partner.unlinked", 1, PartnerUnlinkedPayload, "learner", ROLL_ROLES),
        ("assessment.recorded", 1, AssessmentRecordedPayloadV1, "learner", ASSESSING_ROLES),
        ("assessment.recorded", 2, AssessmentRecordedPayload, "learner", ASSESSING_ROLES | {PARTNER_ROLE}),
        ("artifact.submitted", 1, ArtifactSubmittedPayload, "learner", EVIDENCE_ROLES | {PARTNER_ROLE}),
        ("artifact.scored", 1, ArtifactScoredPayload, "learner", EVIDENCE_ROLES),
        ("advisor.signed_off", 1, AdvisorSignedOffPayload, "learner", {"advisor"}),
        ("evidence.voided", 1, EvidenceVoidedPayload, "learner", EVIDENCE_ROLES),
        ("plan.set", 1, PlanSetPayload, "learner", PLANNING_ROLES),
        ("plan.goal_added", 1, PlanGoalAddedPayload, "learner", PLANNING_ROLES),
        ("plan.goal_dropped", 1, PlanGoalDroppedPayload, "learner", PLANNING_ROLES),
        ("plan.target_date_changed", 1, PlanTargetDateChangedPayload, "learner", PLANNING_ROLES),
        ("credit.proposed", 1, CreditProposedPayload, "learner", {"ledger_service", "registrar"}),
        ("credit.awarded", 1, CreditAwardedPayload, "learner", {"registrar"}),
        ("credit.revoked", 1, CreditRevokedPayload, "learner", {"registrar"}),
        ("credit.confirmed", 1, CreditConfirmedPayload, "learner", {"registrar"}),
        ("person.erased", 1, PersonErasedPayload, "learner", {"district_admin"}),
        ("xapi.statement", 1, XapiStatementPayload, "learner", {"school_system"}),
    ]
}

CURRENT_VERSION: dict[str, int] = {}
for _type, _version in MODELS:
    CURRENT_VERSION[_type] = max(_version, CURRENT_VERSION.get(_type, 0))

EVIDENCE_TYPES = frozenset(
    {"assessment.recorded", "artifact.submitted", "artifact.scored", "advisor.signed_off"}
)


def current_model(type_: str) -> type[Envelope]:
    return MODELS[(type_, CURRENT_VERSION[type_])]


# --- upcasting: stored events keep the version they were posted in; readers see the current one


def _assessment_recorded_v1_to_v2(event: dict[str, Any]) -> dict[str, Any]:
    # v1 named only the assessment; v2 says what kind of assessment it was. Every v1
    # source system posted unit tests, so "test" is the truthful default, not a guess.
    payload = dict(event["payload"])
    payload["source"] = {"assessment_id": payload.pop("assessment_id"), "kind": "test"}
    return {**event, "schema_version": 2, "payload": payload}


UPCASTERS = {("assessment.recorded", 1): _assessment_recorded_v1_to_v2}


def upcast(event: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored event dict up to its type's current schema version."""
    key = (event["type"], event["schema_version"])
    while key in UPCASTERS:
        event = UPCASTERS[key](event)
        key = (event["type"], event["schema_version"])
    return event


# xAPI statements name people (actor, instructor, team, group members, an Agent object): every
# identifier and name is personal and encrypted with the learner's key before hashing.
def _declare_xapi_personal_fields() -> None:
    from ledger.personal_data import declare, declare_public

    agents = ["payload.statement.actor", "payload.statement.actor.member[]", "payload.statement.object",
              "payload.statement.object.member[]", "payload.statement.context.instructor",
              "payload.statement.context.instructor.member[]", "payload.statement.context.team",
              "payload.statement.context.team.member[]"]
    declare("xapi.statement", [f"{agent}.{key}" for agent in agents
                               for key in ("name", "mbox", "mbox_sha1sum", "openid", "account")]
            # What the learner wrote or the LMS attached about them (free text, any extension).
            + ["payload.statement.result.response", "payload.statement.result.extensions",
               "payload.statement.context.extensions"])
    # The verb and activity are IRIs of the LMS's course content, never of a person: kept in clear
    # so that alignments, audits and the unaligned counts can read them.
    declare_public("xapi.statement", {"payload.verb": "an xAPI verb IRI names an action, not a person",
                                      "payload.activity": "an activity IRI names course content, not a person"})


_declare_xapi_personal_fields()
