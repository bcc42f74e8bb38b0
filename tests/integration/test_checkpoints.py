"""Signed checkpoints and the proofs that travel with decisions, on the suite's real store; the
`ledger.checkpoints` topic on the real broker; several processes checkpointing one home."""

import json
import multiprocessing
import os
import stat

import pytest

from consumers.credit_engine import approve, propose
from consumers.projector import run_projections
from ledger import checkpoints, merkle
from ledger.anchor import CHUNK
from ledger.proofs import check_anchor, check_document, decision_anchor
from credentials.badges import open_badge
from ledger.checkpoints import Checkpoint
from projections.audit import build_audit, render_text
from tests import factories as f
from tests.conftest import make_ledger


def post(ledger, docs):
    outcomes = list(ledger.post([f.line(d) for d in docs]))
    assert [o.rejection for o in outcomes if o.rejection] == []


def test_the_key_is_made_once_private_to_its_owner_and_published_beside_it(ledger):
    post(ledger, f.setup())
    key_file = ledger.anchor.key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = checkpoints.load_public_key(ledger.anchor.public_key_file)
    [cp] = list(checkpoints.read_checkpoints(ledger.anchor.checkpoints_file))
    assert cp.key_id == checkpoints.key_id(public) and cp.tree_size == 3
    checkpoints.check_signature(cp, public)
    post(ledger, [f.assessment("L1")])
    assert key_file.read_bytes() == ledger.anchor.key_file.read_bytes()  # the same key signs the next one
    assert checkpoints.last_checkpoint(ledger.anchor.checkpoints_file).tree_size == 4


def test_the_key_file_can_live_elsewhere(tmp_path):
    from ledger.application import Ledger
    from ledger.config import Settings

    elsewhere = tmp_path / "vault" / "signing.pem"
    store = {"LEDGER_STORE": os.environ["LEDGER_STORE"]} if "LEDGER_STORE" in os.environ else {}
    ledger = Ledger(Settings.load({"LEDGER_HOME": str(tmp_path / "ledger"), **store,
                                   "LEDGER_CHECKPOINT_KEY_FILE": str(elsewhere)}))
    post(ledger, f.setup())
    checkpoints.check_signature(checkpoints.last_checkpoint(ledger.anchor.checkpoints_file),
                                checkpoints.load_public_key(tmp_path / "vault" / "signing.pub"))
    assert elsewhere.exists() and (tmp_path / "vault" / "signing.pub").exists()
    assert not (tmp_path / "ledger" / "checkpoint-key.pem").exists()


def test_inclusion_proofs_across_chunks_verify_with_only_the_checkpoint_and_the_key(ledger):
    post(ledger, f.setup(["L1", "L2"]))
    post(ledger, [f.assessment("L1" if i % 2 else "L2", score=1 + i % 4) for i in range(2 * CHUNK + 300)])
    logged = [e for page in [ledger.read(0, 100_000)] for e in page]
    assert len(logged) == 2 * CHUNK + 304
    picks = [logged[i] for i in (len(logged) - 1, 0, CHUNK - 1, CHUNK, 2 * CHUNK + 7, 1500)]
    made = ledger.anchor.anchor(ledger.recorder, [(e.event["event_id"], e.position) for e in picks])
    assert made["checkpoint"]["tree_size"] == len(logged)
    assert [p["leaf_index"] for p in made["proofs"]] == [len(logged) - 1, 0, CHUNK - 1, CHUNK, 2 * CHUNK + 7, 1500]
    pem = ledger.anchor.public_key_file.read_text()
    assert check_anchor(made, pem) == []
    # Any change to what a proof claims is refused: another hash, another index, another root.
    spoilt = json.loads(json.dumps(made))
    spoilt["proofs"][2]["hash"] = "0" * 64
    spoilt["proofs"][3]["leaf_index"] += 1
    assert len(check_anchor(spoilt, pem)) == 2
    forged = json.loads(json.dumps(made))
    forged["checkpoint"]["root"] = "1" * 64
    assert "signature does not verify" in check_anchor(forged, pem)[0]


