"""A learner changes schools (`learner.transferred`) through a real `ledger serve`: the learner
keeps one chain, writing moves to the new school, the old school keeps reading, and each event
still says which school recorded it. Runs on SQLite, and on PostgreSQL in the second pass."""

from __future__ import annotations


import re

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

    events = [e["event"] for e in new.get("/v1/learners/L1/events").json()["events"]]  # the new school reads it all
    assert [e["type"] for e in events] == ["learner.enrolled", "advisor.assigned", "assessment.recorded",
                                           "learner.transferred", "assessment.recorded"]
    assert [e["school_id"] for e in events] == [OLD, OLD, OLD, NEW, NEW]  # who recorded each piece
    # The old school still reads what it recorded, and only that: nothing the new school wrote,
    # nor any view computed from the whole record.
    own = [e["event"] for e in old.get("/v1/learners/L1/events").json()["events"]]
    assert [(e["type"], e["school_id"]) for e in own] == [
        ("learner.enrolled", OLD), ("advisor.assigned", OLD), ("assessment.recorded", OLD)]
    for view in ("state", "plans"):
        refused = old.get(f"/v1/learners/L1/{view}")
        assert refused.status_code == 403 and "reads only the events it recorded" in refused.json()["error"], refused.text
    assert new.get("/v1/learners/L1/state").status_code == 200
    assert other.get("/v1/learners/L1/events").status_code == 403
    assert cli(server.env, "verify").returncode == 0  # one chain, unbroken across the move


def _signed_in(server, browser, *invite_args: str):  # noqa: F811  (browser: the imported fixture)
    import json

    made = cli(server.env, "people", "invite", *invite_args, "--base-url", server.url, "--json")
    assert made.returncode == 0, made.stderr
    context = browser.new_context()
    page = context.new_page()
    page.goto(json.loads(made.stdout)["link"])
    page.get_by_role("button", name=re.compile("Sign in|Iniciar sesión")).click()
    page.wait_for_load_state()
    return context, page


def _fill_transfer(page, url: str, *, learner: str, from_school: str, day: str = "2026-01-07") -> None:
    page.goto(f"{url}/web/transfers")
    for label, value in (("Learner|Estudiante", learner), ("From school|Escuela de origen", from_school),
                         ("Date of the transfer|Fecha del traslado", day)):
        page.get_by_label(re.compile(label)).fill(value)
    page.get_by_label(re.compile("I confirm|Confirmo")).check()
    page.get_by_role("button", name=re.compile("Record the transfer|Registrar el traslado")).click()
    page.wait_for_load_state()


def test_a_transfer_posted_on_the_page_moves_write_access(server, browser):  # noqa: F811
    advisor, caseload = _signed_in(server, browser, "--role", "advisor", "--school", OLD, "--actor", "adv-1")
    assert caseload.get_by_role("link", name="L1").count() == 1  # on the caseload before the move
    assert caseload.goto(f"{server.url}/web/learners/L1").status == 200
    old = server.client(server.key("school", "--school", OLD))
    new = server.client(server.key("school", "--school", NEW))
    assert new.post("/v1/events", json=f.assessment("L1", "C2", 3.0, school=NEW, days=1)).status_code == 403

    # A Spanish registrar naming the wrong school: the ledger's refusal, in Spanish, field kept.
    context, page = _signed_in(server, browser, "--role", "registrar", "--school", NEW, "--actor", "reg-new",
                               "--language", "es")
    _fill_transfer(page, server.url, learner="L1", from_school=OTHER)
    assert page.locator(".problem").inner_text() == \
        f"payload.from_school_id: el estudiante está matriculado en {OLD}, no en {OTHER}"
    context.close()

    context, page = _signed_in(server, browser, "--role", "registrar", "--school", NEW, "--actor", "reg-new")
    _fill_transfer(page, server.url, learner="L1", from_school=OLD)
    assert f"Transfer of L1 to {NEW} recorded." in page.locator("[role=status]").inner_text()
    events = [e["event"] for e in new.get("/v1/learners/L1/events").json()["events"]]
    assert events[-1]["type"] == "learner.transferred" and events[-1]["actor"] == {"id": "reg-new", "role": "registrar"}
    assert events[-1]["payload"] == {"from_school_id": OLD, "to_school_id": NEW, "effective": "2026-01-07"}
    # Without the session's CSRF token the form records nothing.
    assert context.request.post(f"{server.url}/web/transfers", form={
        "learner_id": "L1", "from_school_id": NEW, "effective": "2026-01-08", "confirm": "yes"}).status == 403
    context.close()

    assert old.post("/v1/events", json=f.assessment("L1", "C2", 3.0, days=3)).status_code == 403
    assert new.post("/v1/events", json=f.assessment("L1", "C2", 3.0, school=NEW, days=3)).status_code == 201
    assert old.get("/v1/learners/L1/events").status_code == 200  # the old school still reads
    server.wait_projected(server.key("registrar", "--actor", "reg-1"))
    caseload.goto(f"{server.url}/web/caseload")
    assert caseload.get_by_role("link", name="L1").count() == 0
    assert caseload.goto(f"{server.url}/web/learners/L1").status == 403
    advisor.close()
    old.close()
    new.close()
