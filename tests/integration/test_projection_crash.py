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


def test_a_projection_killed_at_random_points_ends_identical_to_an_uninterrupted_run(tmp_path):
    home = tmp_path / "home"
    ledger = make_ledger(home)
    list(ledger.post(generate(seed=3, learners=60).lines))

    calm = tmp_path / "calm.duckdb"
    command, env = project_command(home, calm)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "project", "--help"], env=env, check=True, capture_output=True)
    startup = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    work = time.perf_counter() - started - startup
    final = stored_position(calm)

    crashed = tmp_path / "crashed.duckdb"
    command, env = project_command(home, crashed)
    rng = random.Random(11)
    kills_mid_stream = 0
    for _ in range(20):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(startup + rng.uniform(0.1, 0.3) * work)
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if 0 < stored_position(crashed) < final:
            kills_mid_stream += 1
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)

    assert kills_mid_stream >= 2, "the kills all missed the catch-up; the test proved nothing"
    assert table_rows(crashed) == table_rows(calm)
