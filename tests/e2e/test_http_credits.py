"""Finding what to approve and fetching what was awarded over HTTP: `GET /v1/credits?status=` and
an award's badge, through a real `ledger serve`, on SQLite and on the project's PostgreSQL."""

import json
import uuid

import pytest

from tests import factories as f
from tests.conftest import drop_schema
from tests.http_support import Server, cli, server_env

OTHER_SCHOOL = "school-b"
METHOD = {"name": "most_recent", "params": {}}


def seed() -> list[dict]:
    docs = [f.framework(), f.course(competencies=["C1", "C2"], method=METHOD), f.enrolled("L1"), f.enrolled("L2"),
            f.enrolled("L9", school=OTHER_SCHOOL), f.advisor_assigned("L1", "adv-1")]
    for learner, school in (("L1", f.SCHOOL), ("L2", f.SCHOOL), ("L9", OTHER_SCHOOL)):
        docs += [f.assessment(learner, c, 3.5, days=-3, school=school) for c in ("C1", "C2")]
    return docs


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
        "district_admin": running.key("district_admin"),
        "researcher": running.key("researcher"),
    }
    with running.client(running.keys["registrar"]) as http:
        proposed = http.post("/v1/credits/propose").json()["proposed"]
        assert {p["learner_id"] for p in proposed} == {"L1", "L2", "L9"}
        for learner in ("L1", "L2", "L9"):
            assert http.post(f"/v1/learners/{learner}/credits/CRS-1/approve").status_code == 201
    running.wait_projected(running.keys["registrar"])
    return running


def listed(server, role: str, **params) -> set[tuple[str, str]]:
    with server.client(server.keys[role]) as http:
        response = http.get("/v1/credits", params=params)
    assert response.status_code == 200, response.text
    return {(c["learner_id"], c["status"]) for c in response.json()["credits"]}


def test_registrars_and_district_admins_list_every_decision_and_a_school_only_its_own(server):
    everyone = {("L1", "approved"), ("L1", "awarded"), ("L2", "approved"), ("L2", "awarded"),
                ("L9", "approved"), ("L9", "awarded")}
    assert listed(server, "registrar") >= everyone
    assert listed(server, "district_admin") >= everyone
    assert {learner for learner, _ in listed(server, "school")} == {"L1", "L2"}
    assert {learner for learner, _ in listed(server, "other_school")} == {"L9"}
    assert listed(server, "registrar", status="awarded") >= {("L1", "awarded"), ("L9", "awarded")}
    assert {status for _, status in listed(server, "registrar", status="approved")} == {"approved"}


def test_other_keys_cannot_list_and_an_unknown_status_names_the_known_ones(server):
    for role in ("advisor", "researcher"):
        with server.client(server.keys[role]) as http:
            assert http.get("/v1/credits").status_code == 403
    with server.client() as http:
        assert http.get("/v1/credits").status_code == 401
    with server.client(server.keys["registrar"]) as http:
        bogus = http.get("/v1/credits", params={"status": "bogus"})
    assert bogus.status_code == 422 and bogus.json()["field"] == "status"
    assert "bogus" in bogus.json()["error"] and "flagged" in bogus.json()["error"]


def test_a_badge_is_served_to_those_who_may_read_the_learner(server):
    for role in ("registrar", "school", "advisor"):
        with server.client(server.keys[role]) as http:
            badge = http.get("/v1/learners/L1/credits/CRS-1/badge")
        assert badge.status_code == 200, badge.text
        assert badge.json()["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    with server.client(server.keys["registrar"]) as http:
        over_http = http.get("/v1/learners/L1/credits/CRS-1/badge").json()
    from_cli = cli(server.env, "credit", "badge", "L1", "CRS-1")
    assert from_cli.returncode == 0, from_cli.stderr
    assert over_http == json.loads(from_cli.stdout)  # one credential, whichever door it is fetched by
    with server.client(server.keys["other_school"]) as http:
        assert http.get("/v1/learners/L1/credits/CRS-1/badge").status_code == 403
    with server.client(server.keys["registrar"]) as http:
        missing = http.get("/v1/learners/L1/credits/NOPE-1/badge")
        assert missing.status_code == 404 and "holds no awarded credit" in missing.json()["error"]


def test_a_revoked_or_flagged_award_gets_no_badge_over_http_either(server):
    l9_c1 = next(e["event"] for e in _events(server, "L9")
                 if e["event"]["type"] == "assessment.recorded" and e["event"]["payload"]["competency_id"] == "C1")
    with server.client(server.keys["registrar"]) as http:
        assert http.post("/v1/learners/L2/credits/CRS-1/revoke", json={"reason": "awarded in error"}).status_code == 201
        revoked = http.get("/v1/learners/L2/credits/CRS-1/badge")
    assert revoked.status_code == 409 and "revoked" in revoked.json()["error"]
    assert "awarded in error" in revoked.json()["error"]
    with server.client(server.keys["other_school"]) as http:
        void = f.voided("L9", l9_c1, days=-1, reason="scored for the wrong class")
        assert http.post("/v1/events", json={**void, "school_id": OTHER_SCHOOL}).status_code == 201
        flagged = http.get("/v1/learners/L9/credits/CRS-1/badge")
    assert flagged.status_code == 409 and "flagged for review" in flagged.json()["error"]
    server.wait_projected(server.keys["registrar"])
    assert ("L9", "flagged") in listed(server, "registrar", status="flagged")
    assert ("L2", "revoked") in listed(server, "registrar", status="revoked")


def _events(server, learner: str) -> list[dict]:
    with server.client(server.keys["registrar"]) as http:
        return http.get(f"/v1/learners/{learner}/events").json()["events"]
