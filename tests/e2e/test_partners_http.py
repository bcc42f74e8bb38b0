"""A community partner through a real `ledger serve` (SQLite; PostgreSQL in the second pass): a
`partner` key posts an observation about a linked learner, is refused for another learner and
after unlinking, and the observation moves the learner's state only once the advisor signs it
off; an as-of date before the sign-off still leaves it out."""

from __future__ import annotations

import pytest

from tests import factories as f
from tests.http_support import Server, cli, server_env
from tests.integration.test_partners import linked, observation, sign_off


@pytest.fixture
def server(tmp_path):
    env = server_env(tmp_path / "home")
    seed = [f.framework(), f.course(competencies=["C1"], method={"name": "most_recent", "params": {}}),
            f.enrolled("L1"), f.enrolled("L2"), f.advisor_assigned("L1"), f.assessment("L1", "C1", 2.0, days=-5)]
    posted = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in seed) + "\n")
    assert posted.returncode == 0, posted.stdout + posted.stderr
    made = cli(env, "partners", "link", "--learner", "L1", "--school", f.SCHOOL, "--partner", "museum-1")
    assert made.returncode == 0, made.stderr
    running = Server(env).start()
    yield running
    running.stop()


def test_a_partner_key_posts_for_linked_learners_and_counts_after_sign_off(server):
    partner = server.client(server.key("partner", "--actor", "museum-1"))
    advisor = server.client(server.key("advisor", "--actor", "adv-1"))
    registrar_key = server.key("registrar", "--actor", "reg-1")
    registrar = server.client(registrar_key)

    obs = observation("L1", 4.0, days=0)
    assert partner.post("/v1/events", json=obs).status_code == 201
    other = partner.post("/v1/events", json=observation("L2"))
    assert other.status_code == 422 and other.json()["field"] == "actor.id", other.text
    assert "not linked to learner L2" in other.json()["reason"]
    posing = partner.post("/v1/events", json=observation("L1", partner={"id": "museum-2", "role": "partner"}))
    assert posing.status_code == 403 and "acts as museum-1" in posing.json()["error"]
    assert partner.post("/v1/events", json=f.assessment("L1", "C1", 4.0)).status_code == 403  # not a teacher

    server.wait_projected(registrar_key)
    [before] = registrar.get("/v1/learners/L1/state").json()["competencies"]
    assert (before["level"], before["evidence_count"]) == (2.0, 1)

    assert advisor.post("/v1/events", json=sign_off("L1", obs, days=3)).status_code == 201
    server.wait_projected(registrar_key)
    [after] = registrar.get("/v1/learners/L1/state").json()["competencies"]
    assert (after["level"], after["mastered"], after["evidence_count"]) == (4.0, True, 2)
    [then] = registrar.get("/v1/learners/L1/state", params={"as_of": f.at(1)[:10]}).json()["competencies"]
    assert (then["level"], then["evidence_count"]) == (2.0, 1)

    assert cli(server.env, "partners", "unlink", "--learner", "L1", "--school", f.SCHOOL,
               "--partner", "museum-1").returncode == 0
    late = partner.post("/v1/events", json=observation("L1", days=4))
    assert late.status_code == 422 and "was unlinked from learner L1" in late.json()["reason"], late.text
