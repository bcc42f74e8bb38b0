"""The ledger's invariants, against the real eventsourcing SQLite recorder in a file."""

import json
import multiprocessing
import sqlite3
import uuid
from datetime import datetime

import pytest

from ledger.canonical import GENESIS, chain_hash
from tests import factories as f
from tests.conftest import make_ledger


def post(ledger, *docs):
    return list(ledger.post([f.line(d) for d in docs]))


def statuses(outcomes):
    return [o.status for o in outcomes]


def test_evidence_for_a_learner_who_is_not_enrolled_is_rejected(ledger):
    post(ledger, f.framework(), f.course())
    [outcome] = post(ledger, f.assessment("stranger"))
    assert outcome.status == "rejected"
    assert outcome.rejection.field == "learner_id"


def test_a_competency_outside_the_published_framework_is_rejected(ledger):
    post(ledger, *f.setup())
    [outcome] = post(ledger, f.assessment("L1", competency="C99"))
    assert outcome.rejection.field == "payload.competency_id"
    assert "C99" in outcome.rejection.reason


def test_a_score_outside_the_scale_is_rejected_and_named(ledger):
    post(ledger, *f.setup())
    [outcome] = post(ledger, f.assessment("L1", score=4.5))
    assert outcome.rejection.field == "payload.score"
    assert "1.0..4.0" in outcome.rejection.reason


def test_evidence_posted_by_the_wrong_school_is_rejected(ledger):
    post(ledger, *f.setup())
    [outcome] = post(ledger, f.assessment("L1", school="school-b"))
    assert outcome.rejection.field == "school_id"


def test_a_sign_off_must_reference_evidence_that_exists(ledger):
    post(ledger, *f.setup(), f.advisor_assigned("L1"))
    missing = f.assessment("L1")  # never posted
    sign_off = f.event("advisor.signed_off", {"subject_event_id": missing["event_id"], "decision": "approved",
                                              "statement": "Seen it."}, learner="L1", actor=f.ADVISOR)
    [outcome] = post(ledger, sign_off)
    assert outcome.rejection.field == "payload.subject_event_id"


def test_only_the_assigned_advisor_may_sign_off(ledger):
    evidence = f.assessment("L1")
    post(ledger, *f.setup(), f.advisor_assigned("L1", "adv-2"), evidence)
    sign_off = f.event("advisor.signed_off", {"subject_event_id": evidence["event_id"], "decision": "approved",
                                              "statement": "Seen it."}, learner="L1", actor=f.ADVISOR)
    [outcome] = post(ledger, sign_off)
    assert outcome.rejection.field == "actor.id"


def test_a_voided_event_cannot_be_voided_twice_or_signed_off(ledger):
    evidence = f.assessment("L1")
    post(ledger, *f.setup(), f.advisor_assigned("L1"), evidence)
    first, second = post(ledger, f.voided("L1", evidence), f.voided("L1", evidence))
    assert (first.status, second.status) == ("accepted", "rejected")
    assert "already voided" in second.rejection.reason
    sign_off = f.event("advisor.signed_off", {"subject_event_id": evidence["event_id"], "decision": "approved",
                                              "statement": "Seen it."}, learner="L1", actor=f.ADVISOR)
    [late] = post(ledger, sign_off)
    assert "voided" in late.rejection.reason


def test_the_same_event_posted_twice_is_a_duplicate_that_changes_nothing(ledger):
    evidence = f.assessment("L1")
    post(ledger, *f.setup(), evidence)
    before = ledger.head_position()
    assert statuses(post(ledger, evidence)) == ["duplicate"]
    assert ledger.head_position() == before
    assert len(ledger.learner_events("L1")) == 2


def test_the_same_event_id_with_different_content_is_a_conflict(ledger):
    evidence = f.assessment("L1")
    post(ledger, *f.setup(), evidence)
    changed = {**evidence, "payload": {**evidence["payload"], "score": 1.0}}
    [outcome] = post(ledger, changed)
    assert outcome.status == "rejected"
    assert outcome.rejection.field == "event_id" and "conflict" in outcome.rejection.reason
    [stored] = [e for e in ledger.learner_events("L1") if e.event["event_id"] == evidence["event_id"]]
    assert stored.event["payload"]["score"] == 3.0


