"""The insider's attacks on the store, one test each, on the suite's real store (SQLite file, then a
PostgreSQL schema): plain SQL behind the ledger's back, then `verify` must fail and name what broke.

Every attack here passed the chain-only verify this project had before the anchored log."""

import re

import pytest

from ledger import checkpoints
from ledger.streams import stream_id
from tests import factories as f
from tests.conftest import make_ledger
from tests.tamper import Store


def post(ledger, docs):
    return [o.status for o in ledger.post([f.line(d) for d in docs])]


@pytest.fixture
def history(ledger):
    """Four posted batches (four signed checkpoints); L1's events are the log's last."""
    post(ledger, f.setup(["L1", "L2", "L3"]))
    posted = {}
    for learner in ("L2", "L3", "L1"):
        posted[learner] = [f.assessment(learner, "C1" if i % 2 else "C2", 2.0 + i % 3, days=i) for i in range(12)]
        assert post(ledger, posted[learner]) == ["accepted"] * 12
    return ledger, Store(ledger.env), posted


def broken(report, kind=None):
    return [b["reason"] for b in report.broken if kind is None or b["kind"] == kind]


def test_an_honest_log_verifies_against_every_checkpoint(history):
    ledger, store, _ = history
    report = ledger.verify()
    assert report.ok, report.broken
    assert (report.events, report.tree_size, report.checkpoints, report.unanchored) == (41, 41, 4, 0)
    assert report.receipts == 41
    assert report.latest_checkpoint["tree_size"] == 41


@pytest.mark.parametrize("count", [1, 10])
def test_deleting_the_tail_of_a_stream_is_named(history, count):
    ledger, store, posted = history
    tail = store.stream("learner:L1")[-count:]
    store.delete([r.position for r in tail])
    report = ledger.verify()
    assert not report.ok
    assert broken(report, "chain") == []  # what is left of the chain still links: the old verify passed
    [truncated] = broken(report, "tree")
    assert f"the log holds {41 - count} recorded events" in truncated and f"{count} were deleted" in truncated
    missing = broken(report, "receipt")
    assert len(missing) == count and all("has no recorded event: the event was deleted" in m for m in missing)
    assert {b["event_id"] for b in report.broken if b["kind"] == "receipt"} == {d["event_id"] for d in posted["L1"][-count:]}


def test_deleting_the_tail_then_reposting_it_is_not_accepted_as_a_clean_duplicate(history, tmp_path):
    ledger, store, posted = history
    store.delete([r.position for r in store.stream("learner:L1")[-10:]])
    again = make_ledger(tmp_path / "ledger")  # a restarted server: nothing cached
    statuses = post(again, posted["L1"][-10:])
    report = again.verify()
    assert not report.ok, statuses
    assert broken(report, "tree") and len(broken(report, "receipt")) == 10


@pytest.mark.parametrize("what", ["recorded events", "whole stream", "whole stream and its receipts"])
def test_deleting_a_learners_stream_is_named(history, what):
    ledger, store, posted = history
    sid = stream_id("learner:L2")
    rows = [r for r in store.rows() if r.originator_id == sid and (r.recorded or what != "recorded events")]
    if what.endswith("receipts"):
        ids = {d["event_id"] for d in posted["L2"]} | {r.fields["event_id"] for r in store.stream("learner:L2")}
        rows += [r for r in store.rows() if str(r.originator_id) in ids and not r.recorded]
    store.delete([r.position for r in rows])
    report = ledger.verify()
    assert not report.ok
    [tree] = broken(report, "tree")[:1]
    assert "no longer hash to the root signed at" in tree
    if what == "recorded events":
        assert any("'learner:L2' was opened but its recorded events are gone" in r for r in broken(report, "stream"))
    if not what.endswith("receipts"):
        assert len(broken(report, "receipt")) == 13  # enrolment and 12 assessments


def test_deleting_a_receipt_is_named_and_the_event_posted_again_is_named_twice(history, tmp_path):
    ledger, store, posted = history
    victim = posted["L3"][4]
    store.delete([store.receipt(victim["event_id"]).position])
    report = ledger.verify()
    assert [b["event_id"] for b in report.broken] == [victim["event_id"]]
    assert "has no receipt" in broken(report, "receipt")[0]

    again = make_ledger(tmp_path / "ledger")
    assert post(again, [victim]) == ["accepted"]  # the receipt was the only guard against the repeat
    report = again.verify()
    assert not report.ok
    [twice] = broken(report)
    assert f"event {victim['event_id']} is recorded twice" in twice


