"""A learner changes schools (`learner.transferred`) through a real `ledger serve`: the learner
keeps one chain, writing moves to the new school, the old school keeps reading, and each event
still says which school recorded it. Runs on SQLite, and on PostgreSQL in the second pass."""

from __future__ import annotations


import pytest

from tests import factories as f
from tests.e2e.test_web_pages import browser  # noqa: F401  (the module's headless chromium)
from tests.http_support import Server, cli, server_env

OLD, NEW, OTHER = f.SCHOOL, "school-b", "school-c"
SIS = {"id": "sis", "role": "school_system"}


def transfer(learner: str, *, school: str = NEW, from_school: str = OLD, to_school: str = NEW) -> dict:
    return f.event("learner.transferred", {"from_school_id": from_school, "to_school_id": to_school,
                                           "effective": "2026-01-07"}, learner=learner, school=school, actor=SIS, days=2)


@pytest.fixture
def server(tmp_path):
    env = server_env(tmp_path / "home")
    seed = [f.framework(), f.course(competencies=["C1", "C2"]), f.enrolled("L1"), f.advisor_assigned("L1", "adv-1"),
            f.assessment("L1", "C1", 3.5)]
    posted = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in seed) + "\n")
    assert posted.returncode == 0, posted.stdout + posted.stderr
    running = Server(env).start()
    yield running
    running.stop()


def test_a_transfer_moves_write_access_and_keeps_the_chain(server):
    keys = {school: server.key("school", "--school", school) for school in (OLD, NEW, OTHER)}
    old, new, other = (server.client(keys[s]) for s in (OLD, NEW, OTHER))
    before = new.post("/v1/events", json=f.assessment("L1", "C2", 3.0, school=NEW, days=1))
    assert before.status_code == 403  # not the new school's learner yet

    wrong = new.post("/v1/events", json=transfer("L1", school=OTHER, from_school=OTHER))
    assert wrong.status_code in (403, 422)
    refused = new.post("/v1/events", json=transfer("L1", from_school=OTHER))
    assert refused.status_code == 422 and refused.json()["field"] == "payload.from_school_id", refused.text
    assert "enrolled at school-a, not school-c" in refused.json()["reason"]
    moved = new.post("/v1/events", json=transfer("L1"))
    assert moved.status_code == 201, moved.text

    assert old.post("/v1/events", json=f.assessment("L1", "C2", 3.0, days=3)).status_code == 403
    assert new.post("/v1/events", json=f.assessment("L1", "C2", 3.0, school=NEW, days=3)).status_code == 201

    events = [e["event"] for e in old.get("/v1/learners/L1/events").json()["events"]]  # the old school still reads
    assert [e["type"] for e in events] == ["learner.enrolled", "advisor.assigned", "assessment.recorded",
                                           "learner.transferred", "assessment.recorded"]
    assert [e["school_id"] for e in events] == [OLD, OLD, OLD, NEW, NEW]  # who recorded each piece
    assert new.get("/v1/learners/L1/events").status_code == 200
    assert other.get("/v1/learners/L1/events").status_code == 403
    assert cli(server.env, "verify").returncode == 0  # one chain, unbroken across the move


def test_in_the_browser_the_old_schools_advisor_loses_the_learner(server, browser):  # noqa: F811
    import json

    made = cli(server.env, "people", "invite", "--role", "advisor", "--school", OLD, "--actor", "adv-1",
               "--base-url", server.url, "--json")
    assert made.returncode == 0, made.stderr
    context = browser.new_context()
    page = context.new_page()
    page.goto(json.loads(made.stdout)["link"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.get_by_role("link", name="L1").count() == 1  # on the caseload before the move
    assert page.goto(f"{server.url}/web/learners/L1").status == 200
    key = server.key("school", "--school", NEW)
    with server.client(key) as new:
        assert new.post("/v1/events", json=transfer("L1")).status_code == 201
    server.wait_projected(server.key("registrar", "--actor", "reg-1"))
    page.goto(f"{server.url}/web/caseload")
    assert page.get_by_role("link", name="L1").count() == 0
    assert page.goto(f"{server.url}/web/learners/L1").status == 403
    context.close()
