"""A bounded load test from a second process: concurrent clients post to overlapping learners,
and afterwards every acknowledged event is in the store exactly once and the chains verify."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_concurrent_clients_on_overlapping_learners_lose_nothing_and_store_nothing_twice(store, postgres_url):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "http_load.py"), "--clients", "6", "--requests", "40",
                          "--learners", "4", "--store", store, "--json"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.stdout, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["requests"] == 240
    assert outcome["acknowledged"] > 150  # about a tenth are re-sends of acknowledged events
    assert outcome["lost"] == 0 and outcome["stored_twice"] == 0 and outcome["server_errors"] == 0
    assert outcome["verify_ok"] is True
    assert outcome["statuses"].get("200", 0) > 0  # re-sent events were answered as duplicates
    assert run.returncode == 0
