"""`ledger post` with lines that used to crash it or refuse the whole file, and ids given on
the command line: every bad line named by number, every valid neighbour recorded."""

import json
from pathlib import Path

import pytest

from tests import factories as f
from tests.e2e.test_cli import home, ledger  # noqa: F401 (home is a fixture)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def post_bytes(tmp_path, home, lines: list[bytes], *args: str):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return ledger(home, "post", str(path), *args)


def learner_event_count(home, learner: str) -> int:
    return len(json.loads(ledger(home, "events", learner, "--json").stdout))


def test_a_line_that_is_not_utf8_is_rejected_by_number_and_the_others_are_recorded(tmp_path, home):
    valid = [f.line(d).encode() for d in f.setup(["L1"])] + [f.line(f.assessment("L1", days=-i)).encode()
                                                             for i in range(3)]
    broken = f.line(f.assessment("L1", days=-9)).encode().replace(b"quiz-1", b"quiz-\xe9t\xe9")  # Latin-1
    result = post_bytes(tmp_path, home, valid[:4] + [broken] + valid[4:])
    assert result.returncode == 1
    assert "accepted 6, duplicate 0, rejected 1" in result.stdout
    [message] = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    offset = broken.index(b"\xe9")
    assert message == f"line 5: not UTF-8 text (invalid continuation byte at byte {offset})"


def test_a_line_nested_2000_deep_is_rejected_and_the_valid_line_after_it_is_recorded(tmp_path, home):
    setup = [f.line(d).encode() for d in f.setup(["L1"])]
    deep = b'{"type": "assessment.recorded", "payload": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    after = f.line(f.assessment("L1")).encode()
    result = post_bytes(tmp_path, home, setup + [deep, after], "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["accepted"], report["rejected"]) == (4, 1)
    assert [(r["line"], r["reason"]) for r in report["rejections"]] == [(4, "nested deeper than 16 levels")]
    assert "Traceback" not in result.stderr
    assert learner_event_count(home, "L1") == 2


def test_every_problem_of_a_line_is_printed_and_listed_in_json(tmp_path, home):
    setup = [f.line(d).encode() for d in f.setup(["L1"])]
    doc = f.assessment("L1")
    doc["payload"]["score"] = "3"
    doc["actor"] = {"id": "Jane Smith", "role": "teacher"}
    empty = b"{}"
    unknown = f.line(f.assessment("L1", "ALG.99")).encode()
    lines = setup + [f.line(doc).encode(), empty, unknown]
    text = post_bytes(tmp_path, home, lines)
    messages = [line for line in text.stderr.splitlines() if line.startswith("line ")]
    assert len(messages) == 3
    assert messages[0].startswith("line 4: actor.id: ") and "; payload.score: " in messages[0]
    assert "more problem" not in text.stderr
    assert messages[1].startswith("line 5: type: is missing")
    assert messages[2] == "line 6: payload.competency_id: competency 'ALG.99' is not in any published framework"
    report = json.loads(post_bytes(tmp_path, home, lines, "--json").stdout)
    first = report["rejections"][0]
    assert [p["field"] for p in first["problems"]] == ["actor.id", "payload.score"]
    assert (first["field"], first["reason"]) == (first["problems"][0]["field"], first["problems"][0]["reason"])


def test_nan_in_a_course_rule_is_rejected_at_the_door_and_nothing_is_stored_as_null(tmp_path, home):
    course = f.line(f.course(rule={"kind": "points", "version": 1, "points": {"C1": 1.0, "C2": 1.0},
                                   "min_points": 2.0}))
    lines = [f.line(f.framework()).encode(), course.replace('"C1": 1.0', '"C1": NaN').encode(),
             course.replace('"min_points": 2.0', '"min_points": 1e999').encode()]
    report = json.loads(post_bytes(tmp_path, home, lines, "--json").stdout)
    assert (report["accepted"], report["rejected"]) == (1, 2)
    assert [r["field"] for r in report["rejections"]] == ["payload.credit_rule.points.C1",
                                                         "payload.credit_rule.min_points"]


@pytest.mark.parametrize("command", [
    ["framework", "import", str(FIXTURES / "case_small.json")],
    ["credit", "approve", "L1", "CRS-1"],
    ["credit", "revoke", "L1", "CRS-1", "--reason", "typo"],
])
def test_an_id_given_with_by_that_is_not_an_id_is_refused_naming_by(home, command):
    ledger(home, "init")
    result = ledger(home, *command, "--by", "Jane Smith")
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: --by: 'Jane Smith' is not a valid id (letters, digits . _ : - only, "
                                     "starting with a letter or digit, at most 128)")
    as_json = json.loads(ledger(home, *command, "--by", "Jane Smith", "--json").stdout)
    assert as_json["ok"] is False and as_json["error"].startswith("--by: 'Jane Smith'")