def _positions(reason: str) -> range:
    low, high = map(int, re.search(r"log positions (\d+)\.\.(\d+)", reason).groups())
    return range(low, high + 1)


def test_editing_a_score_and_rechaining_the_stream_is_named(history):
    ledger, store, posted = history
    row = store.stream("learner:L3")[5]
    body = __import__("json").loads(row.fields["body"])
    body["payload"]["score"] = 4.0
    store.rechain("learner:L3", {row.version: body})
    report = ledger.verify()
    assert not report.ok
    assert broken(report, "chain") == [] and broken(report, "receipt") == []  # the chain verifies: re-chained
    [tree] = broken(report, "tree")
    assert "no longer hash to the root" in tree
    assert row.position in _positions(tree)  # bounded by the checkpoints either side of the edit


def test_swapping_two_events_across_streams_is_named(history):
    ledger, store, _ = history
    a, b = store.stream("learner:L2")[6], store.stream("learner:L3")[6]
    body_a, body_b = a.fields["body"], b.fields["body"]
    load = __import__("json").loads
    store.rechain("learner:L2", {a.version: load(body_b)})
    store.rechain("learner:L3", {b.version: load(body_a)})
    report = ledger.verify()
    assert not report.ok
    assert broken(report, "chain") == []
    assert a.position in _positions(broken(report, "tree")[0])
    swapped = {x["event_id"] for x in report.broken if x["kind"] == "receipt"}
    assert swapped == {a.fields["event_id"], b.fields["event_id"]}  # each receipt names the other stream


def test_a_forged_event_appended_with_a_recomputed_chain_and_no_receipt_is_named(history):
    ledger, store, _ = history
    head = store.stream("learner:L1")[-1]
    from ledger.canonical import canonical_json, chain_hash

    forged = {**f.assessment("L1", "C1", 4.0), "recorded_at": "2026-02-01T00:00:00Z"}
    fields = {**head.fields, "event_id": forged["event_id"], "body": canonical_json(forged)}
    fields["hash"] = chain_hash(head.fields["hash"], fields["body"])
    store.insert(head.originator_id, head.version + 1, head.topic,
                 __import__("json").dumps(fields, separators=(",", ":")).encode())
    report = ledger.verify()
    assert not report.ok
    assert broken(report, "chain") == []
    assert [b["event_id"] for b in report.broken] == [forged["event_id"]]
    assert "has no receipt" in broken(report, "receipt")[0]


def test_a_kept_checkpoint_proves_an_honest_log_extends_it_and_refuses_a_rewritten_one(history):
    ledger, store, _ = history
    kept = list(checkpoints.read_checkpoints(ledger.anchor.checkpoints_file))[1]
    report = ledger.verify(since=kept)
    assert report.ok and report.since["consistent"] and report.since["consistency_proof"]
    # Rewrite history inside the kept tree and the checkpoints file too, with the operator's own key:
    row = store.stream("learner:L2")[3]
    body = __import__("json").loads(row.fields["body"])
    body["payload"]["score"] = 1.0
    store.rechain("learner:L2", {row.version: body})
    ledger.anchor.checkpoints_file.unlink()
    (ledger.anchor.dir / "tree.json").unlink()
    (ledger.anchor.dir / "chunks.bin").unlink(missing_ok=True)
    ledger.anchor.checkpoint(ledger.recorder)
    assert ledger.verify().ok  # the local checkpoints now vouch for the new history...
    report = ledger.verify(since=kept)  # ...but the registrar's copy does not
    assert not report.ok
    [since] = broken(report, "since")
    assert "does not extend the checkpoint" in since and kept.time in since


def test_an_altered_checkpoint_fails_its_signature(history):
    ledger, _, _ = history
    lines = ledger.anchor.checkpoints_file.read_text().splitlines()
    lines[1] = lines[1].replace('"tree_size":', '"tree_size":1', 1)
    ledger.anchor.checkpoints_file.write_text("\n".join(lines) + "\n")
    report = ledger.verify()
    assert not report.ok
    assert any("the signature does not verify" in r for r in broken(report, "checkpoint"))
