"""A community partner's observation on the advisor's page: marked external with the partner's
name among the evidence awaiting sign-off, signed off from the page, and only then counted."""

from __future__ import annotations

import json

import pytest

from tests import factories as f
from tests.e2e.test_web_pages import browser  # noqa: F401  (the module's headless chromium)
from tests.http_support import Server, cli, server_env
from tests.integration.test_partners import observation


@pytest.fixture
def server(tmp_path):
    env = server_env(tmp_path / "home")
    seed = [f.framework(), f.course(competencies=["C1"], method={"name": "most_recent", "params": {}}),
            f.enrolled("L1"), f.advisor_assigned("L1"), f.assessment("L1", "C1", 2.0, days=-5)]
    posted = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in seed) + "\n")
    assert posted.returncode == 0, posted.stdout + posted.stderr
    assert cli(env, "partners", "link", "--learner", "L1", "--school", f.SCHOOL, "--partner", "museum-1").returncode == 0
    running = Server(env).start()
    yield running
    running.stop()


def test_the_advisor_signs_off_a_partners_observation_on_the_page(server, browser):  # noqa: F811
    registrar_key = server.key("registrar", "--actor", "reg-1")
    with server.client(server.key("partner", "--actor", "museum-1")) as partner, server.client(registrar_key) as reader:
        assert partner.post("/v1/events", json=observation("L1", 4.0)).status_code == 201
        server.wait_projected(registrar_key)
        made = cli(server.env, "people", "invite", "--role", "advisor", "--school", f.SCHOOL, "--actor", f.ADVISOR["id"],
                   "--base-url", server.url, "--json")
        assert made.returncode == 0, made.stderr
        context = browser.new_context()
        page = context.new_page()
        page.goto(json.loads(made.stdout)["link"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        page.goto(f"{server.url}/web/caseload?awaiting=1")
        [form] = page.locator("form.signoff").all()
        assert "external evidence from museum-1" in form.locator("legend").inner_text()
        [before] = reader.get("/v1/learners/L1/state").json()["competencies"]
        assert before["evidence_count"] == 1  # not counted before the sign-off
        form.get_by_label("Statement").fill("Checked with the museum's educator.")
        form.get_by_role("button", name="Sign off").click()
        page.wait_for_load_state()
        assert page.locator("form.signoff").count() == 0
        [after] = reader.get("/v1/learners/L1/state").json()["competencies"]
        assert (after["level"], after["evidence_count"]) == (4.0, 2)
        context.close()
