"""Projections are a pure function of the ordered log: however it is cut into batches, and
whatever repeats or voids it holds."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f
from tests.conftest import make_ledger
from consumers.projector import run_projections
from tests.projection_support import project_in_batches, table_rows

LEARNERS = ["L1", "L2"]
COMPETENCIES = ["C1", "C2", "C3"]
METHOD = st.sampled_from([
    {"name": "decaying_average", "params": {"weight": 0.65}}, {"name": "most_recent", "params": {}},
    {"name": "highest", "params": {}}, {"name": "mean", "params": {}},
    {"name": "n_times_at_mastery", "params": {"n": 2}}])

step = st.one_of(
    st.tuples(st.just("assess"), st.sampled_from(LEARNERS), st.sampled_from(COMPETENCIES),
              st.sampled_from([1.0, 2.0, 2.5, 3.0, 3.5, 4.0]), st.integers(-60, 0)),
    st.tuples(st.just("void"), st.integers(0, 1000)),
    st.tuples(st.just("plan"), st.sampled_from(LEARNERS), st.lists(st.sampled_from(COMPETENCIES), min_size=1,
                                                                     max_size=3, unique=True)),
    st.tuples(st.just("goal"), st.sampled_from(LEARNERS), st.sampled_from(COMPETENCIES)),
)


def history(steps):
    """Documents to post, and the ids of assessments that end up voided."""
    docs, assessments, voided, plans = [], [], set(), {}
    for s in steps:
        if s[0] == "assess":
            doc = f.assessment(s[1], s[2], s[3], days=s[4])
            assessments.append(doc)
        elif s[0] == "void" and assessments:
            target = assessments[s[1] % len(assessments)]
            if target["event_id"] in voided:
                continue
            voided.add(target["event_id"])
            doc = f.voided(target["learner_id"], target)
        elif s[0] == "plan":
            plans[s[1]] = set(s[2])
            doc = f.event("plan.set", {"plan_id": "p", "title": "Plan", "goals": s[2], "target_date": "2026-06-01"},
                          learner=s[1], actor=f.ADVISOR)
        elif s[0] == "goal" and s[1] in plans:
            kind = "plan.goal_dropped" if s[2] in plans[s[1]] else "plan.goal_added"
            plans[s[1]] ^= {s[2]}
            if not plans[s[1]] and kind == "plan.goal_dropped":
                plans[s[1]].add(s[2])
                continue
            doc = f.event(kind, {"plan_id": "p", "competency_id": s[2]}, learner=s[1], actor=f.ADVISOR)
        else:
            continue
        docs.append(doc)
    return docs, voided


def recorded(home: Path, docs, method, repeat=False):
    return recording(home, docs, method, repeat).read(0, 1_000_000)


def recording(home: Path, docs, method, repeat=False):
    ledger = make_ledger(home)
    setup = [f.framework(), f.course(competencies=COMPETENCIES, method=method)] + [f.enrolled(l) for l in LEARNERS]
    outcomes = list(ledger.post([f.line(d) for d in setup + docs]))
    assert all(o.status == "accepted" for o in outcomes), [o.rejection for o in outcomes if o.rejection]
    if repeat:
        assert {o.status for o in ledger.post([f.line(d) for d in setup + docs])} == {"duplicate"}
    return ledger


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=30), method=METHOD, cuts=st.lists(st.integers(1, 40), max_size=5))
def test_incremental_projections_equal_a_rebuild_however_the_log_is_cut(steps, method, cuts):
    docs, _ = history(steps)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ledger = recording(tmp / "store", docs, method, repeat=True)
        events = ledger.read(0, 1_000_000)
        # The rebuild's own path: stored bytes parsed by DuckDB, states computed once at the end.
        run_projections(ledger, tmp / "rebuilt.duckdb", rebuild=True, batch_size=7)
        rebuilt = table_rows(tmp / "rebuilt.duckdb")
        incremental = project_in_batches(events, tmp / "incremental.duckdb", cuts)
        assert incremental == rebuilt
        assert len(rebuilt["evidence"]) == sum(d["type"] == "assessment.recorded" for d in docs)


def sealed_text_blanked(rows):
    return [tuple("<sealed>" if isinstance(v, str) and v.startswith("pd1:") else v for v in row) for row in rows]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=30), method=METHOD)
def test_voided_evidence_stops_counting_as_if_it_had_never_been_posted(steps, method):
    docs, voided = history(steps)
    without = [d for d in docs if d["event_id"] not in voided and d["type"] != "evidence.voided"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with_voids = project_in_batches(recorded(tmp / "a", docs, method), tmp / "a.duckdb")
        never_posted = project_in_batches(recorded(tmp / "b", without, method), tmp / "b.duckdb")
        assert with_voids["competency_state"] == never_posted["competency_state"]
        # Each ledger seals a plan's title under its own learner key: compare what the void moves.
        assert sealed_text_blanked(with_voids["plan_progress"]) == sealed_text_blanked(never_posted["plan_progress"])
