"""The HTTP API through a real `ledger serve`, on SQLite and on the project's PostgreSQL."""

import json
import re
import uuid

import pytest

from tests import factories as f
from tests.conftest import drop_schema
from tests.http_support import Server, cli, server_env

OTHER_SCHOOL = "school-b"


def seed() -> list[dict]:
    return [f.framework(), f.course(), f.enrolled("L1"), f.enrolled("L2"), f.enrolled("L9", school=OTHER_SCHOOL),
            f.advisor_assigned("L1", "adv-1")]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("serve") / "home"
    store = None
    if request.param == "postgresql":
        postgres_url = request.getfixturevalue("postgres_url")
        schema = f"t_{uuid.uuid4().hex[:16]}"
        store = f"{postgres_url}?schema={schema}"
        request.addfinalizer(lambda: drop_schema(postgres_url, schema))
    env = server_env(home, store)
    posted = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in seed()) + "\n")
    assert posted.returncode == 0, posted.stdout + posted.stderr
    running = Server(env).start()
    request.addfinalizer(running.stop)
    running.keys = {
        "school": running.key("school", "--school", f.SCHOOL),
        "other_school": running.key("school", "--school", OTHER_SCHOOL),
        "advisor": running.key("advisor", "--actor", "adv-1"),
        "registrar": running.key("registrar", "--actor", "reg-1"),
        "researcher": running.key("researcher"),
    }
    return running


def events_of(server, learner: str) -> list[dict]:
    with server.client(server.keys["registrar"]) as http:
        return http.get(f"/v1/learners/{learner}/events").json()["events"]


def test_a_school_key_posting_for_another_schools_learner_gets_403_and_nothing_is_stored(server):
    before = events_of(server, "L9")
    evidence = f.assessment("L9", days=-1)
    with server.client(server.keys["school"]) as http:
        for body in (evidence, {**evidence, "school_id": OTHER_SCHOOL}, [f.assessment("L1"), evidence]):
            response = http.post("/v1/events", json=body)
            assert response.status_code == 403, response.text
            assert "school" in response.json()["error"]
    with server.client(server.keys["registrar"]) as http:  # /metrics needs an operator key
        metrics = http.get("/metrics").text
    assert events_of(server, "L9") == before
    assert len(events_of(server, "L1")) == 2  # the batch was refused whole: L1's half is not stored either
    forbidden = re.search(r'^ledger_http_refusals_total\{reason="forbidden",status="403"\} (\S+)$', metrics, re.M)
    assert forbidden and float(forbidden.group(1)) >= 3, metrics


def test_posting_answers_accepted_duplicate_conflict_and_rejected_with_their_statuses(server):
    evidence = f.assessment("L2", score=3.0, days=-2)
    with server.client(server.keys["school"]) as http:
        assert http.post("/v1/events", json=evidence).status_code == 201
        again = http.post("/v1/events", json=evidence)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        conflict = http.post("/v1/events", json={**evidence, "payload": {**evidence["payload"], "score": 1.0}})
        assert conflict.status_code == 409 and conflict.json()["field"] == "event_id"
        bad = http.post("/v1/events", json={**f.assessment("L2"), "payload": {
            "competency_id": "C1", "score": 9.0, "source": {"assessment_id": "q", "kind": "quiz"}}})
        assert bad.status_code == 422 and bad.json()["field"] == "payload.score"
    assert [e["event"]["event_id"] for e in events_of(server, "L2")].count(evidence["event_id"]) == 1


def test_a_batch_records_every_valid_event_and_names_the_rejected_one(server):
    good = [f.assessment("L2", "C2", 2.0, days=-3), f.assessment("L2", "C2", 3.0, days=-2)]
    broken = {**f.assessment("L2"), "demonstrated_at": "2026-01-10T09:00:00"}
    with server.client(server.keys["school"]) as http:
        response = http.post("/v1/events", json=[good[0], broken, good[1]])
    assert response.status_code == 422
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["results"][1]["field"] == "demonstrated_at"
    stored = {e["event"]["event_id"] for e in events_of(server, "L2")}
    assert {g["event_id"] for g in good} <= stored and broken["event_id"] not in stored


