"""From evidence to an audited credit, against the real store and DuckDB read models."""

import json

import pytest

from consumers.credit_engine import CreditError, approve, propose, revoke
from consumers.projector import run_projections
from credentials.badges import open_badge
from projections import official
from projections.audit import build_audit
from projections.audit_html import render_html
from projections.credit import verify_credits
from tests import factories as f
from tests.tamper import alter_stored_event

METHOD = {"name": "most_recent", "params": {}}


def post(ledger, *docs):
    outcomes = list(ledger.post([f.line(d) for d in docs]))
    assert [o.rejection for o in outcomes if o.rejection] == []
    return outcomes


def credit_rows(path):
    with official.connect(path, read_only=True) as con:
        return con.execute("SELECT kind, status, note FROM credit_audit ORDER BY position").fetchall()


@pytest.fixture
def earned(ledger, tmp_path):
    """L1 masters C1 and C2 (course CRS-1: all mastered, most recent); C3 is outside the course.
    One C2 result was voided before any decision."""
    c1_low, c1_high = f.assessment("L1", "C1", 2.0, days=1), f.assessment("L1", "C1", 3.5, days=5)
    c2 = f.assessment("L1", "C2", 3.0, days=3)
    c2_void = f.assessment("L1", "C2", 4.0, days=2)
    c3 = f.assessment("L1", "C3", 4.0, days=4)
    sign_off = f.event("advisor.signed_off", {"subject_event_id": c1_high["event_id"], "decision": "approved",
                                              "statement": "Saw the work."}, learner="L1", actor=f.ADVISOR, days=6)
    post(ledger, f.framework(), f.course(competencies=["C1", "C2"], method=METHOD), f.enrolled("L1"),
         f.advisor_assigned("L1"), c1_low, c2_void, c2, c3, c1_high, f.voided("L1", c2_void, days=3), sign_off)
    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    expected = {c1_low["event_id"], c1_high["event_id"], c2["event_id"]}  # worked out by hand
    return ledger, path, expected, {"c1_high": c1_high, "sign_off": sign_off}


def test_evidence_to_states_to_proposal_to_approval_to_an_audit_of_exactly_the_evidence_that_counted(earned):
    ledger, path, expected, docs = earned
    run = propose(ledger, path)
    assert [(p["learner_id"], p["course_id"]) for p in run.proposed] == [("L1", "CRS-1")]
    award = approve(ledger, "L1", "CRS-1", "reg-1")
    assert award["status"] == "accepted"
    audit = build_audit(ledger, "L1", "CRS-1")
    assert set(audit["evidence_event_ids"]) == expected
    listed = {e["event_id"] for c in audit["competencies"] for e in c["evidence"] if e["type"] != "advisor.signed_off"}
    assert listed == expected
    sign_offs = [e for c in audit["competencies"] for e in c["evidence"] if e["type"] == "advisor.signed_off"]
    assert [s["event_id"] for s in sign_offs] == [docs["sign_off"]["event_id"]]
    assert audit["decision"]["status"] == "awarded" and audit["decision"]["approved_by"] == "reg-1"
    assert audit["verification"]["ok"], audit["verification"]
    voided_before = [v for c in audit["competencies"] for v in c["voided"]]
    assert len(voided_before) == 1 and not voided_before[0]["after_decision"]
    html = render_html(audit)
    assert "VERIFIED" in html and docs["c1_high"]["event_id"] in html and "<script" not in html


def test_the_engine_does_not_propose_twice_and_approval_needs_a_proposal(earned):
    ledger, path, _, _ = earned
    with pytest.raises(CreditError, match="no credit proposal"):
        approve(ledger, "L1", "CRS-1", "reg-1")
    propose(ledger, path)
    run_projections(ledger, path)
    assert propose(ledger, path).proposed == []


