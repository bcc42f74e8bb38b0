"""An insider forging credit: a registrar's key posting an invented basis (over HTTP and with
`ledger post`), a read model edited before the engine runs, and an award written into the store
past the ledger. Each is refused, or found by `verify`, with the reason; honest ones still pass."""

import json
import uuid
from datetime import datetime, timezone

import pytest

from consumers.credit_engine import CreditError, approve, propose
from consumers.projector import run_projections
from ledger.credit.verify import verify_credits
from ledger.intake import parse
from ledger.streams import stream_id
from projections import official
from tests import factories as f
from tests.http_support import Server, cli, server_env

COURSE = ["C1", "C2", "C3", "C4", "C5"]
METHOD = {"name": "decaying_average", "params": {"weight": 0.65}}


def reference() -> list[dict]:
    return [f.framework(COURSE), f.course(competencies=COURSE, method=METHOD)]


def unmastered(learner: str = "L1") -> list[dict]:
    """A 4 then a 1 on C1 (decaying average 2.05: not mastered; `highest` would say 4), and 2s
    elsewhere: 0 of the course's 5 competencies mastered."""
    return [f.assessment(learner, "C1", 4.0, days=1), f.assessment(learner, "C1", 1.0, days=2),
            *[f.assessment(learner, c, 2.0, days=3) for c in COURSE[1:]]]


def forged(learner: str, picked: dict, picked_hash: str, *, actor=f.REGISTRAR) -> tuple[dict, dict]:
    """The attack as reported: one competency under `highest`, one hand-picked score, 20 credits,
    an approver who is not the one posting."""
    item = {"event_id": picked["event_id"], "hash": picked_hash, "position": 5, "type": "assessment.recorded",
            "demonstrated_at": picked["demonstrated_at"], "score": 4.0}
    basis = {"course_id": "CRS-1", "credits": 20, "rule": {"kind": "all_mastered", "version": 1},
             "competency_states": [{"competency_id": "C1", "level": 4.0, "mastered": True, "counted": True,
                                    "method": {"name": "highest", "params": {}}, "evidence": [item],
                                    "sign_offs": []}],
             "evidence_event_ids": [picked["event_id"]], "log_position": 9}
    proposal = f.event("credit.proposed", basis, learner=learner, actor=actor)
    award = f.event("credit.awarded", {**basis, "proposal_event_id": proposal["event_id"],
                                       "approved_by": "reg-district"}, learner=learner, actor=actor)
    return proposal, award


def assert_names_every_forgery(reason: str) -> None:
    for part in ("does not satisfy", "credits 20", "course CRS-1 has C1, C2, C3, C4, C5",
                 "method highest", "official method decaying_average", "level 2.05"):
        assert part in reason, (part, reason)


def the_four(docs: list[dict]) -> dict:
    return next(d for d in docs if d["type"] == "assessment.recorded" and d["payload"]["score"] == 4.0)


def hash_of(ledger, event_id: str) -> str:
    return next(e.hash for e in ledger.learner_events("L1") if e.event["event_id"] == event_id)