def test_keys_are_required_and_a_revoked_key_stops_working(server):
    with server.client() as http:
        assert http.get("/v1/learners/L1/state").status_code == 401
    with server.client("mlk_000000000000_forged") as http:
        assert http.get("/v1/learners/L1/state").status_code == 401
    made = json.loads(cli(server.env, "keys", "create", "--role", "registrar", "--actor", "reg-2", "--json").stdout)
    with server.client(made["key"]) as http:
        assert http.get("/v1/learners/L1/events").status_code == 200
        assert cli(server.env, "keys", "revoke", made["key_id"]).returncode == 0
        import time

        deadline = time.monotonic() + 10
        while http.get("/v1/learners/L1/events").status_code != 401:
            assert time.monotonic() < deadline, "a revoked key still worked after 10 s"
            time.sleep(0.2)
    listed = json.loads(cli(server.env, "keys", "list", "--json").stdout)
    assert all("digest" not in k and made["key"] not in json.dumps(k) for k in listed)


def test_an_advisor_signs_off_only_for_assigned_learners_and_only_as_themselves(server):
    artifact = f.event("artifact.submitted", {"competencies_claimed": ["C1"], "title": "Lab report",
                                              "sha256": "a" * 64, "uri": "https://example.org/lab.pdf"},
                       learner="L1", days=-3)
    with server.client(server.keys["school"]) as http:
        assert http.post("/v1/events", json=artifact).status_code == 201, http.post("/v1/events", json=artifact).text

    def sign_off(learner: str, advisor: str) -> dict:
        return f.event("advisor.signed_off", {"subject_event_id": artifact["event_id"], "decision": "approved",
                                              "statement": "Meets the standard."},
                       learner=learner, actor={"id": advisor, "role": "advisor"}, days=-1)

    with server.client(server.keys["advisor"]) as http:
        assert http.post("/v1/events", json=sign_off("L2", "adv-1")).status_code == 403  # not assigned to L2
        assert http.post("/v1/events", json=sign_off("L1", "adv-2")).status_code == 403  # not who the key is
        assert http.post("/v1/events", json=f.assessment("L1")).status_code == 403  # advisors do not grade
        ok = http.post("/v1/events", json=sign_off("L1", "adv-1"))
        assert ok.status_code == 201, ok.text
        assert http.get("/v1/learners/L1/state").status_code == 200
        assert http.get("/v1/learners/L2/state").status_code == 403


def test_only_a_registrar_decides_credit(server):
    for role in ("school", "advisor", "researcher"):
        with server.client(server.keys[role]) as http:
            assert http.post("/v1/learners/L1/credits/CRS-1/approve").status_code == 403
    with server.client(server.keys["registrar"]) as http:
        refused = http.post("/v1/learners/L1/credits/CRS-1/approve")
        assert refused.status_code == 409 and "no credit proposal" in refused.json()["error"]


def test_a_researcher_reads_pseudonyms_and_never_a_learner(server):
    server.wait_projected(server.keys["registrar"])
    with server.client(server.keys["researcher"]) as http:
        assert http.get("/v1/learners/L1/state").status_code == 403
        assert http.get("/v1/learners/L1/events").status_code == 403
        rows = http.get("/v1/research/competency-states").json()["rows"]
    assert rows and all(r["learner"] not in ("L1", "L2", "L9") and len(r["learner"]) == 16 for r in rows)
    assert "L1" not in json.dumps(rows) and f.SCHOOL not in json.dumps(rows)


def test_states_on_both_time_axes_plans_and_audits_are_served(server):
    evidence = f.assessment("L1", "C2", 4.0, days=-4)
    with server.client(server.keys["school"]) as http:
        assert http.post("/v1/events", json=evidence).status_code == 201
    server.wait_projected(server.keys["registrar"])
    with server.client(server.keys["school"]) as http:
        now = {c["competency_id"]: c for c in http.get("/v1/learners/L1/state").json()["competencies"]}
        before = http.get("/v1/learners/L1/state", params={"as_of": f.at(-5)[:10]}).json()["competencies"]
        assert now["C2"]["level"] == 4.0 and "C2" not in {c["competency_id"] for c in before}
        assert http.get("/v1/learners/L1/state", params={"as_of": "yesterday"}).status_code == 422
        assert http.get("/v1/learners/L1/plans").status_code == 200
        assert http.get("/v1/learners/L1/audits/NOPE-1").status_code == 404