def test_voiding_evidence_behind_an_award_flags_it_and_the_audit_says_why(earned):
    ledger, path, _, docs = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-1")
    post(ledger, f.voided("L1", docs["c1_high"], days=7, reason="copied from another student"))
    run_projections(ledger, path)
    assert ("award", "flagged") in [(k, s) for k, s, _ in credit_rows(path)]
    audit = build_audit(ledger, "L1", "CRS-1")
    assert audit["decision"]["status"] == "flagged for review"
    assert "copied from another student" in audit["decision"]["flags"][0]
    assert any(v["after_decision"] and v["event_id"] == docs["c1_high"]["event_id"]
               for c in audit["competencies"] for v in c["voided"])


@pytest.mark.parametrize("approved", [True, False], ids=["award", "proposal"])
def test_two_voids_behind_a_decision_are_both_noted_on_an_award_and_the_first_makes_a_proposal_stale(
        earned, tmp_path, approved):
    ledger, path, _, docs = earned
    propose(ledger, path)
    if approved:
        approve(ledger, "L1", "CRS-1", "reg-1")
    run_projections(ledger, path)
    c2 = next(e for e in ledger.learner_events("L1") if e.event["payload"].get("score") == 3.0).event
    post(ledger, f.voided("L1", docs["c1_high"], days=7, reason="first reason"),
         f.voided("L1", c2, days=8, reason="second reason"))
    run_projections(ledger, path)
    rows = credit_rows(path)
    opened = ledger.shredder.reveal(rows)  # the projections hold the void reasons sealed
    if approved:
        [(_, status, note)] = [r for r in opened if r[0] == "award"]
        assert status == "flagged" and note.index("first reason") < note.index("second reason")
        assert [r[1] for r in rows if r[0] == "proposal"] == ["approved"]
    else:
        [(_, status, note)] = opened
        assert status == "stale" and "first reason" in note and "second reason" not in note
    rebuilt = tmp_path / "rebuilt.duckdb"
    run_projections(ledger, rebuilt, rebuild=True)
    assert credit_rows(rebuilt) == rows


def test_a_changed_rule_flags_the_award_but_never_rewrites_it(earned):
    ledger, path, _, _ = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-1")
    stricter = f.course(competencies=["C1", "C2"], method=METHOD, rule={"kind": "all_mastered", "version": 2,
                                                                         "required": ["C1"]})
    post(ledger, stricter)
    run_projections(ledger, path)
    assert ("award", "flagged") in [(k, s) for k, s, _ in credit_rows(path)]
    audit = build_audit(ledger, "L1", "CRS-1")
    assert audit["decision"]["rule"]["version"] == 1
    assert "version 2" in audit["decision"]["flags"][0]


def test_revocation_is_its_own_event_with_a_reason(earned):
    ledger, path, _, _ = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-1")
    revoke(ledger, "L1", "CRS-1", "reg-2", "awarded in error")
    run_projections(ledger, path)
    assert ["award", "revoked", "awarded in error"] in ledger.shredder.reveal(credit_rows(path))
    assert build_audit(ledger, "L1", "CRS-1")["decision"]["status"] == "revoked"
    assert [e.event["type"] for e in ledger.learner_events("L1")][-2:] == ["credit.awarded", "credit.revoked"]


def test_editing_one_byte_of_evidence_behind_a_credit_fails_verify_and_the_audit_naming_it(earned):
    ledger, path, _, docs = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-1")
    target = docs["c1_high"]["event_id"]
    alter_stored_event(ledger.env, target, b'\\"score\\":3.5', b'\\"score\\":3.6')
    report = ledger.verify()
    assert [b["event_id"] for b in report.broken] == [target]
    pages = [ledger.read(0, 100_000)]
    problems = verify_credits(pages, {b["event_id"] for b in report.broken}).problems
    assert any(target in p["problem"] and "altered" in p["problem"] for p in problems)
    audit = build_audit(ledger, "L1", "CRS-1")
    assert not audit["verification"]["ok"]
    assert target in audit["verification"]["line"]


def test_verify_reproduces_a_sound_award_from_the_log(earned):
    ledger, path, _, _ = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-1")
    check = verify_credits([ledger.read(0, 100_000)], set())
    assert (check.awards, check.problems) == (1, [])