def test_an_award_audit_and_badge_carry_proofs_a_holder_checks_offline(ledger, tmp_path):
    method = {"name": "most_recent", "params": {}}
    post(ledger, [f.framework(), f.course(competencies=["C1", "C2"], method=method), f.enrolled("L1")])
    post(ledger, [f.assessment("L1", "C1", 3.5, days=1), f.assessment("L1", "C2", 3.0, days=2)])
    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    propose(ledger, path)
    assert approve(ledger, "L1", "CRS-1", "reg-1")["status"] == "accepted"
    pem = ledger.anchor.public_key_file.read_text()

    audit = build_audit(ledger, "L1", "CRS-1")
    anchor = audit["anchor"]
    assert anchor["proofs"][0]["event_id"] == audit["decision"]["event_id"]
    assert len(anchor["proofs"]) == 3  # the award and its two evidence events
    assert check_document(audit, pem)[1] == []
    assert "ANCHORED: 3 inclusion proofs" in render_text(audit)

    award = next(e.event for e in ledger.learner_events("L1") if e.event["type"] == "credit.awarded")
    badge = open_badge(award, f.course()["payload"], {}, issuer_id="urn:x", issuer_name="X",
                       anchor=decision_anchor(ledger, award))
    proven, problems = check_document(json.loads(json.dumps(badge)), pem)
    assert problems == [] and len(proven) == 3
    # A badge whose evidence list names an event the anchor does not prove is refused.
    badge["evidence"].append({"id": "urn:uuid:00000000-0000-4000-8000-000000000000", "description": "sha256 " + "a" * 64})
    assert "has no proof for it" in check_document(badge, pem)[1][0]


def _poster(home, learner, n, conn):
    ledger = make_ledger(home)
    for i in range(n):
        list(ledger.post([f.line(f.assessment(learner, score=1 + i % 4))]))
    conn.send(True)


@pytest.mark.sqlite_only  # one home, one SQLite file, shared by processes (the PostgreSQL pass gives each its own schema)
def test_processes_posting_into_one_home_write_one_consistent_series_of_checkpoints(tmp_path):
    home = tmp_path / "ledger"
    ledger = make_ledger(home)
    post(ledger, f.setup(["L1", "L2", "L3"]))
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for learner in ("L1", "L2", "L3"):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_poster, args=(home, learner, 40, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    try:
        assert all(pipe.poll(180) and pipe.recv() for pipe in pipes)
    finally:
        for proc in procs:
            proc.join(60)
    report = make_ledger(home).verify()
    assert report.ok, report.broken
    series = list(checkpoints.read_checkpoints(ledger.anchor.checkpoints_file))
    assert report.checkpoints == len(series) >= 10
    assert [c.tree_size for c in series] == sorted(c.tree_size for c in series)
    assert series[-1].tree_size == 125


def test_checkpoints_are_published_to_their_topic(ledger, kafka):
    from consumers.checkpoint_publisher import latest_checkpoint, publish_checkpoint, read_checkpoints

    post(ledger, f.setup())
    first = latest_checkpoint(ledger)
    assert first == checkpoints.last_checkpoint(ledger.anchor.checkpoints_file) and first.tree_size == 3
    assert publish_checkpoint(kafka.bootstrap, kafka.names, first)
    assert not publish_checkpoint(kafka.bootstrap, kafka.names, first)  # already sent by this process
    post(ledger, [f.assessment("L1")])
    second = checkpoints.last_checkpoint(ledger.anchor.checkpoints_file)
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, transactional_id=f"{kafka.names.prefix}cp-test")
    producer.init_transactions()
    try:
        assert publish_checkpoint(producer, kafka.names, second.as_dict())
    finally:
        producer.close()
    assert read_checkpoints(kafka.bootstrap, kafka.names) == [first, second]
    assert all(isinstance(c, Checkpoint) for c in read_checkpoints(kafka.bootstrap, kafka.names))


def test_a_log_recorded_before_checkpoints_is_named_unanchored_until_one_is_signed(ledger):
    ledger.anchor.after_save = lambda *saved: None  # as a ledger before this feature posted
    post(ledger, f.setup(["L1"]) + [f.assessment("L1") for _ in range(5)])
    report = ledger.verify()
    assert not report.ok and "no signed checkpoint covers the 8 recorded events" in report.broken[0]["reason"]
    made = ledger.anchor.checkpoint(ledger.recorder)
    assert made.tree_size == 8 and ledger.verify().ok


def test_a_torn_tree_state_is_recomputed_from_the_log_and_agrees_with_the_signed_series(ledger):
    post(ledger, f.setup(["L1"]))
    post(ledger, [f.assessment("L1") for _ in range(5)])
    (ledger.anchor.dir / "tree.json").write_text('{"size": 8, "frontier": ["ab')  # a crash mid-write
    post(ledger, [f.assessment("L1") for _ in range(2)])
    series = list(checkpoints.read_checkpoints(ledger.anchor.checkpoints_file))
    assert [c.tree_size for c in series] == [3, 8, 10]
    report = ledger.verify()
    assert report.ok and report.checkpoints == 3