def test_the_reported_forgery_over_http_is_refused_with_every_reason_and_verify_stays_clean(tmp_path):
    env = server_env(tmp_path / "home")
    honest = [f.enrolled("L2")] + [f.assessment("L2", c, 3.5, days=3) for c in COURSE]
    seeded = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in reference() + [f.enrolled("L1")]
                                                   + unmastered() + honest) + "\n")
    assert seeded.returncode == 0, seeded.stderr
    server = Server(env).start()
    try:
        registrar = server.key("registrar", "--actor", "reg-1")
        with server.client(registrar) as http:
            events = http.get("/v1/learners/L1/events").json()["events"]
            picked = next(e for e in events if e["event"]["payload"].get("score") == 4.0)
            proposal, award = forged("L1", picked["event"], picked["hash"])
            refused = http.post("/v1/events", json=proposal)
            assert refused.status_code == 422, refused.text
            assert_names_every_forgery(refused.json()["reason"])
            assert http.post("/v1/events", json=award).status_code == 422
            both = http.post("/v1/events", json=[proposal, award]).json()
            assert (both["accepted"], both["rejected"]) == (0, 2)
            # The same key cannot record evidence to make the rule hold either.
            evidence = http.post("/v1/events", json={**f.assessment("L1", "C2", 4.0), "actor": f.REGISTRAR})
            assert evidence.status_code in (403, 422) and "registrar" in evidence.text
            after = http.get("/v1/learners/L1/events").json()["events"]
        assert [e["event"]["type"] for e in after] == [e["event"]["type"] for e in events]
        # The honest path over HTTP: the engine's proposal, the approval, a registrar's review.
        with server.client(registrar) as http:
            proposed = http.post("/v1/credits/propose").json()
            assert [(p["learner_id"], p["course_id"]) for p in proposed["proposed"]] == [("L2", "CRS-1")], proposed
            approved = http.post("/v1/learners/L2/credits/CRS-1/approve")
            assert approved.status_code == 201 and approved.json()["approved_by"] == "reg-1", approved.text
            confirmed = http.post("/v1/learners/L2/credits/CRS-1/confirm", json={"note": "reviewed"})
            assert confirmed.status_code == 201 and confirmed.json()["re_evaluation"].startswith("still holds")
    finally:
        server.stop()
    verified = cli(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_forgery_through_ledger_post_is_refused_by_line_and_an_honest_credit_still_is_recorded(ledger, tmp_path):
    docs = reference() + [f.enrolled("L1"), f.enrolled("L2")] + unmastered("L1")
    docs += [f.assessment("L2", c, 3.5, days=3) for c in COURSE]
    assert all(o.status == "accepted" for o in ledger.post([f.line(d) for d in docs]))
    picked = the_four(docs)
    proposal, award = forged("L1", picked, hash_of(ledger, picked["event_id"]))
    outcomes = list(ledger.post([f.line(proposal), f.line(award)]))
    assert [o.status for o in outcomes] == ["rejected", "rejected"]
    assert_names_every_forgery(outcomes[0].rejection.reason)
    assert "no credit proposal" in outcomes[1].rejection.reason

    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    assert [(p["learner_id"], p["course_id"]) for p in propose(ledger, path).proposed] == [("L2", "CRS-1")]
    assert approve(ledger, "L2", "CRS-1", "reg-1")["status"] == "accepted"
    check = verify_credits([ledger.read(0, 100_000)], set())
    assert (check.awards, check.problems) == (1, [])


def test_an_award_must_be_its_proposal_approved_by_the_registrar_who_posts_it(ledger, tmp_path):
    docs = reference() + [f.enrolled("L2")] + [f.assessment("L2", c, 3.5, days=3) for c in COURSE]
    assert all(o.status == "accepted" for o in ledger.post([f.line(d) for d in docs]))
    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    [proposed] = propose(ledger, path).proposed
    proposal = next(e.event for e in ledger.learner_events("L2") if e.event["event_id"] == proposed["proposal_event_id"])
    honest = {**proposal["payload"], "proposal_event_id": proposal["event_id"], "approved_by": "reg-1"}
    invented = f.event("credit.awarded", {**honest, "approved_by": "reg-district"}, learner="L2", actor=f.REGISTRAR)
    inflated = f.event("credit.awarded", {**honest, "credits": 20}, learner="L2", actor=f.REGISTRAR)
    outcomes = list(ledger.post([f.line(invented), f.line(inflated)]))
    assert "approved_by 'reg-district' is not the approving actor 'reg-1'" in outcomes[0].rejection.reason
    assert "credits differs from the proposal's" in outcomes[1].rejection.reason
    assert "credits 20 are not course CRS-1's 1" in outcomes[1].rejection.reason
    # Evidence recorded after the proposal does not move it: the award is decided at the proposal.
    assert ledger.post([f.line(f.assessment("L2", "C1", 1.0, days=4))]).__next__().status == "accepted"
    assert approve(ledger, "L2", "CRS-1", "reg-1")["status"] == "accepted"


def test_a_proposal_that_leaves_out_evidence_recorded_since_it_was_derived_is_refused(ledger, tmp_path):
    docs = reference() + [f.enrolled("L2")] + [f.assessment("L2", c, 3.5, days=3) for c in COURSE]
    assert all(o.status == "accepted" for o in ledger.post([f.line(d) for d in docs]))
    from ledger.credit.derive import derive_basis
    from ledger.credit.log import catalog_now, learner_log

    basis = derive_basis(learner_log(ledger, "L2"), catalog_now(ledger), "CRS-1", ledger.head_position()).basis
    late = f.assessment("L2", "C3", 1.0, days=5)
    engine = {"id": "credit-engine", "role": "ledger_service"}
    outcomes = list(ledger.post([f.line(late), f.line(f.event("credit.proposed", basis, learner="L2", actor=engine))]))
    outcome = outcomes[1]
    assert outcome.status == "rejected"
    assert f"leaves out evidence the log counts: {late['event_id']}" in outcome.rejection.reason
    assert "C3: the log gives level 1.875 (mastered False)" in outcome.rejection.reason


def test_mastery_edited_into_duckdb_gets_no_proposal_and_no_award(ledger, tmp_path):
    assert all(o.status == "accepted" for o in ledger.post(
        [f.line(d) for d in reference() + [f.enrolled("L1")] + unmastered()]))
    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    with official.connect(path) as con:  # the attacker's edit: every competency mastered at 4
        con.execute("UPDATE competency_state SET level = 4, mastered = true WHERE learner_id = 'L1'")
        assert con.execute("SELECT count(*) FROM competency_state WHERE mastered").fetchall() == [(5,)]
    run = propose(ledger, path)
    assert run.proposed == [] and run.rejected == []
    assert len(run.skipped) == 1 and "the log does not (not yet mastered: C1, C2, C3, C4, C5)" in run.skipped[0]
    with pytest.raises(CreditError, match="no credit proposal"):
        approve(ledger, "L1", "CRS-1", "reg-1")
    assert not [e for e in ledger.learner_events("L1") if e.event["type"].startswith("credit.")]
    rebuilt = tmp_path / "rebuilt.duckdb"
    run_projections(ledger, rebuilt, rebuild=True)
    with official.connect(rebuilt, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM credit_audit").fetchall() == [(0,)]


def test_the_duckdb_edit_through_the_cli_is_reported_and_records_nothing(tmp_path):
    env = server_env(tmp_path / "home")
    seeded = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in reference() + [f.enrolled("L1")]
                                                   + unmastered()) + "\n")
    assert seeded.returncode == 0, seeded.stderr
    assert cli(env, "project").returncode == 0
    with official.connect(tmp_path / "home" / "projections.duckdb") as con:
        con.execute("UPDATE competency_state SET level = 4, mastered = true WHERE learner_id = 'L1'")
    proposed = cli(env, "credit", "propose")
    assert "0 proposals recorded" in proposed.stdout and "the log does not" in proposed.stderr, proposed
    approved = cli(env, "credit", "approve", "L1", "CRS-1", "--by", "reg-1")
    assert approved.returncode == 1 and "no credit proposal" in approved.stderr
    assert cli(env, "project", "--rebuild").returncode == 0
    listed = cli(env, "credit", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_an_award_written_into_the_store_past_the_ledger_fails_verify_naming_each_forgery(ledger):
    docs = reference() + [f.enrolled("L1")] + unmastered()
    assert all(o.status == "accepted" for o in ledger.post([f.line(d) for d in docs]))
    picked = the_four(docs)
    # Self-consistent (a 4 under `highest` is mastered; "all mastered" over the one state listed
    # holds), so checking the basis against itself passed it: it must be checked against the course.
    proposal, award = forged("L1", picked, hash_of(ledger, picked["event_id"]))
    position = next(e.position for e in ledger.read(0, 1000) if e.event["event_id"] == picked["event_id"])
    for doc in (proposal, award):  # every cited event where the log has it: only the course can tell
        doc["payload"]["competency_states"][0]["evidence"][0]["position"] = position
    award["payload"]["approved_by"] = "reg-1"
    stream = ledger.repository.get(stream_id("learner:L1"))
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    for doc in (proposal, award):
        stream.record(parse(json.dumps(doc)).stored, now)
    ledger.save(stream)
    check = verify_credits([ledger.read(0, 100_000)], set())
    assert check.awards == 1
    problems = " | ".join(p["problem"] for p in check.problems)
    for part in ("does not satisfy", "credits 20", "method highest", "course CRS-1 has C1, C2, C3, C4, C5"):
        assert part in problems, (part, problems)


def test_kafka_ingest_applies_the_same_roles_and_re_derivation_to_the_actor_a_submission_claims(kafka, tmp_path):
    from consumers.ingest import ingest
    from tests.conftest import make_ledger
    from tests.integration.test_ingest_from_kafka import produce
    from tests.kafka_support import committed_messages, header

    ledger = make_ledger(tmp_path / "home")
    docs = reference() + [f.enrolled("L1")] + unmastered()
    assert all(o.status == "accepted" for o in ledger.post([f.line(d) for d in docs]))
    picked = the_four(docs)
    proposal, award = forged("L1", picked, hash_of(ledger, picked["event_id"]))
    as_school = {**award, "event_id": str(uuid.uuid4()), "actor": {"id": "sis", "role": "school_system"}}
    as_registrar = {**f.assessment("L1", "C2", 4.0), "actor": f.REGISTRAR}
    bad = [json.dumps(d).encode() for d in (proposal, as_school, as_registrar)]
    produce(kafka.bootstrap, kafka.names.submissions, bad, [b"L1"] * len(bad))
    run = ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    assert (run.accepted, run.rejected) == (0, 3)
    reasons = {m.value: header(m, "reason") for m in committed_messages(kafka.bootstrap, kafka.names.rejected)}
    assert "does not satisfy course CRS-1's rule" in reasons[bad[0]] and "credits 20" in reasons[bad[0]]
    assert "actor.role 'school_system' may not post credit.awarded" in reasons[bad[1]]
    assert "actor.role 'registrar' may not post assessment.recorded" in reasons[bad[2]]
    assert len(ledger.learner_events("L1")) == 1 + len(unmastered())
