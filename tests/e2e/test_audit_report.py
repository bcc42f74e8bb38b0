"""The HTML audit as a registrar sees it: rendered by headless Chromium (Debian's package)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def ledger(home, *args):
    env = {**os.environ, "LEDGER_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def chromium(*args):
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_html_audit_renders_the_decision_the_evidence_and_the_verification_in_chromium(tmp_path):
    home = tmp_path / "home"
    ledger(home, "demo", "--learners", "15")  # the demo approves credits, and flags one
    first = json.loads(ledger(home, "credit", "list", "--status", "awarded", "--json"))[0]
    report = tmp_path / "audit.html"
    ledger(home, "audit", first["learner_id"], first["course_id"], "--format", "html", "--out", str(report))

    png = tmp_path / "audit.png"
    shot = subprocess.run([str(ROOT / "scripts" / "audit-screenshot"), str(report), str(png), "1200x1500"],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0, shot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000

    dom = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", f"file://{report}").stdout
    assert "AWARDED" in dom
    assert dom.count('class="evidence"') >= 2
    assert 'id="verification-summary"' in dom and "VERIFIED:" in dom


def test_the_demos_flagged_award_says_why_in_its_html_audit(tmp_path):
    home = tmp_path / "home"
    summary = json.loads(ledger(home, "demo", "--learners", "15", "--json"))
    [flagged] = [a for a in summary["credits"]["audits"] if a["status"] == "flagged for review"]
    html = Path(flagged["path"]).read_text()
    assert "FLAGGED FOR REVIEW" in html and "entered for the wrong student" in html