def test_an_award_exports_as_an_open_badge_whose_evidence_and_alignment_point_home(earned):
    ledger, path, expected, _ = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-1")
    award = [e.event for e in ledger.learner_events("L1") if e.event["type"] == "credit.awarded"][0]
    framework = f.framework()["payload"]
    competencies = {c["id"]: {**c, "case_guid": f"5c3b0d6e-0000-4000-8000-00000000000{i}"}
                    for i, c in enumerate(framework["competencies"])}
    badge = open_badge(award, f.course(competencies=["C1", "C2"])["payload"], competencies,
                       issuer_id="https://district.example.org", issuer_name="District")
    assert badge["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert {e["id"].removeprefix("urn:uuid:") for e in badge["evidence"]} >= expected
    alignment = badge["credentialSubject"]["achievement"]["alignment"]
    assert [a["targetType"] for a in alignment] == ["CFItem", "CFItem"]
    assert alignment[0]["targetUrl"] == "urn:uuid:5c3b0d6e-0000-4000-8000-000000000000"
    # the shape 1EdTech's validator accepts (its "complete" fixture) has the same top-level members
    reference = json.loads((f.SHARED_DATA / "credentials" / "ob30_complete.json").read_text())
    assert {"@context", "id", "type", "issuer", "validFrom", "credentialSubject", "evidence"} <= reference.keys()
    assert {"@context", "id", "type", "issuer", "validFrom", "credentialSubject", "evidence"} <= badge.keys()


def test_approving_again_names_the_registrar_who_approved_not_the_one_asking(earned, tmp_path):
    from tests.http_support import cli, server_env

    ledger, path, _, _ = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-district")
    again = cli(server_env(tmp_path / "ledger"), "credit", "approve", "L1", "CRS-1", "--by", "reg-7")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("duplicate:") and "approved by reg-district" in again.stdout
    assert "reg-7" not in again.stdout


def test_roles_per_event_type_hold_on_the_ledgers_own_path(ledger):
    from ledger.access import postable_types
    from ledger.events import EVIDENCE_TYPES

    post(ledger, f.framework(), f.course(), f.enrolled("L1"), f.advisor_assigned("L1"))
    evidence = f.assessment("L1", "C1", 3.0)
    registrar_evidence = [{**evidence, "actor": f.REGISTRAR},
                          {**f.event("artifact.submitted", {"uri": "https://lms.example.org/a.pdf", "sha256": "0" * 64,
                                                            "competencies_claimed": ["C1"]}, learner="L1"),
                           "actor": f.REGISTRAR},
                          f.event("advisor.signed_off", {"subject_event_id": evidence["event_id"], "decision": "approved",
                                                         "statement": "Seen."}, learner="L1", actor=f.REGISTRAR)]
    outcomes = list(ledger.post([f.line(d) for d in registrar_evidence]))
    assert [o.status for o in outcomes] == ["rejected"] * 3
    assert all("actor.role 'registrar' may not post" in o.rejection.reason for o in outcomes)
    post(ledger, evidence)
    basis = {"course_id": "CRS-1", "credits": 1.0, "rule": {"kind": "all_mastered", "version": 1},
             "competency_states": [{"competency_id": "C1", "level": 3.0, "mastered": True, "counted": True,
                                    "method": {"name": "most_recent", "params": {}}, "evidence": []}],
             "evidence_event_ids": [evidence["event_id"]], "log_position": 5}
    for actor in (f.TEACHER, {"id": "sis", "role": "school_system"}, f.ADVISOR):
        decisions = [f.event("credit.proposed", basis, learner="L1", actor=actor),
                     f.event("credit.revoked", {"credit_event_id": evidence["event_id"], "reason": "no"},
                             learner="L1", actor=actor),
                     f.event("credit.confirmed", {"credit_event_id": evidence["event_id"], "still_holds": True},
                             learner="L1", actor=actor)]
        outcomes = list(ledger.post([f.line(d) for d in decisions]))
        assert all(o.status == "rejected" and f"actor.role '{actor['role']}' may not post" in o.rejection.reason
                   for o in outcomes), outcomes
    # The API's key check agrees with the catalogue: no evidence from a registrar key, no credit
    # decision from a school's (or a district admin's: only registrars decide credit).
    assert not EVIDENCE_TYPES & set(postable_types("registrar"))
    for role in ("school", "advisor", "district_admin"):
        assert not {t for t in postable_types(role) if t.startswith("credit.")}, role


def test_a_flagged_award_is_re_evaluated_and_a_registrars_confirmation_clears_the_flag(earned, tmp_path):
    from consumers.credit_engine import confirm
    from projections.audit import render_text

    ledger, path, _, _ = earned
    propose(ledger, path)
    approve(ledger, "L1", "CRS-1", "reg-1")
    c1_low = next(e.event for e in ledger.learner_events("L1") if e.event["payload"].get("score") == 2.0)
    post(ledger, f.voided("L1", c1_low, days=7, reason="a practice quiz, not an assessment"))
    run_projections(ledger, path)
    assert ("award", "flagged") in [(k, s) for k, s, _ in credit_rows(path)]
    text = render_text(build_audit(ledger, "L1", "CRS-1"))
    assert "Re-evaluated: still holds: all 2 competencies mastered (with 1 voided piece(s) of evidence removed)" in text
    result = confirm(ledger, "L1", "CRS-1", "reg-2", "the 3.5 alone shows mastery")
    assert result["status"] == "accepted" and result["re_evaluation"].startswith("still holds")
    assert confirm(ledger, "L1", "CRS-1", "reg-2", "the 3.5 alone shows mastery")["status"] == "duplicate"
    run_projections(ledger, path)
    rows = credit_rows(path)
    assert ("award", "awarded") in [(k, s) for k, s, _ in rows]
    rebuilt = tmp_path / "rebuilt.duckdb"
    run_projections(ledger, rebuilt, rebuild=True)
    assert credit_rows(rebuilt) == rows
    audit = build_audit(ledger, "L1", "CRS-1")
    assert audit["decision"]["status"] == "awarded (confirmed after review)"
    assert "CONFIRMED by reg-2" in render_text(audit) and "the 3.5 alone shows mastery" in render_text(audit)
    # A void after the confirmation flags it again.
    c2 = next(e.event for e in ledger.learner_events("L1") if e.event["payload"].get("score") == 3.0)
    post(ledger, f.voided("L1", c2, days=8, reason="wrong student"))
    run_projections(ledger, path)
    assert ("award", "flagged") in [(k, s) for k, s, _ in credit_rows(path)]
    assert build_audit(ledger, "L1", "CRS-1")["decision"]["status"] == "flagged for review"


def test_an_award_that_no_longer_holds_cannot_be_confirmed_only_revoked(earned):
    from consumers.credit_engine import confirm
    from projections.audit import render_text

    ledger, path, _, docs = earned
    propose(ledger, path)
    award = approve(ledger, "L1", "CRS-1", "reg-1")
    post(ledger, f.voided("L1", docs["c1_high"], days=7, reason="copied"))
    text = render_text(build_audit(ledger, "L1", "CRS-1"))
    assert "Re-evaluated: no longer holds: not yet mastered: C1" in text
    with pytest.raises(CreditError, match="no longer holds .*revoke the credit instead"):
        confirm(ledger, "L1", "CRS-1", "reg-1")
    by_hand = f.event("credit.confirmed", {"credit_event_id": award["credit_event_id"], "still_holds": True},
                      learner="L1", actor=f.REGISTRAR)
    [outcome] = ledger.post([f.line(by_hand)])
    assert outcome.status == "rejected" and "no longer holds (not yet mastered: C1)" in outcome.rejection.reason


def test_one_award_is_checked_from_the_store_as_verify_checks_it(earned):
    from ledger.credit.log import award_problems_in_store

    ledger, path, _, docs = earned
    propose(ledger, path)
    award = approve(ledger, "L1", "CRS-1", "reg-1")
    assert award_problems_in_store(ledger, "L1", award["credit_event_id"]) == []
    alter_stored_event(ledger.env, docs["c1_high"]["event_id"], b'\\"score\\":3.5', b'\\"score\\":1.5')
    problems = award_problems_in_store(ledger, "L1", award["credit_event_id"])
    assert any("score 3.5 (the log: 1.5)" in p for p in problems), problems
