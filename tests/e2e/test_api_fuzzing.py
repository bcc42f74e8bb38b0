"""schemathesis against the OpenAPI document of a real `ledger serve`: no generated request,
with any key or none, may produce a server error."""

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests import factories as f
from tests.http_support import Server, cli, server_env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = server_env(tmp_path_factory.mktemp("fuzz") / "home")
    docs = [f.framework(), f.course(), f.enrolled("L1"), f.advisor_assigned("L1"), f.assessment("L1", days=-2)]
    assert cli(env, "post", "-", stdin="\n".join(f.line(d) for d in docs) + "\n").returncode == 0
    running = Server(env).start()
    yield running
    running.stop()


def schemathesis() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is a test dependency: pip install -e .[test]"
    return [found]


@pytest.mark.parametrize("role", ["registrar", "school", "researcher", None])
def test_schemathesis_finds_no_server_error_on_any_operation(server, role, tmp_path):
    headers = []
    if role is not None:
        extra = {"registrar": ["--actor", "reg-1"], "school": ["--school", f.SCHOOL]}.get(role, [])
        headers = ["-H", f"X-API-Key: {server.key(role, *extra)}"]
    run = subprocess.run(
        [*schemathesis(), "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "25", "--seed", "1", *headers],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "passed" in run.stdout
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert "Traceback" not in server.log.read_text()
