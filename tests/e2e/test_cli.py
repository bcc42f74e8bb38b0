"""The operator's contract, through the installed `ledger` command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.application import store_env
from ledger.config import Settings
from tests import factories as f
from tests.tamper import alter_stored_event


def settings_of(home: Path) -> Settings:
    """The settings the `ledger` command gets in these tests (the store under test, if not SQLite)."""
    return Settings.load({**{k: v for k, v in os.environ.items() if k == "LEDGER_STORE"}, "LEDGER_HOME": str(home)})


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def ledger(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LEDGER_HOME": str(home)}
    env.pop("LEDGER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=300)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def ten_valid_and_three_broken(tmp_path) -> tuple[Path, list[str]]:
    docs = f.setup(["L1", "L2"]) + [f.assessment("L1", days=-i) for i in range(4)] + [
        f.assessment("L2", "C2", 2.0, days=-i) for i in range(4)]
    lines = [f.line(d) for d in docs]  # 12 valid? no: 2 setup + 2 enrolments + 8 evidence = 12
    lines = lines[:10]
    broken = [
        '{"event_id": "not json',
        f.line({**f.assessment("L1"), "payload": {"competency_id": "C1", "score": 9.0,
                                                  "source": {"assessment_id": "q", "kind": "quiz"}}}),
        f.line({**f.assessment("L2"), "demonstrated_at": "2026-01-10T09:00:00"}),
    ]
    # broken lines sit between valid ones: lines 3, 7 and 11 of the file
    mixed = lines[:2] + [broken[0]] + lines[2:5] + [broken[1]] + lines[5:8] + [broken[2]] + lines[8:]
    return write_lines(tmp_path / "mixed.jsonl", mixed), mixed


def test_posting_ten_valid_and_three_broken_lines_records_ten_names_three_and_exits_1(tmp_path, home):
    path, _ = ten_valid_and_three_broken(tmp_path)
    result = ledger(home, "post", str(path))
    assert result.returncode == 1
    assert "accepted 10, duplicate 0, rejected 3" in result.stdout
    named = [line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("line ")]
    assert named == ["line 3", "line 7", "line 11"]
    assert "payload.score" in result.stderr and "demonstrated_at" in result.stderr
    assert "Traceback" not in result.stderr


def test_posting_the_same_file_twice_records_nothing_new_and_says_so(tmp_path, home):
    path, _ = ten_valid_and_three_broken(tmp_path)
    ledger(home, "post", str(path))
    again = ledger(home, "post", "--json", str(path))
    report = json.loads(again.stdout)
    assert (report["accepted"], report["duplicate"], report["rejected"]) == (0, 10, 3)


def test_post_reads_standard_input(home):
    docs = [f.line(d) for d in f.setup(["L1"])] + [f.line(f.assessment("L1"))]
    result = ledger(home, "post", "-", stdin="\n".join(docs))
    assert result.returncode == 0, result.stderr
    assert "accepted 4" in result.stdout


def test_a_missing_file_is_a_one_line_error(home):
    result = ledger(home, "post", "nowhere.jsonl")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: nowhere.jsonl: no such file"


def test_events_lists_a_learners_events_in_order_with_json(tmp_path, home):
    docs = f.setup(["L1"]) + [f.assessment("L1", "C2", 2.5, days=-1)]
    ledger(home, "post", str(write_lines(tmp_path / "a.jsonl", [f.line(d) for d in docs])))
    listed = json.loads(ledger(home, "events", "L1", "--json").stdout)
    assert [e["type"] for e in listed] == ["learner.enrolled", "assessment.recorded"]
    assert listed[1]["payload"]["score"] == 2.5 and len(listed[1]["hash"]) == 64
    unknown = ledger(home, "events", "nobody")
    assert unknown.returncode == 1 and "no events for learner 'nobody'" in unknown.stderr


def test_altering_one_stored_event_makes_verify_fail_and_name_it(tmp_path, home):
    target = f.assessment("L1", score=2.0)
    docs = f.setup(["L1"]) + [target, f.assessment("L1", score=3.0)]
    ledger(home, "post", str(write_lines(tmp_path / "a.jsonl", [f.line(d) for d in docs])))
    assert ledger(home, "verify").returncode == 0
    alter_stored_event(store_env(settings_of(home)), target["event_id"], b'\\"score\\":2.0', b'\\"score\\":4.0')
    result = ledger(home, "verify")
    assert result.returncode == 1
    assert target["event_id"] in result.stdout and "altered" in result.stdout


@pytest.mark.sqlite_only  # a PostgreSQL store is a server: there is no missing file to explain
def test_read_commands_on_a_missing_ledger_explain_what_to_do(home):
    result = ledger(home, "verify")
    assert result.returncode == 1
    assert "run `ledger init`" in result.stderr


def test_init_creates_an_empty_store(home):
    result = ledger(home, "init", "--json")
    assert json.loads(result.stdout) == {"ok": True, "store": settings_of(home).store, "head_position": 0}


def test_the_demo_posts_a_district_and_prints_its_summary(home):
    result = ledger(home, "demo", "--learners", "30", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["learners"] == 30 and summary["schools"] == 3
    assert summary["accepted"] > 1000 and summary["duplicate"] >= 0 and summary["rejected"] == 0
    assert summary["chains_verified"] is True
    again = json.loads(ledger(home, "demo", "--learners", "30", "--json").stdout)
    assert again["accepted"] == 0 and again["duplicate"] == summary["lines_posted"]


def test_every_command_has_help(home):
    for command in ["init", "post", "events", "verify", "demo", "schemas", "project", "state", "plan"]:
        result = ledger(home, command, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout


def test_state_and_plan_read_the_projections_the_demo_built(home):
    assert ledger(home, "demo", "--learners", "12").returncode == 0
    now = json.loads(ledger(home, "state", "lrn-00001", "--json").stdout)
    assert now["competencies"] and all("mastered" in c for c in now["competencies"])
    early = json.loads(ledger(home, "state", "lrn-00001", "--as-of", "2025-10-01", "--json").stdout)
    assert sum(c["evidence_count"] for c in early["competencies"]) < sum(c["evidence_count"] for c in now["competencies"])
    plans = json.loads(ledger(home, "plan", "lrn-00001", "--json").stdout)["plans"]
    assert plans and plans[0]["pace"] in {"complete", "ahead", "on_track", "behind"}
    rebuilt = ledger(home, "project", "--rebuild", "--json")
    assert rebuilt.returncode == 0 and json.loads(rebuilt.stdout)["events"] > 0
    assert json.loads(ledger(home, "state", "lrn-00001", "--json").stdout) == now


def test_a_malformed_date_is_a_one_line_error(home):
    ledger(home, "demo", "--learners", "2")
    result = ledger(home, "state", "lrn-00001", "--as-of", "last tuesday")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --as-of 'last tuesday' is not a date (YYYY-MM-DD) or an ISO datetime"


def test_state_before_any_projection_says_what_to_run(home):
    ledger(home, "init")
    result = ledger(home, "state", "lrn-00001")
    assert result.returncode == 1 and "run `ledger project` first" in result.stderr
