"""Our signed credentials checked by implementations nobody here wrote.

Data Integrity (eddsa-rdfc-2022): Digital Bazaar's JavaScript VC stack (tests/independent/verify.mjs,
packages from package.json) verifies the signed badge and the CLR transcript with its own RDFC-1.0
canonicalisation and its own Ed25519, from nothing but the contexts we ship, the DID document and
the status list credential the server publishes, all given as files. After `credit revoke` it
reads the badge's status bit as set. openbadgeslib's Data Integrity verifier (Python, pyld like
ours, but its own suite code and its own pinned contexts) checks the same badge the same way.

VC-JWT: openbadgeslib (PyPI, test extra) verifies the `--jwt` badge with the issuer's public key;
our own `ledger credential verify` accepts the same JWT, and rejects it after a one-character edit."""

import json
import shutil
import subprocess
from pathlib import Path

import jwt
import pytest

from credentials import issuer as issuers
from credentials.contexts import CONTEXTS
from credentials.service import status_list_credential
from tests.e2e.test_audit_report import ROOT
from tests.e2e.test_credentials_refusals import awarded, ledger_cli  # noqa: F401 (fixture)

VERIFIER = ROOT / "tests" / "independent" / "verify.mjs"
NODE = shutil.which("node")


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def published(ledger, home: Path, folder: Path) -> list[str]:
    """URL=FILE for what the issuer publishes (what `ledger serve` returns for each URL) and the shipped contexts."""
    issuer = issuers.load(home)
    folder.mkdir(exist_ok=True)
    did = folder / "did.json"
    did.write_text(json.dumps(issuer.did_document()))
    listed = status_list_credential(ledger, home, 0)
    status = folder / "status-0.json"
    status.write_text(json.dumps(listed))
    return [f"{url}={path}" for url, path in CONTEXTS.items()] + [f"{issuer.did}={did}", f"{listed['id']}={status}"]


