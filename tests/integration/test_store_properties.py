"""Properties of recording: whatever mix of posts, repeats, conflicts and voids arrives,
in whatever batches, the store ends consistent."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f
from tests.conftest import make_ledger

LEARNERS = ["L1", "L2", "L3"]

operation = st.one_of(
    st.tuples(st.just("new"), st.sampled_from(LEARNERS), st.sampled_from(["C1", "C2", "C3"]),
              st.sampled_from([1.0, 2.0, 2.5, 3.0, 4.0])),
    st.tuples(st.just("repeat"), st.integers(0, 10_000)),
    st.tuples(st.just("conflict"), st.integers(0, 10_000)),
    st.tuples(st.just("void"), st.integers(0, 10_000)),
)


def build(ops):
    """The documents to post, what a correct ledger must end up holding (a simple model), and
    the outcome each post must get."""
    docs, kept, voided, assessments, expected = [], {}, set(), [], []
    for op in ops:
        if op[0] == "new":
            doc = f.assessment(op[1], op[2], op[3])
            kept[doc["event_id"]] = doc
            assessments.append(doc)
            status = "accepted"
        elif not assessments:
            continue
        elif op[0] == "repeat":
            doc = docs[op[1] % len(docs)]
            status = "duplicate" if kept.get(doc["event_id"]) is doc else "rejected"
        elif op[0] == "conflict":
            original = assessments[op[1] % len(assessments)]
            doc = {**original, "payload": {**original["payload"], "score": 1.5}}
            status = "rejected"
        else:
            target = assessments[op[1] % len(assessments)]
            doc = f.voided(target["learner_id"], target)
            status = "rejected"
            if target["event_id"] in kept and target["event_id"] not in voided:
                voided.add(target["event_id"])
                kept[doc["event_id"]] = doc
                status = "accepted"
        docs.append(doc)
        expected.append(status)
    return docs, kept, voided, expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, max_size=40), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_any_interleaving_of_posts_repeats_conflicts_and_voids_leaves_the_store_consistent(ops, cuts):
    docs, kept, voided, expected = build(ops)
    with tempfile.TemporaryDirectory() as home:
        ledger = make_ledger(Path(home))
        list(ledger.post([f.line(d) for d in f.setup(LEARNERS)]))
        bounds = sorted({0, len(docs), *[c for c in cuts if c < len(docs)]})
        statuses = []
        for start, stop in zip(bounds, bounds[1:]):
            statuses += [o.status for o in ledger.post([f.line(d) for d in docs[start:stop]])]
        assert statuses == expected, "a post got the wrong outcome (a repeat must be a duplicate)"

        stored = [e for learner in LEARNERS for e in ledger.learner_events(learner)
                  if e.event["type"] != "learner.enrolled"]
        ids = [e.event["event_id"] for e in stored]
        assert len(ids) == len(set(ids)), "an event was stored twice"
        assert set(ids) == set(kept), "an event was lost or one was let in that should not be"
        for e in stored:  # conflicting re-posts never overwrite what was first recorded
            if e.event["type"] == "assessment.recorded":
                assert e.event["payload"]["score"] == kept[e.event["event_id"]]["payload"]["score"]
        assert {e.event["payload"]["voided_event_id"] for e in stored
                if e.event["type"] == "evidence.voided"} == voided
        assert ledger.verify().ok
