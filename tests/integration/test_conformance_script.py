"""`scripts/xapi-conformance` passes the suite's verdict on as its own exit status: CI's test
command decides from it whether the LRS is conformant. The suite itself is swapped for a stand-in
runner (XAPI_SUITE) that reports a fixed verdict; the ledger it is run against is real."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.sqlite_only  # the script's own store handling is what runs here


def run_with_verdict(tmp_path, failed: int) -> subprocess.CompletedProcess:
    runner = tmp_path / "runner"
    runner.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "xapi-conformance: 3 passed, {failed} failed"\n'
        f"exit {1 if failed else 0}\n")
    runner.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_STORE"}
    env["XAPI_SUITE"] = str(runner)
    return subprocess.run([str(ROOT / "scripts" / "xapi-conformance"), "--store", "sqlite"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_clean_suite_run_makes_the_script_exit_0(tmp_path):
    done = run_with_verdict(tmp_path, failed=0)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed, 0 failed" in done.stdout


def test_a_suite_run_with_failures_makes_the_script_exit_1(tmp_path):
    done = run_with_verdict(tmp_path, failed=2)
    assert done.returncode == 1, done.stdout + done.stderr