def outside_verdict(credential: Path, documents: list[str]) -> dict:
    # not a skip: without node and `npm ci` (scripts/test does both) this must fail, not pass quietly
    assert NODE and (ROOT / "node_modules" / "@digitalbazaar" / "vc").is_dir(), "run `npm ci` (scripts/test does)"
    run = subprocess.run([NODE, str(VERIFIER), str(credential), *documents], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_digital_bazaar_verifies_our_badge_and_transcript_then_reads_revoked(awarded, tmp_path):
    from openbadgeslib.ob3.ldp import OB3LdpVerifier
    from openbadgeslib.ob3.verifier import OB3VerificationError

    home = awarded["home"]
    ok(ledger_cli(home, "issuer", "create", "--host", "registrar.district.example", "--name", "Example District"))
    badge, clr = tmp_path / "badge.json", tmp_path / "transcript.json"
    ok(ledger_cli(home, "credit", "badge", "L1", "CRS-1", "--sign", "--out", str(badge)))
    ok(ledger_cli(home, "transcript", "L1", "--out", str(clr)))
    documents = published(awarded["ledger"], home, tmp_path / "before")

    verdict = outside_verdict(badge, documents)
    assert verdict["verified"] and verdict["proof_verified"], verdict
    assert verdict["status_checked"] and not verdict["revoked"], verdict
    assert "did:web:registrar.district.example" in verdict["documents_asked"]

    transcript = outside_verdict(clr, documents)
    assert transcript["verified"] and transcript["proof_verified"], transcript
    [inner] = transcript["embedded"]
    assert inner["verified"] and inner["status_checked"] and not inner["revoked"], inner

    # the same checker says no to a one-character change, so its yes above means something
    tampered = tmp_path / "tampered.json"
    tampered.write_text(badge.read_text().replace('"creditsEarned": 1', '"creditsEarned": 2'))
    assert tampered.read_text() != badge.read_text()
    rejected = outside_verdict(tampered, documents)
    assert not rejected["verified"] and not rejected["proof_verified"], rejected

    # members no context defines fall out of the canonical form, so the proof holds without them:
    # both verifiers refuse such a credential rather than vouch for unsigned JSON
    extra = json.loads(badge.read_text())
    extra["grade"] = "A+"
    extra["credentialSubject"]["achievement"]["honours"] = True
    padded = tmp_path / "padded.json"
    padded.write_text(json.dumps(extra))
    assert not outside_verdict(padded, documents)["verified"]
    ours = ledger_cli(home, "credential", "verify", str(padded), "--json")
    assert ours.returncode == 1, ours.stdout
    assert any(p.startswith("undefined terms grade, honours") for p in json.loads(ours.stdout)["problems"]), ours.stdout

    # openbadgeslib's own eddsa-rdfc-2022 verifier agrees, through the DID document and status list
    ldp = OB3LdpVerifier.for_issuer_did("did:web:registrar.district.example")
    urls = served(tmp_path / "before", home)
    assert ldp.verify(badge.read_text(), check_status=True, verify_status_list=False, download=urls.__getitem__).id
    with pytest.raises(OB3VerificationError):
        ldp.verify(tampered.read_text(), download=urls.__getitem__)

    # --anchor: the checkpoint anchor is signed too (a named term): editing it breaks the proof
    anchored = tmp_path / "anchored.json"
    ok(ledger_cli(home, "credit", "badge", "L1", "CRS-1", "--sign", "--anchor", "--out", str(anchored)))
    assert outside_verdict(anchored, documents)["verified"]
    doc = json.loads(anchored.read_text())
    doc["anchor"]["checkpoint"]["log_position"] += 1
    moved = tmp_path / "anchor-moved.json"
    moved.write_text(json.dumps(doc))
    assert not outside_verdict(moved, documents)["proof_verified"]
    assert ledger_cli(home, "credential", "verify", str(moved)).returncode == 1

    ok(ledger_cli(home, "credit", "revoke", "L1", "CRS-1", "--by", "reg-1", "--reason", "entered in error"))
    after = published(awarded["ledger"], home, tmp_path / "after")
    revoked = outside_verdict(badge, after)
    assert revoked["proof_verified"] and revoked["status_checked"] and revoked["revoked"], revoked
    [inner] = outside_verdict(clr, after)["embedded"]
    assert inner["revoked"], inner
    with pytest.raises(OB3VerificationError, match="revocation"):
        ldp.verify(badge.read_text(), check_status=True, verify_status_list=False,
                   download=served(tmp_path / "after", home).__getitem__)


def served(folder: Path, home: Path) -> dict[str, bytes]:
    """URL -> bytes as `ledger serve` answers them for a did:web issuer (written by `published`)."""
    issuer = issuers.load(home)
    return {f"{issuer.base_url}/.well-known/did.json": (folder / "did.json").read_bytes(),
            f"{issuer.base_url}/credentials/status/0": (folder / "status-0.json").read_bytes()}


def test_openbadgeslib_verifies_our_vc_jwt_badge_and_so_do_we_then_revoked(awarded, tmp_path):
    from openbadgeslib.ob3.verifier import OB3VerificationError, OB3Verifier

    home = awarded["home"]
    ok(ledger_cli(home, "issuer", "create", "--host", "registrar.district.example", "--name", "Example District"))
    ok(ledger_cli(home, "issuer", "rotate"))  # two keys in the DID document: the kid must pick the right one
    token_file = tmp_path / "badge.jwt"
    made = json.loads(ok(ledger_cli(home, "credit", "badge", "L1", "CRS-1", "--sign", "--jwt", "--out",
                                    str(token_file), "--json")))
    token = token_file.read_text().strip()
    assert made["jwt"] == token and token.count(".") == 2
    published(awarded["ledger"], home, tmp_path / "before")
    urls = served(tmp_path / "before", home)

    def download(url: str) -> bytes:  # openbadgeslib's fetcher, answered from what the issuer publishes
        return urls[url]

    outside = OB3Verifier.for_issuer_did("did:web:registrar.district.example", download=download)
    credential = outside.verify(token, check_status=True, verify_status_list=False, download=download)
    assert credential.issuer.id == "did:web:registrar.district.example"
    assert credential.achievement.name and credential.credential_status

    ours = json.loads(ok(ledger_cli(home, "credential", "verify", str(token_file), "--json")))
    assert ours["ok"] and any(c.startswith("VC-JWT EdDSA signature") for c in ours["checks"]), ours
    assert any(c.startswith("not revoked") for c in ours["checks"]), ours

    # one character of the payload changed: both say no
    head, body, signature = token.split(".")
    flipped = body[:40] + ("A" if body[40] != "A" else "B") + body[41:]
    tampered = tmp_path / "tampered.jwt"
    tampered.write_text(f"{head}.{flipped}.{signature}\n")
    with pytest.raises(OB3VerificationError):
        outside.verify(tampered.read_text().strip())
    bad = ledger_cli(home, "credential", "verify", str(tampered))
    assert bad.returncode == 1 and len(bad.stdout.splitlines()) == 1 and "NOT valid" in bad.stdout, bad.stdout

    ok(ledger_cli(home, "credit", "revoke", "L1", "CRS-1", "--by", "reg-1", "--reason", "entered in error"))
    published(awarded["ledger"], home, tmp_path / "after")
    urls.update(served(tmp_path / "after", home))
    with pytest.raises(OB3VerificationError, match="revocation"):
        outside.verify(token, check_status=True, verify_status_list=False, download=download)
    after = ledger_cli(home, "credential", "verify", str(token_file), "--json")
    assert after.returncode == 1 and json.loads(after.stdout)["revoked"], after.stdout


def test_the_api_serves_the_badge_as_vc_jwt_that_verifies_with_only_the_served_did_document(tmp_path):
    from credentials.multikey import public_from_multibase
    from credentials.verify import verify_jwt
    from openbadgeslib.ob3.verifier import OB3Verifier
    from tests import factories as f
    from tests.http_support import Server, cli, server_env

    env = server_env(tmp_path / "home")
    docs = [f.framework(), f.course(competencies=["C1", "C2"], method={"name": "most_recent", "params": {}}),
            f.enrolled("L1")] + [f.assessment("L1", c, 3.5, days=-3) for c in ("C1", "C2")]
    assert cli(env, "post", "-", stdin="\n".join(f.line(d) for d in docs) + "\n").returncode == 0
    assert cli(env, "issuer", "create", "--host", "registrar.district.example").returncode == 0
    running = Server(env).start()
    try:
        with running.client(running.key("registrar", "--actor", "reg-1")) as http:
            assert http.post("/v1/credits/propose").status_code in (200, 201)
            assert http.post("/v1/learners/L1/credits/CRS-1/approve").status_code == 201
            answer = http.get("/v1/learners/L1/credits/CRS-1/badge/signed", params={"jwt": "true"})
        with running.client() as anyone:
            did = anyone.get("/.well-known/did.json")
            listed = anyone.get("/credentials/status/0").json()
    finally:
        running.stop()
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/vc+jwt"), answer.text
    keys = {m["id"]: public_from_multibase(m["publicKeyMultibase"]) for m in did.json()["verificationMethod"]}
    verdict = verify_jwt(answer.text, keys=keys, status={listed["id"]: listed}.get)
    assert verdict.ok, verdict.line
    served_urls = {"https://registrar.district.example/.well-known/did.json": did.content}
    outside = OB3Verifier.for_issuer_did("did:web:registrar.district.example", download=served_urls.__getitem__)
    assert outside.verify(answer.text).id == jwt.decode(answer.text, options={"verify_signature": False})["jti"]
