"""`ledger verify [--since]`, `ledger checkpoint` and `ledger verify-proof`, run as a user runs them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ledger.application import store_env
from ledger.config import Settings
from tests import factories as f
from tests.tamper import Store


def ledger(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LEDGER_HOME": str(home)}
    env.pop("LEDGER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=300)


def posted(home: Path, tmp_path: Path, docs: list[dict], name: str) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(f.line(d) for d in docs) + "\n")
    result = ledger(home, "post", str(path))
    assert result.returncode == 0, result.stderr


def store_of(home: Path) -> Store:
    return Store(store_env(Settings.load({**os.environ, "LEDGER_HOME": str(home)})))


def test_verify_since_a_kept_checkpoint_passes_while_the_log_extends_it_and_fails_once_rewritten(tmp_path):
    home = tmp_path / "home"
    posted(home, tmp_path, f.setup(["L1", "L2"]) + [f.assessment("L1", score=2.0 + i % 2) for i in range(8)], "a")
    made = ledger(home, "checkpoint", "--json")
    assert made.returncode == 0, made.stderr
    kept = tmp_path / "kept.json"  # what a registrar keeps, away from the server
    kept.write_text(made.stdout)
    posted(home, tmp_path, [f.assessment("L2", score=3.0) for _ in range(5)], "b")

    result = ledger(home, "verify", "--since", str(kept))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the log extends the kept checkpoint of 12 events" in result.stdout
    copied = tmp_path / "copied.jsonl"  # a copy of the whole checkpoints file: its last line is used
    shutil.copy(json.loads(made.stdout)["checkpoints_file"], copied)
    assert ledger(home, "verify", "--since", str(copied), "--json").returncode == 0

    # The insider rewrites a score inside the kept tree, re-chains, and re-signs every checkpoint.
    store = store_of(home)
    row = store.stream("learner:L1")[3]
    body = json.loads(row.fields["body"])
    body["payload"]["score"] = 4.0
    store.rechain("learner:L1", {row.version: body})
    base = Path(json.loads(made.stdout)["checkpoints_file"]).parent
    (base / "checkpoints.jsonl").unlink()
    shutil.rmtree(base / "anchor")
    assert ledger(home, "checkpoint").returncode == 0
    assert ledger(home, "verify").returncode == 0  # the local checkpoints are the insider's now

    result = ledger(home, "verify", "--since", str(kept), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert not report["ok"] and [b["kind"] for b in report["broken"]] == ["since"]
    assert "does not extend the checkpoint signed at" in report["broken"][0]["reason"]


def test_verify_exits_1_naming_a_deleted_tail_and_refuses_a_kept_file_that_is_not_a_checkpoint(tmp_path):
    home = tmp_path / "home"
    posted(home, tmp_path, f.setup(["L1"]) + [f.assessment("L1") for _ in range(4)], "a")
    assert ledger(home, "verify").returncode == 0
    store = store_of(home)
    store.delete([store.stream("learner:L1")[-1].position])
    result = ledger(home, "verify")
    assert result.returncode == 1
    assert "BROKEN (tree)" in result.stdout and "1 were deleted (the log was truncated" in result.stdout
    assert "BROKEN (receipt)" in result.stdout and "Traceback" not in result.stderr

    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"tree_size": "many"}')
    refused = ledger(home, "verify", "--since", str(bogus))
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "tree_size missing or not a whole number" in refused.stderr and "root missing" in refused.stderr


def test_an_audit_and_a_badge_prove_their_evidence_offline_with_the_public_key(tmp_path):
    home = tmp_path / "home"
    assert ledger(home, "demo", "--learners", "12", "--json").returncode == 0
    listed = ledger(home, "credit", "list", "--status", "awarded", "--json")
    first = json.loads(listed.stdout)[0]
    audit, badge = tmp_path / "audit.json", tmp_path / "badge.json"
    assert ledger(home, "audit", first["learner_id"], first["course_id"], "--format", "json",
                  "--out", str(audit)).returncode == 0
    assert ledger(home, "credit", "badge", first["learner_id"], first["course_id"], "--out", str(badge)).returncode == 0
    key = tmp_path / "published.pub"  # the holder has only the file the district publishes
    shutil.copy(home / "checkpoint-key.pub", key)
    for document in (audit, badge):
        result = ledger(tmp_path / "elsewhere", "verify-proof", str(document), "--public-key", str(key))
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("proven: ")
    spoilt = json.loads(badge.read_text())
    spoilt["anchor"]["proofs"][-1]["hash"] = "f" * 64
    badge.write_text(json.dumps(spoilt))
    result = ledger(tmp_path / "elsewhere", "verify-proof", str(badge), "--public-key", str(key), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["problems"]


def test_the_latest_checkpoint_is_served_to_any_key_and_http_verify_runs_the_same_checks(tmp_path):
    from ledger import checkpoints
    from tests.http_support import Server, server_env

    home = tmp_path / "home"
    posted(home, tmp_path, f.setup(["L1"]) + [f.assessment("L1") for _ in range(3)], "a")
    server = Server(server_env(home)).start()
    try:
        school, operator = server.key("school", "--school", f.SCHOOL), server.key("district_admin")
        with server.client(school) as http:
            latest = http.get("/v1/checkpoints/latest").json()
            pem = http.get("/v1/checkpoints/public-key").text
        cp = checkpoints.Checkpoint.from_dict(latest["checkpoint"])
        checkpoints.check_signature(cp, checkpoints.load_public_key(pem))
        assert cp.tree_size == 6 and latest["public_key_id"] == cp.key_id
        with server.client() as anonymous:
            assert anonymous.get("/v1/checkpoints/latest").status_code == 401
        with server.client(operator) as http:
            report = http.get("/v1/verify")
            assert report.status_code == 200 and report.json()["tree_size"] == 6
            store = store_of(home)
            store.delete([store.stream("learner:L1")[-1].position])
            report = http.get("/v1/verify")
        assert report.status_code == 409
        assert {b["kind"] for b in report.json()["broken"]} == {"tree", "receipt"}
    finally:
        server.stop()
