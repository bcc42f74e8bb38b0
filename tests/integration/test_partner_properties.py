"""Property: a partner's evidence never counts without a standing approving sign-off, whatever the
order the observations, sign-offs (approving or not), voids and school evidence come in; as of
any date it counts only once both it and its sign-off were demonstrated; and the ledger's own
derivation agrees with the projection. Real SQLite store (PostgreSQL in the second pass)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.projector import run_projections
from ledger.credit.derive import competency_states
from ledger.credit.log import catalog_now, learner_log
from projections import official, queries
from tests import factories as f
from tests.conftest import make_ledger
from tests.integration.test_partners import MUSEUM, SIS, observation, sign_off

DAY = st.integers(0, 20)
step = st.one_of(
    st.tuples(st.just("obs"), st.sampled_from([1.0, 2.5, 4.0]), DAY),
    st.tuples(st.just("teach"), st.sampled_from([1.0, 2.5, 4.0]), DAY),
    st.tuples(st.sampled_from(["approved", "needs_revision", "rejected"]), st.integers(0, 9), DAY),
    st.tuples(st.sampled_from(["void_obs", "void_sign_off"]), st.integers(0, 9), DAY),
)


def later(a: str, b: str) -> datetime:
    return max(datetime.fromisoformat(a), datetime.fromisoformat(b))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=14), batch=st.integers(1, 6))
def test_external_evidence_never_counts_without_a_standing_sign_off(steps, batch):
    with tempfile.TemporaryDirectory() as tmp:
        ledger = make_ledger(Path(tmp) / "home")
        setup = [f.framework(), f.course(competencies=["C1"], method={"name": "mean", "params": {}}),
                 f.enrolled("L1"), f.advisor_assigned("L1"),
                 f.event("partner.linked", {"partner_id": MUSEUM["id"]}, learner="L1", actor=SIS, days=-10)]
        assert all(o.rejection is None for o in ledger.post([f.line(d) for d in setup]))
        accepted: list[dict] = []
        for kind, value, day in steps:
            obs = [d for d in accepted if d["actor"]["role"] == "partner"]
            signs = [d for d in accepted if d["type"] == "advisor.signed_off"]
            if kind == "obs":
                doc = observation("L1", value, days=day)
            elif kind == "teach":
                doc = f.assessment("L1", "C1", value, days=day)
            elif kind in ("approved", "needs_revision", "rejected"):
                if not obs:
                    continue
                doc = sign_off("L1", obs[value % len(obs)], days=day, decision=kind)
            else:
                targets = obs if kind == "void_obs" else signs
                if not targets:
                    continue
                doc = f.voided("L1", targets[value % len(targets)], days=day)
            [outcome] = ledger.post([f.line(doc)])
            if outcome.rejection is None:  # the ledger decides what is valid; refused ones are not evidence
                accepted.append(doc)
        path = Path(tmp) / "p.duckdb"
        run_projections(ledger, path, batch_size=batch)

        voided = {d["payload"]["voided_event_id"] for d in accepted if d["type"] == "evidence.voided"}
        counted_from = {}  # external piece -> when it counts (its first standing approval)
        for d in accepted:
            if d["type"] == "advisor.signed_off" and d["payload"]["decision"] == "approved" and d["event_id"] not in voided:
                subject = next(o for o in accepted if o["event_id"] == d["payload"]["subject_event_id"])
                if subject["actor"]["role"] == "partner" and subject["event_id"] not in voided:
                    counted_from.setdefault(subject["event_id"], later(subject["demonstrated_at"], d["demonstrated_at"]))
        school = {d["event_id"]: datetime.fromisoformat(d["demonstrated_at"]) for d in accepted
                  if d["type"] == "assessment.recorded" and d["actor"]["role"] != "partner" and d["event_id"] not in voided}
        with official.connect(path, read_only=True) as con:
            ids = {r[0] for r in con.execute("SELECT event_id FROM evidence_score WHERE voided_at IS NULL").fetchall()}
            assert ids == set(school) | set(counted_from)  # no unsigned, unapproved or voided external piece
            for day in range(0, 22, 3):
                on = datetime.fromisoformat(f.at(day + 0.5))
                expected = sum(t <= on for t in school.values()) + sum(t <= on for t in counted_from.values())
                rows = queries.competency_states(con, "L1", as_of=on)
                assert (rows[0]["evidence_count"] if rows else 0) == expected
            now = queries.competency_states(con, "L1")
        derived = competency_states(learner_log(ledger, "L1"), catalog_now(ledger)).get("C1")
        if derived is None:
            assert now == []
        else:
            [state] = now
            assert (state["level"], state["evidence_count"]) == (derived.level, len(derived.evidence))
            assert {i["event_id"] for i in derived.evidence} == ids
        ledger.close()
