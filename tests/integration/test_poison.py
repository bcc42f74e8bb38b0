"""Poison: messages and lines built to break parsers (2000 levels deep, NaN and Infinity in
reference data, bytes that are not UTF-8) mixed among valid ones, on `evidence.submissions`
(sent with kcat, as a school's system would) and in a posted file. Every valid one is recorded,
every bad one is dead-lettered with its original bytes or rejected by line, and `ingest --follow`
is still alive and ingesting afterwards."""

import json
import os
import signal
import subprocess
import sys
import time

from tests import factories as f
from tests.conftest import make_ledger
from tests.e2e.test_cli import ledger as run_ledger
from tests.kafka_support import committed_messages, header

DEEP = b'{"type": "assessment.recorded", "schema_version": 2, "payload": ' + b"[" * 2000 + b"]" * 2000 + b"}"


def poison_and_valid() -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """(key, value) pairs: the valid ones and the poison, keyed as a school's system keys them."""
    nan_course = f.line(f.course("CRS-NAN", rule={"kind": "points", "version": 1, "points": {"C1": 1.0, "C2": 1.0},
                                                  "min_points": 2.0})).replace('"C1": 1.0', '"C1": NaN')
    inf_weight = f.line(f.course("CRS-INF")).replace('"weight": 0.65', '"weight": Infinity')
    huge = f.line(f.course("CRS-HUGE")).replace('"credits": 1.0', '"credits": 1e999')
    latin1 = f.line(f.assessment("L1", days=-9)).encode().replace(b"quiz-1", b"quiz-\xe9t\xe9")
    nan_score = f.line(f.assessment("L1", score=3.25, days=-8)).replace("3.25", "NaN")
    poison = [(b"L1", DEEP), (b"catalog", nan_course.encode()), (b"catalog", inf_weight.encode()),
              (b"catalog", huge.encode()), (b"L1", latin1), (b"L1", nan_score.encode())]
    valid = [(b"L1", f.line(f.assessment("L1", "C1", 2.0 + i % 3, days=-i)).encode()) for i in range(6)]
    return valid, poison


def kcat_produce(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> None:
    # kcat splits on newlines; none of these documents holds one
    stdin = b"".join(key + b"\t" + value + b"\n" for key, value in pairs)
    done = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"], input=stdin,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


def wait_for(condition, timeout: float, what: str, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc is None or proc.poll() is None, f"ingest --follow died while waiting for {what}"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def assessments(home) -> set[str]:
    return {e.event["event_id"] for e in make_ledger(home).learner_events("L1")
            if e.event["type"] == "assessment.recorded"}


def test_poison_messages_are_dead_lettered_and_ingest_follow_carries_on(kafka, tmp_path):
    home = tmp_path / "home"
    writer = make_ledger(home)
    list(writer.post([f.line(d) for d in f.setup(["L1"])]))
    log = (tmp_path / "ingest.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "ingest", "--follow"], env=kafka.env(home),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        valid, poison = poison_and_valid()
        mixed = [pair for pair in zip(valid, poison) for pair in pair]  # valid, poison, valid, poison, ...
        kcat_produce(kafka.bootstrap, kafka.names.submissions, mixed)
        wanted = {json.loads(value)["event_id"] for _, value in valid}
        wait_for(lambda: assessments(home) == wanted, 120, "the valid submissions", proc)
        wait_for(lambda: len(committed_messages(kafka.bootstrap, kafka.names.rejected)) == len(poison), 60,
                 "the dead letters", proc)
        dead = committed_messages(kafka.bootstrap, kafka.names.rejected)
        assert sorted(m.value for m in dead) == sorted(value for _, value in poison)  # the original bytes
        reasons = {m.value: header(m, "reason") for m in dead}
        assert reasons[DEEP] == "nested deeper than 16 levels"
        assert reasons[poison[4][1]].startswith("not UTF-8 text (invalid continuation byte at byte ")
        assert all("finite" in reasons[value] for _, value in poison[1:4] + poison[5:])
        assert {header(m, "field") for m in dead if m.value in (poison[1][1], poison[5][1])} == {
            "payload.credit_rule.points.C1", "payload.score"}
        # no course with a non-finite number reached the store (where it would have been null)
        stored = make_ledger(home).read(0, 1000)
        assert {e.event["payload"]["course_id"] for e in stored if e.event["type"] == "course.defined"} == {"CRS-1"}

        # still alive, and still ingesting
        assert proc.poll() is None
        later = f.line(f.assessment("L1", "C3", 4.0, days=-20)).encode()
        kcat_produce(kafka.bootstrap, kafka.names.submissions, [(b"L1", later)])
        wait_for(lambda: json.loads(later)["event_id"] in assessments(home), 60, "the later submission", proc)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    output = (tmp_path / "ingest.log").read_text()
    assert "Traceback" not in output
    # one greppable line per committed batch when the output is not a terminal
    batches = [line for line in output.splitlines() if "ingest: batch committed offsets=" in line]
    assert batches and all(" lag=" in line and " rejected=" in line for line in batches)
    assert sum(int(line.split(" rejected=")[1].split()[0]) for line in batches) == len(poison)


def test_poison_lines_in_a_posted_file_are_rejected_by_line_and_every_valid_line_is_recorded(tmp_path):
    home = tmp_path / "home"
    valid, poison = poison_and_valid()
    setup = [f.line(d).encode() for d in f.setup(["L1"])]
    lines = setup + [value for pair in zip(valid, poison) for _, value in pair]
    path = tmp_path / "poison.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_ledger(home, "post", str(path), "--json")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert (report["accepted"], report["rejected"]) == (len(setup) + len(valid), len(poison))
    poison_lines = [len(setup) + 2 * i + 2 for i in range(len(poison))]
    assert [r["line"] for r in report["rejections"]] == poison_lines
    assert report["rejections"][0]["reason"] == "nested deeper than 16 levels"
    assert assessments(home) == {json.loads(value)["event_id"] for _, value in valid}
    assert os.path.getsize(path) > 8000  # the 2000-deep line went in whole