def test_a_registrar_proposes_approves_and_revokes_credit_and_the_audit_shows_it(server):
    with server.client(server.keys["school"]) as http:
        for competency in ("C1", "C2"):
            for days in (-1.0, -0.5):  # the newest evidence, whatever other tests posted for L2
                assert http.post("/v1/events", json=f.assessment("L2", competency, 4.0, days=days)).status_code == 201
    with server.client(server.keys["registrar"]) as http:
        proposed = http.post("/v1/credits/propose").json()["proposed"]
        assert {(p["learner_id"], p["course_id"]) for p in proposed} >= {("L2", "CRS-1")}
        approved = http.post("/v1/learners/L2/credits/CRS-1/approve")
        assert approved.status_code == 201 and approved.json()["approved_by"] == "reg-1"
        assert http.post("/v1/learners/L2/credits/CRS-1/approve").json()["status"] == "duplicate"
        assert http.post("/v1/learners/L2/credits/CRS-1/revoke", json={}).status_code == 422
        revoked = http.post("/v1/learners/L2/credits/CRS-1/revoke", json={"reason": "awarded in error"})
        assert revoked.status_code == 201, revoked.text
        audit = http.get("/v1/learners/L2/audits/CRS-1").json()
        html = http.get("/v1/learners/L2/audits/CRS-1", params={"format": "html"})
    assert audit["verification"]["ok"]
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "awarded in error" in html.text


HOSTILE = [
    ("not json", {"content": b'{"event_id": ', "headers": {"content-type": "application/json"}}, 400),
    ("wrong content type", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
    ("form data", {"data": {"a": "b"}}, 415),
    ("huge body", {"content": b"[" + b'{"a": "' + b"x" * 2_000_000 + b'"}]',
                   "headers": {"content-type": "application/json"}}, 413),
    ("deep nesting", {"content": b"[" * 5000 + b"]" * 5000, "headers": {"content-type": "application/json"}}, 400),
    ("nesting under the recursion limit", {"content": b'{"a":' * 200 + b"1" + b"}" * 200,
                                           "headers": {"content-type": "application/json"}}, 400),
    ("empty batch", {"json": []}, 400),
    ("a string", {"json": "hello"}, 422),
    ("zero-width space in an id", {"json": {**f.assessment("L1"), "learner_id": "L1\u200b"}}, 422),
    ("fullwidth letters in an id", {"json": {**f.assessment("L1"), "learner_id": "Ｌ1"}}, 422),
    ("right-to-left override in an id", {"json": {**f.assessment("L1"), "learner_id": "L\u202e1"}}, 422),
    ("sql in an id", {"json": {**f.assessment("L1"), "learner_id": "L1'; DROP TABLE evidence;--"}}, 422),
    ("sql in a free-text field", {"json": {**f.assessment("L1"), "payload": {
        "competency_id": "C1' OR '1'='1", "score": 3.0, "source": {"assessment_id": "q", "kind": "quiz"}}}}, 422),
    ("recorded_at set by the client", {"json": {**f.assessment("L1"), "recorded_at": f.at(-1)}}, 422),
]


@pytest.mark.parametrize("name, request_args, status", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_gets_a_clear_4xx_stores_nothing_and_leaves_the_server_healthy(server, name, request_args,
                                                                                      status):
    before = {learner: len(events_of(server, learner)) for learner in ("L1", "L2")}
    with server.client(server.keys["school"]) as http:
        response = http.post("/v1/events", **request_args)
        assert response.status_code == status, response.text
        assert response.json()["error" if status != 422 or "error" in response.json() else "reason"]
        assert http.get("/health").status_code == 200
    assert {learner: len(events_of(server, learner)) for learner in ("L1", "L2")} == before


@pytest.mark.parametrize("learner", ["L1\u200b", "Ｌ1", "L1' OR '1'='1", "..%2F..%2Fetc%2Fpasswd", "L" * 300])
def test_odd_learner_ids_in_paths_are_not_found(server, learner):
    with server.client(server.keys["registrar"]) as http:
        assert http.get(f"/v1/learners/{learner}/state").status_code == 404


def test_verify_over_http_finds_every_chain_intact(server):
    with server.client(server.keys["registrar"]) as http:
        report = http.get("/v1/verify")
    assert report.status_code == 200 and report.json()["ok"] and report.json()["events"] >= len(seed())
    with server.client(server.keys["school"]) as http:
        assert http.get("/v1/verify").status_code == 403
