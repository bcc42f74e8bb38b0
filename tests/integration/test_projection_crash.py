"""A projection process SIGKILLed while catching up, and restarted, ends where an
uninterrupted run ends: no batch skipped, none counted twice."""

import os
import random
import signal
import subprocess
import sys
import time

from ledger.demo import generate
from projections import official
from tests.conftest import make_ledger
from tests.projection_support import table_rows


def project_command(home, projections):
    env = {**os.environ, "LEDGER_HOME": str(home), "LEDGER_PROJECTIONS": str(projections)}
    return [sys.executable, "-m", "cli", "project", "--batch-size", "100"], env


def stored_position(path):
    if not path.exists():
        return 0
    try:
        with official.connect(path, read_only=True) as con:
            return official.position(con)
    except Exception:  # the killed writer's lock or WAL may still be settling
        return -1


def timed_run(command, env):
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def kill_at_random_points(command, env, startup, work, seen_mid_work, after_each=lambda: None):
    """Start and SIGKILL `command` up to 20 times; count the kills `seen_mid_work` says landed mid-work."""
    rng = random.Random(11)
    kills_mid_work = 0
    for _ in range(20):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(startup + rng.uniform(0.1, 0.3) * work)
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills_mid_work += seen_mid_work()
        after_each()
    return kills_mid_work


def test_a_projection_killed_at_random_points_ends_identical_to_an_uninterrupted_run(tmp_path):
    home = tmp_path / "home"
    ledger = make_ledger(home)
    lines = generate(seed=3, learners=60).lines
    list(ledger.post(lines[:300]))
    crashed = tmp_path / "crashed.duckdb"
    # The first run builds the file whole; the crashes below hit the catch-up of an existing one.
    timed_run(*project_command(home, crashed))
    list(ledger.post(lines[300:]))

    calm = tmp_path / "calm.duckdb"
    command, env = project_command(home, calm)
    startup = timed_run([sys.executable, "-m", "cli", "project", "--help"], env)
    timed_run(command, env)
    command, env = project_command(home, tmp_path / "timing.duckdb")
    timed_run(command[:-2] + ["--batch-size", "100000"], env)  # the first 300 events, built whole
    work = timed_run(command, env) - startup  # then the same catch-up as the crashed file's
    final = stored_position(calm)

    command, env = project_command(home, crashed)
    kills = kill_at_random_points(command, env, startup, work,
                                  lambda: 0 < stored_position(crashed) < final)
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)

    assert kills >= 2, "the kills all missed the catch-up; the test proved nothing"
    assert table_rows(crashed) == table_rows(calm)


def test_a_rebuild_killed_at_random_points_leaves_the_previous_file_whole_until_it_is_replaced(tmp_path):
    home = tmp_path / "home"
    ledger = make_ledger(home)
    list(ledger.post(generate(seed=3, learners=60).lines))
    path = tmp_path / "projections.duckdb"
    command, env = project_command(home, path)
    command = command + ["--rebuild"]
    startup = timed_run([sys.executable, "-m", "cli", "project", "--help"], env)
    work = timed_run(command, env) - startup
    whole = table_rows(path)
    building = path.with_name(path.name + ".building")

    def still_whole() -> None:
        assert table_rows(path) == whole, "a killed rebuild changed the file readers use"

    kills = kill_at_random_points(command, env, startup, work, building.exists, after_each=still_whole)
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)

    assert kills >= 2, "the kills all missed the rebuild; the test proved nothing"
    assert table_rows(path) == whole
    assert not building.exists()
