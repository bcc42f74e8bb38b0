"""`ledger project --follow` beside the commands that read its file, and what an operator sees:
a follower that keeps running, readers that wait out a batch, one line (never a traceback)
when the file is held for good, and a greppable log line per batch."""

import json
import os
import re
import subprocess
import sys
import time

from tests import factories as f
from tests.conftest import make_ledger

BATCH_LINE = re.compile(r"^\S+Z INFO ledger\.project batch position=(\d+) events=(\d+) lag=(\d+) seconds=[\d.]+$",
                        re.M)


def cli(env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def projected_position(env) -> int:
    shown = cli(env, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    positions = json.loads(shown.stdout).get("projections")
    return min(positions.values()) if isinstance(positions, dict) and positions else -1


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def seeded(tmp_path):
    home = tmp_path / "home"
    ledger = make_ledger(home)
    list(ledger.post([f.line(d) for d in f.setup(["L1", "L2"])]))
    env = {**os.environ, "LEDGER_HOME": str(home)}
    env.pop("LEDGER_KAFKA_BOOTSTRAP", None)
    first = cli(env, "project")
    assert first.returncode == 0, first.stderr
    return ledger, env


def test_project_follow_keeps_running_while_ledger_state_runs_in_a_loop_beside_it(tmp_path):
    ledger, env = seeded(tmp_path)
    log = tmp_path / "follow.log"
    with open(log, "w") as out:  # a file, as an operator's service manager would give it
        follower = subprocess.Popen([sys.executable, "-m", "cli", "project", "--follow", "--batch-size", "3"],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
    failures = []
    try:
        for i in range(10):
            list(ledger.post([f.line(f.assessment("L1", "C1", 2.0 + i % 3, days=-i)),
                              f.line(f.assessment("L2", "C2", 3.0, days=-i))]))
            for _ in range(2):
                shown = cli(env, "state", "L1", "--json")
                if shown.returncode != 0:
                    failures.append(shown.stderr.strip())
            assert follower.poll() is None, f"the follower died:\n{log.read_text()}"
        head = ledger.head_position()
        wait_for(lambda: projected_position(env) == head, 60, "the follower to catch up")
        assert follower.poll() is None, f"the follower died:\n{log.read_text()}"
    finally:
        follower.terminate()
        follower.wait(20)
    assert not failures, failures
    final = json.loads(cli(env, "state", "L1", "--json").stdout)
    [c1] = [c for c in final["competencies"] if c["competency_id"] == "C1"]
    assert c1["evidence_count"] == 10

    # Item 10: each batch is one greppable line, with its position, size and lag.
    text = log.read_text()
    assert "Traceback" not in text, text
    batches = [tuple(map(int, m)) for m in BATCH_LINE.findall(text)]
    assert batches, text
    assert batches[-1][0] == head
    assert sum(events for _, events, _ in batches) == 20
    assert all(lag >= 0 for *_, lag in batches)


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # a writer that keeps the file, as `ledger serve` does
print("held", flush=True)
time.sleep(120)
"""


def test_commands_meeting_a_file_held_by_another_writer_say_one_line_and_never_a_traceback(tmp_path):
    ledger, env = seeded(tmp_path)
    list(ledger.post([f.line(f.assessment("L1", "C1", 3.0, days=-1))]))
    path = tmp_path / "home" / "projections.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for args in (("project",), ("state", "L1"), ("plan", "L1")):
            started = time.monotonic()
            run = cli(env, *args)
            lines = run.stderr.strip().splitlines()
            assert run.returncode != 0, args
            assert "Traceback" not in run.stderr, (args, run.stderr)
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, run.stderr)
            assert "Could not set lock" in lines[0] and "ledger serve" in lines[0], lines[0]
            assert time.monotonic() - started < 30, args  # waited a little, then gave up
    finally:
        holder.kill()
        holder.wait()
    assert cli(env, "project").returncode == 0  # and once the file is free, all is well


def test_readers_wait_out_a_writer_that_holds_the_file_briefly(tmp_path):
    ledger, env = seeded(tmp_path)
    path = tmp_path / "home" / "projections.duckdb"
    brief = HOLD.replace("time.sleep(120)", "time.sleep(1.5)")
    holder = subprocess.Popen([sys.executable, "-c", brief, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        shown = cli(env, "state", "L1", "--json")
    finally:
        holder.wait(30)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["learner_id"] == "L1"
