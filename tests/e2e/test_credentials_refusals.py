"""`ledger credit badge` issues a credential only for an award the log still vouches for: not for
a revoked one, not for a flagged one, not from a store whose bytes were altered. Each refusal is
one line naming the reason, exit 1; the decision is taken from the log, not the read models."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.credit_engine import approve, confirm, propose, revoke
from consumers.projector import run_projections
from ledger.application import store_env
from tests import factories as f
from tests.conftest import make_ledger
from tests.tamper import alter_stored_event

METHOD = {"name": "most_recent", "params": {}}


def ledger_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LEDGER_HOME": str(home)}
    env.pop("LEDGER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=300)


def post(ledger, *docs):
    outcomes = list(ledger.post([f.line(d) for d in docs]))
    assert [o.rejection for o in outcomes if o.rejection] == []


@pytest.fixture
def awarded(tmp_path):
    """L1 earns CRS-1 (C1 and C2 mastered, most recent) and a registrar approves it; L2 is another learner."""
    home = tmp_path / "home"
    ledger = make_ledger(home)
    c1, c2 = f.assessment("L1", "C1", 3.5, days=1), f.assessment("L1", "C2", 3.0, days=2)
    c1_later = f.assessment("L1", "C1", 3.2, days=1.5)  # most recent: C1 stays mastered without c1
    other = f.assessment("L2", "C1", 2.0, days=1)
    post(ledger, f.framework(), f.course(competencies=["C1", "C2"], method=METHOD), f.enrolled("L1"),
         f.enrolled("L2"), c1, c1_later, c2, other)
    projections = home / "projections.duckdb"
    run_projections(ledger, projections)
    assert [p["learner_id"] for p in propose(ledger, projections).proposed] == ["L1"]
    assert approve(ledger, "L1", "CRS-1", "reg-1")["status"] == "accepted"
    run_projections(ledger, projections)
    return {"home": home, "ledger": ledger, "c1": c1, "c1_later": c1_later, "other": other}


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""  # no credential, not even part of one
    [line] = result.stderr.splitlines()
    return line


def test_a_sound_award_gets_its_credential(awarded):
    result = ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1")
    assert result.returncode == 0, result.stderr
    badge = json.loads(result.stdout)
    assert badge["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert awarded["c1"]["event_id"] in json.dumps(badge["evidence"])


def test_a_revoked_award_gets_no_credential_and_the_reason_is_named(awarded):
    revoke(awarded["ledger"], "L1", "CRS-1", "reg-1", "plagiarism found on review")
    line = refused(ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1"))
    assert "revoked" in line and "plagiarism found on review" in line
    as_json = ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["ok"] is False
    assert "revoked" in json.loads(as_json.stdout)["error"]


def test_an_award_whose_evidence_was_voided_after_it_is_flagged_and_gets_no_credential(awarded):
    # The read models are not brought up to date: the refusal comes from the log itself.
    post(awarded["ledger"], f.voided("L1", awarded["c1"], days=5, reason="entered for the wrong student"))
    out = awarded["home"] / "badge.json"
    line = refused(ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1", "--out", str(out)))
    assert "flagged for review" in line and awarded["c1"]["event_id"] in line
    assert "entered for the wrong student" in line
    assert not out.exists()


def test_a_registrars_confirmation_after_the_flag_clears_it_until_the_next_void(awarded):
    post(awarded["ledger"], f.voided("L1", awarded["c1"], days=5))
    refused(ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1"))
    confirm(awarded["ledger"], "L1", "CRS-1", "reg-1")  # re-evaluated: C1 still mastered on c1_later
    issued = ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1")
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["type"][-1] == "OpenBadgeCredential"
    post(awarded["ledger"], f.voided("L1", awarded["c1_later"], days=6))  # a void after the review
    line = refused(ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1"))
    assert "flagged for review" in line and awarded["c1_later"]["event_id"] in line


def test_a_new_rule_version_for_the_course_flags_the_award_too(awarded):
    post(awarded["ledger"], {**f.course(competencies=["C1", "C2"], method=METHOD,
                                        rule={"kind": "all_mastered", "version": 2}), "demonstrated_at": f.at(6)})
    line = refused(ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1"))
    assert "flagged for review" in line and "version 2" in line


def test_an_altered_basis_event_fails_the_learners_chain_and_gets_no_credential(awarded):
    alter_stored_event(store_env(_settings(awarded["home"])), awarded["c1"]["event_id"],
                       b'\\"score\\":3.5', b'\\"score\\":4.0')
    line = refused(ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1"))
    assert "L1's record fails verification" in line and awarded["c1"]["event_id"] in line


def test_a_store_whose_verify_fails_issues_no_credential_even_for_an_untouched_learner(awarded):
    # Another learner's event is altered: L1's own chain is intact, the store is not.
    alter_stored_event(store_env(_settings(awarded["home"])), awarded["other"]["event_id"],
                       b'\\"score\\":2.0', b'\\"score\\":4.0')
    assert ledger_cli(awarded["home"], "verify").returncode == 1
    line = refused(ledger_cli(awarded["home"], "credit", "badge", "L1", "CRS-1"))
    assert "the store fails verification" in line and awarded["other"]["event_id"] in line


def test_audit_takes_json_as_every_command_does(awarded):
    as_json = ledger_cli(awarded["home"], "audit", "L1", "CRS-1", "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["decision"]["status"] == "awarded" and report["verification"]["ok"]
    assert report == json.loads(ledger_cli(awarded["home"], "audit", "L1", "CRS-1", "--format", "json").stdout)


def test_no_award_is_a_one_line_refusal(awarded):
    line = refused(ledger_cli(awarded["home"], "credit", "badge", "L2", "CRS-1"))
    assert line == "error: L2 holds no awarded credit in CRS-1"


def _settings(home: Path):
    from ledger.config import Settings

    return Settings.load({**{k: v for k, v in os.environ.items() if k == "LEDGER_STORE"}, "LEDGER_HOME": str(home)})
