"""A seeded, realistic small district: the events a year of a competency-based high school posts.

Learners have an ability and grow through the year; competencies differ in difficulty;
teachers assess several times, students submit artifacts that are scored and signed off;
a few results are voided, some make-up work is entered late, and some posts are repeated
(connectors retry). Everything comes out as the JSON lines a school would post.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

SUBJECTS = [
    ("ALG", "Algebra I"), ("GEO", "Geometry"), ("BIO", "Biology"), ("CHE", "Chemistry"),
    ("ELA", "English Language Arts"), ("HIS", "World History"), ("CIV", "Civics"), ("CSC", "Computer Science"),
]
SKILLS = ["Reasoning", "Modelling", "Communication", "Evidence", "Application"]
METHODS = [
    {"name": "decaying_average", "params": {"weight": 0.65}},
    {"name": "n_times_at_mastery", "params": {"n": 2}},
    {"name": "most_recent", "params": {}},
    {"name": "highest", "params": {}},
    {"name": "mean", "params": {}},
]
YEAR_START = datetime(2025, 9, 2, 8, 0, tzinfo=timezone.utc)
YEAR_DAYS = 280
FRAMEWORK_ID = "district-hs"


@dataclass
class District:
    lines: list[str] = field(default_factory=list)
    schools: list[str] = field(default_factory=list)
    learners: list[str] = field(default_factory=list)
    courses: list[str] = field(default_factory=list)
    competencies: list[str] = field(default_factory=list)
    duplicates_posted: int = 0
    voids: int = 0


def generate(seed: int = 7, learners: int = 400, schools: int = 3, *, first_learner: int = 0,
             reference: bool = True) -> District:
    """`first_learner` and `reference=False` let a big district be made in slices (see
    bench/common.py): learners numbered from `first_learner`, no framework or courses posted."""
    rng = random.Random(seed)
    district = District()
    timeline: list[tuple[datetime, int, dict[str, Any]]] = []  # (posted-at, tiebreak, event)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def add(at: datetime, event: dict[str, Any], posted_at: datetime | None = None) -> dict[str, Any]:
        event = {"event_id": new_id(), "schema_version": 1, "demonstrated_at": at.isoformat(), **event}
        timeline.append((posted_at or at, len(timeline), event))
        return event

    admin = {"id": "district-office", "role": "district_admin"}
    published = YEAR_START - timedelta(days=30)
    competencies = []
    for code, title in SUBJECTS:
        competencies.append({"id": code, "title": title})
        for n, skill in enumerate(SKILLS, 1):
            competencies.append({"id": f"{code}.{n}", "title": f"{title}: {skill}", "parent_id": code})
    framework = {"type": "framework.published", "actor": admin, "payload": {
        "framework_id": FRAMEWORK_ID, "title": "District High School Competencies", "version": 1,
        "scale": {"min": 1, "max": 4, "mastery_threshold": 3,
                  "labels": {"1": "Beginning", "2": "Developing", "3": "Proficient", "4": "Advanced"}},
        "competencies": competencies}}
    if reference:
        add(published, framework)
    district.competencies = [c["id"] for c in competencies if "parent_id" in c]
    difficulty = {c: rng.gauss(0, 0.5) for c in district.competencies}
    if first_learner:
        # Same competencies, same difficulties; other learners, other event ids.
        rng = random.Random(f"{seed}/{first_learner}")

    for i, (code, title) in enumerate(SUBJECTS):
        course_id = f"{code}-101"
        skills = [f"{code}.{n}" for n in range(1, len(SKILLS) + 1)]
        rule = [
            {"kind": "all_mastered", "version": 1},
            {"kind": "n_of_m", "version": 1, "n": 4},
            {"kind": "points", "version": 1, "points": {s: 1.0 for s in skills}, "min_points": 4.0,
             "required": skills[:2]},
        ][i % 3]
        if reference:
            add(published + timedelta(hours=i + 1), {"type": "course.defined", "actor": admin, "payload": {
                "course_id": course_id, "title": title, "framework_id": FRAMEWORK_ID, "credits": 1.0,
                "competencies": skills, "credit_rule": rule, "mastery_method": METHODS[i % len(METHODS)]}})
        district.courses.append(course_id)

    district.schools = [f"school-{n + 1:02d}" for n in range(schools)]
    for n in range(first_learner, first_learner + learners):
        learner = f"lrn-{n + 1:05d}"
        district.learners.append(learner)
        school = district.schools[n % schools]
        grade = 9 + n % 4
        ability = rng.gauss(0, 0.8)
        growth = rng.uniform(0.4, 1.6)
        advisor = f"adv-{school[-2:]}-{rng.randrange(6):02d}"
        teacher = {"id": f"tch-{school[-2:]}-{rng.randrange(20):02d}", "role": "teacher"}
        scope = {"learner_id": learner, "school_id": school}
        office = {"id": f"sis-{school}", "role": "school_system"}
        start = YEAR_START + timedelta(hours=rng.randrange(48))
        add(start, {"type": "learner.enrolled", **scope, "actor": office, "payload": {"grade": grade}})
        add(start + timedelta(minutes=5), {"type": "advisor.assigned", **scope, "actor": office,
                                           "payload": {"advisor_id": advisor}})
        courses = rng.sample(range(len(SUBJECTS)), 4)
        goals = rng.sample([f"{SUBJECTS[c][0]}.{k}" for c in courses for k in range(1, 6)], rng.randint(3, 6))
        plan_id = f"plan-{learner}"
        add(start + timedelta(days=3), {"type": "plan.set", **scope, "actor": {"id": advisor, "role": "advisor"},
                                        "payload": {"plan_id": plan_id, "title": f"{2025}-{2026} learning plan",
                                                    "goals": goals, "target_date": "2026-06-15"}})
        if rng.random() < 0.15:
            add(start + timedelta(days=rng.randrange(60, 160)), {
                "type": "plan.target_date_changed", **scope, "actor": {"id": advisor, "role": "advisor"},
                "payload": {"plan_id": plan_id, "target_date": "2026-08-15"}})
        for c in courses:
            code = SUBJECTS[c][0]
            for k in range(1, len(SKILLS) + 1):
                competency = f"{code}.{k}"
                for attempt in range(rng.randint(2, 5)):
                    day = rng.randrange(10, YEAR_DAYS)
                    at = YEAR_START + timedelta(days=day, minutes=rng.randrange(480))
                    latent = 2.2 + ability + growth * day / YEAR_DAYS - difficulty[competency] + rng.gauss(0, 0.6)
                    score = min(4.0, max(1.0, round(latent * 2) / 2))
                    late = rng.random() < 0.03  # make-up work entered weeks after it was done
                    posted = at + timedelta(days=rng.randrange(14, 40)) if late else at
                    assessment = add(at, {"type": "assessment.recorded", **scope, "actor": teacher, "payload": {
                        "competency_id": competency, "score": score,
                        "source": {"assessment_id": f"{code}-A{rng.randrange(40):02d}", "kind": rng.choice(
                            ["quiz", "test", "performance_task", "observation"])}}, "schema_version": 2},
                        posted_at=posted)
                    if rng.random() < 0.01:
                        add(posted + timedelta(days=2), {"type": "evidence.voided", **scope, "actor": teacher,
                                                         "payload": {"voided_event_id": assessment["event_id"],
                                                                     "reason": "scored against the wrong rubric"}})
                        district.voids += 1
            day = rng.randrange(60, YEAR_DAYS - 10)
            at = YEAR_START + timedelta(days=day)
            claimed = [f"{code}.{k}" for k in rng.sample(range(1, 6), 2)]
            content = f"{learner}/{code}/portfolio".encode()
            artifact = add(at, {"type": "artifact.submitted", **scope, "actor": teacher, "payload": {
                "uri": f"https://lms.example.org/{school}/{learner}/{code}/portfolio.pdf",
                "sha256": hashlib.sha256(content).hexdigest(), "competencies_claimed": claimed,
                "title": f"{SUBJECTS[c][1]} portfolio"}})
            levels = {comp: min(4.0, max(1.0, round((2.4 + ability + growth * day / YEAR_DAYS
                                                      - difficulty[comp] + rng.gauss(0, 0.5)) * 2) / 2))
                      for comp in claimed}
            scored = add(at + timedelta(days=3), {"type": "artifact.scored", **scope, "actor": teacher, "payload": {
                "artifact_event_id": artifact["event_id"], "levels": levels, "rubric_id": f"{code}-portfolio"}})
            if rng.random() < 0.6:
                add(at + timedelta(days=5), {"type": "advisor.signed_off", **scope,
                                             "actor": {"id": advisor, "role": "advisor"}, "payload": {
                    "subject_event_id": scored["event_id"],
                    "decision": "approved" if min(levels.values()) >= 3 else "needs_revision",
                    "statement": "Reviewed the portfolio against the rubric with the student."}})

    timeline.sort(key=lambda item: (item[0], item[1]))
    for _, _, event in timeline:
        district.lines.append(json.dumps(event))
        if rng.random() < 0.004:  # a connector that retries after a timeout
            district.lines.append(json.dumps(event))
            district.duplicates_posted += 1
    return district
