"""The domain's derivation of official states (ledger.credit.derive) is the DuckDB projection's,
for any history: time axes, ties, voids, artifacts and every way a method is chosen. And any
basis it derives, posted as a proposal and approved, is accepted and verifies."""

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.projector import run_projections
from ledger.credit.derive import derive_basis, competency_states
from ledger.credit.log import catalog_now, learner_log
from ledger.credit.verify import verify_credits
from projections import official
from tests import factories as f
from tests.conftest import make_ledger

LEARNERS = ["L1", "L2"]
COMPETENCIES = ["C1", "C2", "C3", "C4"]
METHODS = [{"name": "decaying_average", "params": {"weight": 0.65}}, {"name": "most_recent", "params": {}},
           {"name": "highest", "params": {}}, {"name": "mean", "params": {}},
           {"name": "n_times_at_mastery", "params": {"n": 2}}, {"name": "power_law", "params": {"floor": 1.0}}]
METHOD = st.sampled_from(METHODS)
SCORE = st.sampled_from([1.0, 2.0, 2.5, 3.0, 3.5, 4.0])

step = st.one_of(
    st.tuples(st.just("assess"), st.sampled_from(LEARNERS), st.sampled_from(COMPETENCIES), SCORE,
              st.integers(-60, 0), st.booleans()),
    st.tuples(st.just("artifact"), st.sampled_from(LEARNERS), st.lists(st.sampled_from(COMPETENCIES), min_size=1,
                                                                        max_size=2, unique=True), SCORE,
              st.integers(-60, 0)),
    st.tuples(st.just("void"), st.integers(0, 1000)),
)


def reference(course_a, course_b, own):
    framework = f.framework(COMPETENCIES)
    if own is not None:  # C4's own method beats any course's
        framework["payload"]["competencies"][3]["mastery_method"] = own
    # CRS-B is defined first but CRS-A comes first by id: C2 takes CRS-A's method.
    return [framework, f.course("CRS-B", ["C2", "C3"], method=course_b), f.course("CRS-A", ["C1", "C2"], method=course_a)]


def history(steps):
    docs, scored = [], []
    for s in steps:
        if s[0] == "assess":
            # Late entries share a demonstration time with an earlier one: ties go to log order.
            doc = f.assessment(s[1], s[2], s[3], days=s[4] if not s[5] else -30)
        elif s[0] == "artifact":
            artifact = f.event("artifact.submitted", {"uri": "https://lms.example.org/a.pdf", "sha256": "0" * 64,
                                                      "competencies_claimed": s[2]}, learner=s[1], days=s[4] - 1)
            docs.append(artifact)
            doc = f.event("artifact.scored", {"artifact_event_id": artifact["event_id"],
                                              "levels": {c: s[3] for c in s[2]}}, learner=s[1], days=s[4])
        elif s[0] == "void" and scored:
            target = scored.pop(s[1] % len(scored))
            doc = f.voided(target["learner_id"], target)
        else:
            continue
        if doc["type"] in ("assessment.recorded", "artifact.scored"):
            scored.append(doc)
        docs.append(doc)
    return docs


def projected_states(path):
    with official.connect(path, read_only=True) as con:
        rows = con.execute("SELECT learner_id, competency_id, level, mastered, method, params, evidence_count, "
                           "mastered_since FROM competency_state ORDER BY ALL").fetchall()
    return {(l, c): (level, mastered, method, json.loads(params), count, since.isoformat() if since else None)
            for l, c, level, mastered, method, params, count, since in rows}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=30), course_a=METHOD, course_b=METHOD, own=st.none() | METHOD)
def test_the_domain_derives_the_states_duckdb_projects_and_its_bases_are_accepted_and_verify(
        steps, course_a, course_b, own):
    docs = history(steps)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ledger = make_ledger(tmp / "store")
        setup = reference(course_a, course_b, own) + [f.enrolled(l) for l in LEARNERS]
        outcomes = list(ledger.post([f.line(d) for d in setup + docs]))
        assert [o.rejection for o in outcomes if o.rejection] == []
        run_projections(ledger, tmp / "p.duckdb")
        catalog = catalog_now(ledger)
        derived = {}
        for learner in LEARNERS:
            for c, s in competency_states(learner_log(ledger, learner), catalog).items():
                derived[(learner, c)] = (s.level, s.mastered, s.method["name"], s.method["params"],
                                         len(s.evidence), s.mastered_since)
        projected = projected_states(tmp / "p.duckdb")
        assert derived.keys() == projected.keys()
        for key, row in projected.items():
            mine = derived[key]
            assert mine[1:] == row[1:], key
            assert abs(mine[0] - row[0]) < 1e-9, key

        head = ledger.head_position()
        for learner in LEARNERS:
            entries = learner_log(ledger, learner)
            derivation = derive_basis(entries, catalog, "CRS-A", head)
            if not derivation.result.satisfied:
                continue
            proposal = f.event("credit.proposed", derivation.basis, learner=learner,
                               actor={"id": "credit-engine", "role": "ledger_service"})
            award = f.event("credit.awarded", {**derivation.basis, "proposal_event_id": proposal["event_id"],
                                               "approved_by": "reg-1"}, learner=learner, actor=f.REGISTRAR)
            outcomes = list(ledger.post([f.line(proposal), f.line(award)]))
            assert [o.status for o in outcomes] == ["accepted", "accepted"], [o.rejection for o in outcomes]
        check = verify_credits([ledger.read(0, 1_000_000)], set())
        assert check.problems == []
