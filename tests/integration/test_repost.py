"""Re-posting and refusals on the store under test (SQLite, then PostgreSQL): receipts are looked up
a batch at a time, and a refused event re-reads nothing unless its records moved in the store."""

import uuid

from ledger import application
from ledger.streams import stream_id
from tests import factories as f
from tests.conftest import make_ledger


def post(ledger, docs):
    return [o.status for o in ledger.post([f.line(d) for d in docs])]


def evidence(learners, per_learner):
    return [f.assessment(learner, "C1", 1.0 + i % 4, days=-i) for i in range(per_learner) for learner in learners]


def test_a_file_posted_again_is_all_duplicates_and_a_changed_line_a_conflict(ledger, tmp_path):
    learners = [f"L{i}" for i in range(30)]
    docs = f.setup(learners) + evidence(learners, 40)  # three batches and more
    assert set(post(ledger, docs)) == {"accepted"}
    head = ledger.head_position()
    again = make_ledger(tmp_path / "ledger")  # another process: a cold cache, as `ledger post` has
    assert set(post(again, docs)) == {"duplicate"}
    changed = list(docs)
    changed[700] = {**docs[700], "payload": {**docs[700]["payload"], "score": 4.0 if docs[700]["payload"]["score"]
                                             != 4.0 else 1.0}}
    new = f.assessment("L3", "C2", 3.0)
    statuses = post(again, changed + [new])
    assert statuses[700] == "rejected" and statuses[-1] == "accepted"
    assert statuses.count("duplicate") == len(docs) - 1
    assert ledger.head_position() > head
    assert len(again.learner_events("L3")) == 1 + 40 + 1


def test_receipts_of_a_batch_are_looked_up_in_one_query_not_one_per_event(ledger, tmp_path, monkeypatch):
    docs = f.setup(["L1", "L2"]) + evidence(["L1", "L2"], 100)
    post(ledger, docs)
    asked = []
    real = application.first_events
    monkeypatch.setattr(application, "first_events", lambda recorder, ids: asked.append(len(ids)) or real(recorder, ids))
    again = make_ledger(tmp_path / "ledger")
    assert set(post(again, docs)) == {"duplicate"}
    # a fresh process first takes the lines as new, meets the receipts' primary key, then looks the
    # whole batch up at once (the refused repeats of the reference data before that, also at once)
    assert len(asked) <= 3 and asked[-1] == len(docs)
    asked.clear()
    assert set(post(again, docs)) == {"duplicate"}
    assert asked == [len(docs)]  # once repeats are met, a batch's receipts are looked up first, in one query
    one_by_one = []
    monkeypatch.setattr(again.recorder, "select_events",
                        lambda *a, **k: one_by_one.append(a) or type(again.recorder).select_events(again.recorder, *a, **k))
    assert set(post(again, docs)) == {"duplicate"}
    assert not one_by_one  # no receipt, and no stream, read one at a time


def test_a_refused_event_does_not_make_the_batch_re_read_every_stream_it_touched(ledger):
    learners = [f"L{i}" for i in range(20)]
    post(ledger, f.setup(learners) + evidence(learners, 2))
    cached = {learner: ledger.repository.cache.get(stream_id(f"learner:{learner}")) for learner in learners}
    bad = f.assessment("L0", "ALG.99", 3.0)
    statuses = post(ledger, evidence(learners, 3)[40:] + [bad])
    assert statuses[-1] == "rejected" and set(statuses[:-1]) == {"accepted"}
    # the streams this process had read are still the ones it holds: nothing was evicted and replayed
    assert all(ledger.repository.cache.get(stream_id(f"learner:{learner}")) is cached[learner]
               for learner in learners)
    assert len(ledger.learner_events("L5")) == 1 + 3


def test_a_refusal_is_decided_again_when_another_process_has_since_changed_the_record(ledger, tmp_path):
    post(ledger, f.setup(["L1"]))
    stranger = f.assessment("L9")
    assert post(ledger, [stranger]) == ["rejected"]  # L9 is not enrolled: this process caches that
    other = make_ledger(tmp_path / "ledger")
    assert post(other, [f.enrolled("L9")]) == ["accepted"]
    assert post(ledger, [{**stranger, "event_id": str(uuid.uuid4())}]) == ["accepted"]
