"""Credentials over HTTP through a real `ledger serve`: the DID document, the issuer profile and
the status list are public; a signed badge and the signed transcript need a key that may read
the learner; a badge fetched over HTTP verifies with the CLI, and reads revoked once the credit
is revoked over HTTP (the status list served is the one the verifier reads)."""

import json

from credentials.verify import verify
from tests import factories as f
from tests.http_support import Server, cli, server_env

METHOD = {"name": "most_recent", "params": {}}


def test_issuer_documents_status_list_signed_badge_and_transcript_over_http(tmp_path):
    env = server_env(tmp_path / "home")
    docs = [f.framework(), f.course(competencies=["C1", "C2"], method=METHOD), f.enrolled("L1"), f.enrolled("L9", school="school-b")]
    docs += [f.assessment("L1", c, 3.5, days=-3) for c in ("C1", "C2")]
    assert cli(env, "post", "-", stdin="\n".join(f.line(d) for d in docs) + "\n").returncode == 0
    made = cli(env, "issuer", "create", "--host", "registrar.district.example", "--json")
    assert made.returncode == 0, made.stderr
    running = Server(env).start()
    try:
        registrar, other = running.key("registrar", "--actor", "reg-1"), running.key("school", "--school", "school-b")
        with running.client(registrar) as http:
            assert http.post("/v1/credits/propose").status_code in (200, 201)
            assert http.post("/v1/learners/L1/credits/CRS-1/approve").status_code == 201
            badge = http.get("/v1/learners/L1/credits/CRS-1/badge/signed")
            assert badge.status_code == 200, badge.text
            transcript = http.get("/v1/learners/L1/transcript")
            page = http.get("/v1/learners/L1/transcript", params={"html": "true"})
        with running.client() as anyone:
            did = anyone.get("/.well-known/did.json").json()
            profile = anyone.get("/v1/credentials/issuer").json()
            listed = anyone.get("/credentials/status/0").json()
            assert anyone.get("/v1/learners/L1/transcript").status_code == 401
        with running.client(other) as http:
            assert http.get("/v1/learners/L1/credits/CRS-1/badge/signed").status_code == 403
        doc = badge.json()
        assert did["id"] == profile["id"] == doc["issuer"]["id"] == "did:web:registrar.district.example"
        assert doc["proof"]["verificationMethod"] in did["assertionMethod"]
        assert transcript.json()["type"] == ["VerifiableCredential", "ClrCredential"]
        assert "Mastery transcript of L1" in page.text and page.headers["content-type"].startswith("text/html")

        # an outside verifier holding only what the server publishes
        key = {m["id"]: m["publicKeyMultibase"] for m in did["verificationMethod"]}
        from credentials.multikey import public_from_multibase
        keys = {k: public_from_multibase(v) for k, v in key.items()}
        listed_url = doc["credentialStatus"]["statusListCredential"]
        assert listed["id"] == listed_url
        assert verify(doc, keys=keys, status={listed_url: listed}.get).ok
        assert verify(transcript.json(), keys=keys).ok

        with running.client(registrar) as http:
            assert http.post("/v1/learners/L1/credits/CRS-1/revoke", json={"reason": "in error"}).status_code == 201
        with running.client() as anyone:
            relisted = anyone.get("/credentials/status/0").json()
        verdict = verify(doc, keys=keys, status={listed_url: relisted}.get)
        assert not verdict.ok and verdict.revoked, verdict.line
        (tmp_path / "badge.json").write_text(json.dumps(doc))
        by_cli = cli(env, "credential", "verify", str(tmp_path / "badge.json"), "--json")
        assert by_cli.returncode == 1 and json.loads(by_cli.stdout)["revoked"]
    finally:
        running.stop()
