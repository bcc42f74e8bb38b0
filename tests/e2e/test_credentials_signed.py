"""Signed credentials end to end, through the CLI in subprocesses: an issuer is made (key file
0600, never in the store), a badge is signed and verifies offline, `credit revoke` sets its
status bit and the same file then verifies as revoked; a key rotation leaves old badges
verifiable; the CLR transcript is signed, verifies, and its HTML renders in headless Chromium
with a screenshot kept under .ci-logs/screenshots/."""

import json
import shutil
import stat
import subprocess
from pathlib import Path

from tests.e2e.test_audit_report import ROOT, chromium
from tests.e2e.test_credentials_refusals import awarded, ledger_cli  # noqa: F401 (fixture)

SHOTS = ROOT / ".ci-logs" / "screenshots"


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_signed_badge_verifies_then_reads_revoked_after_credit_revoke(awarded, tmp_path):
    home = awarded["home"]
    made = json.loads(ok(ledger_cli(home, "issuer", "create", "--host", "registrar.district.example",
                                    "--name", "Example District", "--json")))
    assert made["did"] == "did:web:registrar.district.example"
    [key_file] = (home / "issuer" / "keys").glob("*.pem")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    private_pem = key_file.read_bytes().split(b"\n")[1]
    store_file = home / "ledger.db"  # on the PostgreSQL pass the store is not a file
    assert not store_file.exists() or private_pem not in store_file.read_bytes()  # no private key in the store

    badge = tmp_path / "badge.json"
    ok(ledger_cli(home, "credit", "badge", "L1", "CRS-1", "--sign", "--out", str(badge)))
    doc = json.loads(badge.read_text())
    assert doc["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert doc["proof"]["verificationMethod"] == made["verification_method"]
    assert doc["credentialStatus"]["type"] == "BitstringStatusListEntry"

    verdict = json.loads(ok(ledger_cli(home, "credential", "verify", str(badge), "--json")))
    assert verdict["ok"] and not verdict["revoked"], verdict
    assert any(c.startswith("not revoked") for c in verdict["checks"])

    tampered = tmp_path / "tampered.json"
    tampered.write_text(badge.read_text().replace('"creditsEarned": 1', '"creditsEarned": 2'))
    assert tampered.read_text() != badge.read_text()
    bad = ledger_cli(home, "credential", "verify", str(tampered))
    assert bad.returncode == 1 and "signature does not match" in bad.stdout and len(bad.stdout.splitlines()) == 1

    # rotation: the old badge still verifies against the DID document's older key
    rotated = json.loads(ok(ledger_cli(home, "issuer", "rotate", "--json")))
    assert rotated["verification_method"] != made["verification_method"] and len(rotated["keys"]) == 2
    assert json.loads(ok(ledger_cli(home, "credential", "verify", str(badge), "--json")))["ok"]

    ok(ledger_cli(home, "credit", "revoke", "L1", "CRS-1", "--by", "reg-1", "--reason", "entered in error"))
    after = ledger_cli(home, "credential", "verify", str(badge), "--json")
    assert after.returncode == 1
    verdict = json.loads(after.stdout)
    assert verdict["revoked"] and any(p.startswith("revoked: bit") for p in verdict["problems"]), verdict
    # and no fresh credential is signed for it
    refused = ledger_cli(home, "credit", "badge", "L1", "CRS-1", "--sign")
    assert refused.returncode == 1 and "revoked" in refused.stderr and refused.stdout == ""


def test_transcript_is_signed_verifies_and_renders_in_chromium(awarded, tmp_path):
    home = awarded["home"]
    clr_file, page = tmp_path / "transcript.json", tmp_path / "transcript.html"
    ok(ledger_cli(home, "transcript", "L1", "--out", str(clr_file), "--html", str(page)))
    clr = json.loads(clr_file.read_text())
    assert clr["type"] == ["VerifiableCredential", "ClrCredential"]
    [credit] = clr["credentialSubject"]["verifiableCredential"]
    assert credit["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert {a["targetId"] for a in clr["credentialSubject"]["association"]} == {
        "urn:mastery-ledger:competency:C1", "urn:mastery-ledger:competency:C2"}
    verdict = json.loads(ok(ledger_cli(home, "credential", "verify", str(clr_file), "--json")))
    assert verdict["ok"], verdict

    SHOTS.mkdir(parents=True, exist_ok=True)
    png = SHOTS / "transcript-L1.png"
    shot = subprocess.run([str(ROOT / "scripts" / "audit-screenshot"), str(page), str(png), "1100x1400"],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0, shot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    print(f"transcript screenshot: {png}")
    dom = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", f"file://{page}").stdout
    assert "Mastery transcript of L1" in dom and 'id="credit-1"' in dom
    assert dom.count("<li>") >= 4  # two standards and at least two pieces of evidence
    assert "http" not in page.read_text().split("<body>")[0]  # self-contained: no external assets in the head
