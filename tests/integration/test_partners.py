"""Community partners on a real store (SQLite; PostgreSQL in the second pass): a school links a
partner to a learner; the partner posts observations and artifacts about linked learners only;
its scores count toward mastery only from an advisor's approving sign-off, on both time axes,
and the ledger's own derivation agrees with the projection."""

from __future__ import annotations

from datetime import datetime, timezone

from consumers.projector import run_projections
from ledger.credit.derive import competency_states
from ledger.credit.log import catalog_now, learner_log
from projections import official, queries
from tests import factories as f

SIS = {"id": "sis", "role": "school_system"}
MUSEUM = {"id": "museum-1", "role": "partner"}


def linked(learner: str, partner: str = "museum-1", *, days: float = -10, unlink: bool = False) -> dict:
    return f.event("partner.unlinked" if unlink else "partner.linked",
                   {"partner_id": partner} if unlink else {"partner_id": partner, "name": "City Museum"},
                   learner=learner, actor=SIS, days=days)


def observation(learner: str, score: float = 4.0, *, days: float = 0, partner: dict = MUSEUM, kind: str = "observation") -> dict:
    return f.event("assessment.recorded", {"competency_id": "C1", "score": score,
                                           "source": {"assessment_id": "internship-1", "kind": kind}},
                   learner=learner, actor=partner, version=2, days=days)


def sign_off(learner: str, subject: dict, *, days: float, decision: str = "approved") -> dict:
    return f.event("advisor.signed_off", {"subject_event_id": subject["event_id"], "decision": decision,
                                          "statement": "checked with the museum"}, learner=learner,
                   actor=f.ADVISOR, days=days)


def post(ledger, docs):
    return list(ledger.post([f.line(d) for d in docs]))


def base() -> list[dict]:
    return [f.framework(), f.course(competencies=["C1"], method={"name": "most_recent", "params": {}}),
            f.enrolled("L1"), f.enrolled("L2"), f.advisor_assigned("L1"), f.assessment("L1", "C1", 2.0, days=-5)]


def test_a_partner_posts_about_linked_learners_only_and_not_after_unlinking(ledger):
    assert all(o.rejection is None for o in post(ledger, base() + [linked("L1")]))
    ok, unlinked_learner, wrong_kind = post(ledger, [observation("L1"), observation("L2"),
                                                     observation("L1", kind="standardized")])
    assert ok.rejection is None
    assert (unlinked_learner.rejection.field, unlinked_learner.rejection.reason) == (
        "actor.id", "partner museum-1 is not linked to learner L2")
    assert wrong_kind.rejection.field == "payload.source.kind"
    [artifact] = post(ledger, [f.event("artifact.submitted", {
        "uri": "https://museum.example/work/1", "sha256": "a" * 64, "competencies_claimed": ["C1"]},
        learner="L1", actor=MUSEUM, days=1)])
    assert artifact.rejection is None
    [scoring] = post(ledger, [f.event("artifact.scored", {"artifact_event_id": artifact.event_id,
                                                          "levels": {"C1": 4}}, learner="L1", actor=MUSEUM, days=1)])
    assert "actor.role 'partner' may not post artifact.scored" in scoring.rejection.reason  # scoring is the school's
    assert post(ledger, [linked("L1", unlink=True, days=2)])[0].rejection is None
    [after] = post(ledger, [observation("L1", days=3)])
    assert (after.rejection.field, after.rejection.reason) == ("actor.id", "partner museum-1 was unlinked from learner L1")
    [again] = post(ledger, [linked("L1", unlink=True, days=3)])
    assert again.rejection.field == "payload.partner_id"