def test_a_repeat_inside_one_batch_is_also_a_duplicate(ledger):
    evidence = f.assessment("L1")
    assert statuses(post(ledger, *f.setup(), evidence, evidence))[-2:] == ["accepted", "duplicate"]


@pytest.mark.sqlite_only
def test_each_event_is_chained_to_the_one_before_it_in_its_learners_stream(ledger):
    post(ledger, *f.setup(), f.assessment("L1"), f.assessment("L1", "C2", 2.0))
    previous = GENESIS
    with sqlite3.connect(ledger.env.get("SQLITE_DBNAME")) as db:
        rows = db.execute(
            "SELECT state FROM stored_events WHERE topic LIKE '%Stream.Recorded' ORDER BY rowid").fetchall()
    learner_rows = [json.loads(r[0]) for r in rows if json.loads(json.loads(r[0])["body"]).get("learner_id") == "L1"]
    assert len(learner_rows) == 3
    for state in learner_rows:
        assert state["hash"] == chain_hash(previous, state["body"])
        previous = state["hash"]


def test_events_keep_their_recording_time_beside_their_demonstration_time(ledger):
    post(ledger, *f.setup(), f.assessment("L1", days=-10))
    evidence = ledger.learner_events("L1")[-1].event
    demonstrated = datetime.fromisoformat(evidence["demonstrated_at"])
    assert demonstrated == datetime.fromisoformat(f.at(-10))
    assert datetime.fromisoformat(evidence["recorded_at"]) > demonstrated


def _open(store):
    """A ledger on `store`: a SQLite home folder, or a PostgreSQL URL (tests of either store)."""
    from tests.conftest import make_pg_ledger

    return make_pg_ledger(store) if isinstance(store, str) and store.startswith("postgresql://") else make_ledger(store)


def _writer(store, learner_ids, n, conn):
    ledger = _open(store)
    accepted = 0
    for i in range(n):
        outcomes = list(ledger.post([f.line(f.assessment(learner_ids[i % len(learner_ids)], score=1 + i % 4))]))
        accepted += outcomes[0].status == "accepted"
    ledger.close()
    conn.send(accepted)


def two_writers_post_to_the_same_learners(store, per_writer: int = 150) -> None:
    """Two processes post to the same three learners at once; every event must be kept."""
    learners = ["L1", "L2", "L3"]
    ledger = _open(store)
    post(ledger, *f.setup(learners))
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for _ in range(2):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_writer, args=(store, learners, per_writer, child))
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)
    try:
        accepted = []
        for pipe in pipes:
            assert pipe.poll(180), "a writer process did not finish"
            accepted.append(pipe.recv())
    finally:
        for proc in procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
    assert accepted == [per_writer, per_writer]
    evidence = sum(len(ledger.learner_events(l)) - 1 for l in learners)  # minus the enrolment
    assert evidence == 2 * per_writer
    fresh = _open(store)
    try:
        assert fresh.verify().ok
    finally:
        fresh.close()


def test_two_writer_processes_on_the_same_learners_lose_no_event(tmp_path):
    two_writers_post_to_the_same_learners(tmp_path / "ledger")


def test_an_event_allowed_by_what_another_process_recorded_is_accepted_not_refused_from_a_stale_cache(tmp_path):
    home = tmp_path / "ledger"
    first = make_ledger(home)
    post(first, *f.setup(["L1"]))
    artifact = f.event("artifact.submitted", {"competencies_claimed": ["C1"], "sha256": "b" * 64,
                                              "uri": "https://example.org/work.pdf"}, learner="L1", days=-3)
    post(first, artifact)  # `first` now holds L1's record in its cache
    other = make_ledger(home)  # another process's view of the same store
    assert statuses(post(other, f.advisor_assigned("L1", "adv-9"))) == ["accepted"]
    sign_off = f.event("advisor.signed_off", {"subject_event_id": artifact["event_id"], "decision": "approved",
                                              "statement": "Good."}, learner="L1",
                       actor={"id": "adv-9", "role": "advisor"}, days=-1)
    assert statuses(post(first, sign_off)) == ["accepted"]
    unassigned = {**sign_off, "event_id": str(uuid.uuid4()), "actor": {"id": "adv-0", "role": "advisor"}}
    [refused] = post(first, unassigned)
    assert refused.status == "rejected" and "not assigned" in refused.rejection.reason