def test_external_evidence_counts_only_from_its_sign_off_on_both_time_axes(ledger, tmp_path):
    obs = observation("L1", 4.0, days=0)
    post(ledger, base() + [linked("L1"), obs])
    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    with official.connect(path, read_only=True) as con:
        [row] = queries.competency_states(con, "L1")
        assert (row["level"], row["mastered"], row["evidence_count"]) == (2.0, False, 1)  # not signed off yet
    known_before = datetime.now(timezone.utc)
    rejected = sign_off("L1", obs, days=1, decision="needs_revision")
    approved = sign_off("L1", obs, days=4)
    assert all(o.rejection is None for o in post(ledger, [rejected, approved]))
    run_projections(ledger, path)
    with official.connect(path, read_only=True) as con:
        [row] = queries.competency_states(con, "L1")
        assert (row["level"], row["mastered"], row["evidence_count"]) == (4.0, True, 2)
        assert row["mastered_since"] == datetime.fromisoformat(f.at(4))  # from the sign-off, not the visit
        [then] = queries.competency_states(con, "L1", as_of=datetime.fromisoformat(f.at(2)))
        assert (then["level"], then["evidence_count"]) == (2.0, 1)  # demonstrated, not yet signed off
        [known] = queries.competency_states(con, "L1", known_at=known_before)
        assert (known["level"], known["evidence_count"]) == (2.0, 1)
    state = competency_states(learner_log(ledger, "L1"), catalog_now(ledger))["C1"]  # the ledger's own derivation
    assert (state.level, state.mastered, state.mastered_since) == (4.0, True, row["mastered_since"].isoformat())


def test_the_audit_says_which_school_recorded_each_piece_and_which_partner(ledger, tmp_path):
    from consumers.credit_engine import approve, propose
    from projections.audit import build_audit, render_text
    from projections.audit_html import render_html

    new = "school-b"
    c1 = f.assessment("L1", "C1", 3.5, days=-4)
    moved = f.event("learner.transferred", {"from_school_id": f.SCHOOL, "to_school_id": new, "effective": "2026-01-03"},
                    learner="L1", school=new, actor=SIS, days=-3)
    obs = f.event("assessment.recorded", {"competency_id": "C2", "score": 4.0,
                                          "source": {"assessment_id": "internship-1", "kind": "observation"}},
                  learner="L1", actor=MUSEUM, version=2, days=-1, school=new)
    docs = [f.framework(), f.course(competencies=["C1", "C2"], method={"name": "most_recent", "params": {}}),
            f.enrolled("L1"), c1, moved,
            f.event("advisor.assigned", {"advisor_id": "adv-2"}, learner="L1", school=new, actor=SIS, days=-3),
            f.event("partner.linked", {"partner_id": "museum-1"}, learner="L1", school=new, actor=SIS, days=-2), obs,
            f.event("advisor.signed_off", {"subject_event_id": obs["event_id"], "decision": "approved",
                                           "statement": "called the museum"}, learner="L1", school=new,
                    actor={"id": "adv-2", "role": "advisor"}, days=0)]
    assert [o.rejection for o in post(ledger, docs) if o.rejection] == []
    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    assert [(p["learner_id"], p["course_id"]) for p in propose(ledger, path).proposed] == [("L1", "CRS-1")]
    assert approve(ledger, "L1", "CRS-1", "reg-1")["status"] == "accepted"  # the ledger re-derived the same basis
    audit = build_audit(ledger, "L1", "CRS-1")
    assert audit["verification"]["ok"] and audit["school_id"] == new
    rows = {e["event_id"]: e for c in audit["competencies"] for e in c["evidence"]}
    assert (rows[c1["event_id"]]["recorded_by_school"], rows[c1["event_id"]]["former_school"]) == (f.SCHOOL, True)
    external = rows[obs["event_id"]]
    assert (external["external"], external["partner_id"], external["linked_by_school"], external["former_school"]) == (
        True, "museum-1", new, False)
    text = render_text(audit)
    assert f"recorded by school {f.SCHOOL} (a former school: before the transfer)" in text
    assert f"EXTERNAL evidence from partner museum-1, linked by school {new}" in text
    assert "EXTERNAL evidence from partner museum-1" in render_html(audit)
    from credentials.badges import open_badge
    from projections.credential_checks import issuable

    found = issuable(ledger, "L1", "CRS-1")
    badge = open_badge(found.award, found.course, found.competencies, issuer_id="did:example:d", issuer_name="D",
                       sources=found.sources)
    narratives = {e["id"].removeprefix("urn:uuid:"): e.get("narrative") for e in badge["evidence"]}
    assert narratives[c1["event_id"]] == f"recorded by school {f.SCHOOL} (a former school: before the transfer)"
    assert narratives[obs["event_id"]] == (f"recorded by school {new}; EXTERNAL evidence from partner museum-1, "
                                           f"linked by school {new}")
