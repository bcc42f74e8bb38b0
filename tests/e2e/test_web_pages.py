"""The web pages in real headless Chromium (Debian's `chromium`, driven by Playwright) against a
real `ledger serve` on a seeded district: people sign in with one-time codes from `ledger people
invite`, see only what the access rules let them, act from the page and the ledger moves.
Every page is screenshotted at desktop and phone width and checked by axe-core (npm) in English
and Spanish: 0 serious or critical violations."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

import duckdb
import pytest

from tests.conftest import STORE_UNDER_TEST, drop_schema
from tests.http_support import Server, cli, server_env

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / ".ci-logs" / "screenshots" / STORE_UNDER_TEST
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}

from playwright import sync_api  # noqa: E402


@pytest.fixture(scope="module")
def district(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("web") / "home"
    store = None
    if STORE_UNDER_TEST == "postgres":
        postgres_url = request.getfixturevalue("postgres_url")
        schema = f"t_{uuid.uuid4().hex[:16]}"
        store = f"{postgres_url}?schema={schema}"
        request.addfinalizer(lambda: drop_schema(postgres_url, schema))
    env = server_env(home, store)
    made = cli(env, "demo", "--learners", "24", "--schools", "2", "--json")
    assert made.returncode == 0, made.stderr[-2000:]
    projected = cli(env, "project", "--json")
    assert projected.returncode == 0, projected.stderr
    # What the pages should show, read from the demo's read models before the server holds them.
    con = duckdb.connect(str(home / "projections.duckdb"), read_only=True)
    learners = con.execute("SELECT learner_id, school_id, advisors[1] FROM learner ORDER BY learner_id").fetchall()
    proposed = con.execute("SELECT c.learner_id, c.course_id FROM credit_audit c WHERE c.status = 'proposed' "
                           "ORDER BY 1, 2 LIMIT 1").fetchone()
    awaiting = con.execute("""
        SELECT l.advisors[1], count(*) FROM evidence e JOIN learner l USING (learner_id)
        WHERE e.type IN ('artifact.submitted', 'artifact.scored') AND NOT coalesce(e.voided, false)
          AND NOT EXISTS (SELECT 1 FROM evidence s WHERE s.type = 'advisor.signed_off' AND s.subject_event_id = e.event_id)
        GROUP BY 1 ORDER BY 2 DESC LIMIT 1""").fetchone()
    con.close()
    assert proposed and awaiting, "the demo district should hold a proposal and evidence awaiting sign-off"
    server = Server(env).start()
    request.addfinalizer(server.stop)
    child, school, _ = learners[0]
    other = next(l for l, s, _ in learners if l != child)
    advisor = awaiting[0]
    advisor_school = next(s for _, s, a in learners if a == advisor)
    return {"server": server, "env": env, "child": child, "school": school, "other": other, "advisor": advisor,
            "advisor_school": advisor_school, "proposed": proposed}


def invite(district, *args: str) -> dict:
    made = cli(district["env"], "people", "invite", *args, "--base-url", district["server"].url, "--json")
    assert made.returncode == 0, made.stdout + made.stderr
    return json.loads(made.stdout)


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed (scripts/test installs it)"
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield launched
        launched.close()


def signed_in(browser, district, *invite_args: str):
    """A fresh browser context signed in through the one-time link, as a person would."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(invite(district, *invite_args)["link"])
    page.get_by_role("button", name=re.compile("Sign in|Iniciar sesión")).click()
    page.wait_for_load_state()
    return context, page


def test_guardian_sees_their_child_and_not_another(browser, district):
    context, page = signed_in(browser, district, "--role", "guardian", "--school", district["school"],
                              "--learner", district["child"])
    cookie = next(c for c in context.cookies() if c["name"] == "ledger_session")
    assert cookie["httpOnly"] and cookie["sameSite"] in ("Lax", "Strict")
    page.goto(f"{district['server'].url}/web/learners/{district['child']}")
    assert page.get_by_role("heading", level=1).inner_text() == f"Profile of {district['child']}"
    assert page.locator("svg.chart circle").count() >= 2  # the mastery-over-time chart, drawn on the server
    assert page.locator("table").count() >= 2
    response = page.goto(f"{district['server'].url}/web/learners/{district['other']}")
    assert response.status == 403
    assert district["other"] not in page.locator("main").inner_text().replace(
        "a guardian sees only the learners they are linked to", "")
    # The one-time code works once.
    context.close()


def test_the_code_works_once(browser, district):
    link = invite(district, "--role", "guardian", "--school", district["school"], "--learner", district["child"])["link"]
    for attempt in range(2):
        context = browser.new_context()
        page = context.new_page()
        page.goto(link)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        if attempt == 0:
            assert page.url.endswith("/web/")
        else:
            assert "already been used" in page.locator(".problem").inner_text()
        context.close()


def test_advisor_signs_off_on_the_page_and_the_state_moves(browser, district):
    context, page = signed_in(browser, district, "--role", "advisor", "--school", district["advisor_school"],
                              "--actor", district["advisor"])
    page.goto(f"{district['server'].url}/web/caseload?awaiting=1&sort=awaiting")
    forms = page.locator("form.signoff")
    before = forms.count()
    assert before >= 1
    first = forms.first
    form_id = first.get_attribute("id")
    first.get_by_label("Statement").fill("Checked the portfolio against the rubric.")
    first.get_by_role("button", name="Sign off").click()
    page.wait_for_load_state()
    assert "Sign-off recorded." in page.locator("[role=status]").inner_text()
    page.goto(f"{district['server'].url}/web/caseload?awaiting=1&sort=awaiting")
    assert page.locator(f"#{form_id}").count() == 0
    assert page.locator("form.signoff").count() == before - 1
    # A form without the session's CSRF token is refused and records nothing.
    refused = context.request.post(f"{district['server'].url}/web/learners/x/sign-off",
                                   form={"event_id": form_id, "decision": "approved", "statement": "x"})
    assert refused.status == 403
    context.close()


def test_registrar_approves_on_the_page_and_the_audit_shows_it(browser, district):
    learner, course = district["proposed"]
    context, page = signed_in(browser, district, "--role", "registrar", "--school", district["school"],
                              "--actor", "reg-web-1")
    assert page.url.endswith("/web/registrar")
    page.get_by_role("link", name=re.compile(f"Read the audit and decide.*{learner}, {course}")).click()
    assert page.locator("#credit-status").inner_text() == "proposed"
    page.get_by_role("button", name="Approve").click()  # without the confirmation: the browser holds it back
    assert page.locator("#credit-status").inner_text() == "proposed"
    page.get_by_label("I have read the audit above and approve this credit").check()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert "Credit approved." in page.locator("[role=status]").inner_text()
    assert page.locator("#credit-status").inner_text() == "awarded"
    assert "approved by reg-web-1" in page.locator(".decision").inner_text()
    page.get_by_role("link", name="Printable audit").click()
    assert "reg-web-1" in page.content()
    context.close()


def pages_of(district) -> list[tuple[str, tuple[str, ...], list[str]]]:
    child, (learner, course) = district["child"], district["proposed"]
    return [
        ("guardian", ("--role", "guardian", "--school", district["school"], "--learner", child),
         ["/web/", f"/web/learners/{child}", f"/web/learners/{child}?as_of=2026-01-31", f"/web/learners/{child}/plan"]),
        ("advisor", ("--role", "advisor", "--school", district["advisor_school"], "--actor", district["advisor"]),
         ["/web/caseload", "/web/caseload?behind=1&sort=behind", f"/web/schools/{district['advisor_school']}"]),
        ("registrar", ("--role", "registrar", "--school", district["school"], "--actor", "reg-web-2"),
         ["/web/registrar", f"/web/learners/{learner}/credits/{course}", "/web/transfers"]),
    ]


def shot_name(who: str, path: str, language: str, size: str) -> str:
    return f"{who}-{re.sub(r'[^A-Za-z0-9]+', '_', path.strip('/'))}-{language}-{size}.png"


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_page_passes_axe_and_is_screenshotted(browser, district, language):
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {SHOTS}")
    report: dict[str, list] = {}
    blocking = []
    sign_in = browser.new_context().new_page()
    sign_in.goto(f"{district['server'].url}/web/sign-in")
    pages = [("anyone", None, ["/web/sign-in"])] + pages_of(district)
    for who, args, paths in pages:
        context = browser.new_context() if args is None else signed_in(browser, district, *args, "--language", language)[0]
        page = context.new_page()
        for path in paths:
            for size, (width, height) in SIZES.items():
                page.set_viewport_size({"width": width, "height": height})
                response = page.goto(district["server"].url + path)
                assert response.status == 200, (path, response.status)
                assert page.locator("html").get_attribute("lang") == (language if args else "en")
                name = shot_name(who, path, language, size)
                page.screenshot(path=str(SHOTS / name), full_page=True)
                if size == "phone":  # usable at phone width: nothing wider than the screen but tables' own scroll
                    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, path
                page.add_script_tag(path=str(AXE))
                result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})")
                found = [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in result["violations"]]
                report[f"{path} ({size})"] = found
                blocking += [(path, size, v) for v in found if v["impact"] in ("serious", "critical")]
        context.close()
    (SHOTS / f"axe-{language}.json").write_text(json.dumps(report, indent=2))
    print(f"axe report: {SHOTS / f'axe-{language}.json'}")
    assert len(report) >= 2 * 10
    assert not blocking, blocking
    if language == "en" and STORE_UNDER_TEST == "sqlite":
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copy(SHOTS / shot_name("guardian", f"/web/learners/{district['child']}", "en", "desktop"),
                    docs / "learner-profile.png")


def test_spanish_pages_say_it_in_spanish(browser, district):
    context, page = signed_in(browser, district, "--role", "guardian", "--school", district["school"],
                              "--learner", district["child"], "--language", "es")
    page.goto(f"{district['server'].url}/web/learners/{district['child']}/plan")
    assert page.get_by_role("heading", level=1).inner_text() == f"Plan de {district['child']}"
    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == f"Plan of {district['child']}"
    context.close()


def test_a_revoked_person_is_signed_out_at_once_and_a_signed_out_cookie_is_dead(browser, district):
    url, child = district["server"].url, district["child"]
    made = invite(district, "--role", "guardian", "--school", district["school"], "--learner", child)
    context = browser.new_context()
    page = context.new_page()
    page.goto(made["link"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.goto(f"{url}/web/learners/{child}").status == 200
    revoked = cli(district["env"], "people", "revoke", made["person_id"], "--json")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert json.loads(revoked.stdout)["redeemed_invitations"] == 1
    page.goto(f"{url}/web/learners/{child}")  # the same, still validly signed cookie
    assert page.url.endswith("/web/sign-in")
    context.close()
    # Signing out ends the session itself, not only the browser's copy of the cookie.
    context, page = signed_in(browser, district, "--role", "guardian", "--school", district["school"], "--learner", child)
    [cookie] = [c for c in context.cookies() if c["name"] == "ledger_session"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    replay = browser.new_context()
    replay.add_cookies([cookie])
    again = replay.new_page()
    again.goto(f"{url}/web/learners/{child}")
    assert again.url.endswith("/web/sign-in")
    replay.close()
    context.close()


def test_page_views_go_on_the_record_of_disclosures(browser, district):
    url, child = district["server"].url, district["child"]

    def guardian_views(learner: str) -> list[dict]:
        listed = cli(district["env"], "disclosures", learner, "--json")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        return [e for e in json.loads(listed.stdout)["disclosures"] if e["role"] == "guardian"]

    before, others_before = guardian_views(child), guardian_views(district["other"])
    context, page = signed_in(browser, district, "--role", "guardian", "--school", district["school"], "--learner", child)
    assert page.goto(f"{url}/web/learners/{child}/plan").status == 200
    assert page.goto(f"{url}/web/learners/{district['other']}").status == 403  # a refusal disclosed nothing
    [view] = guardian_views(child)[len(before):]
    assert view["what"] == "page:plan" and view["key_id"].startswith("person:")
    assert view["purpose"] == "parent or guardian of the learner"
    assert guardian_views(district["other"]) == others_before
    context.close()


def test_the_profile_links_a_signed_badge_and_a_revoked_credit_yields_none(browser, district):
    url, (learner, course) = district["server"].url, district["proposed"]
    context, registrar = signed_in(browser, district, "--role", "registrar", "--school", district["school"],
                                   "--actor", "reg-web-3")
    registrar.goto(f"{url}/web/learners/{learner}/credits/{course}")
    if registrar.locator("#credit-status").inner_text() == "proposed":  # when run alone
        registrar.get_by_label("I have read the audit above and approve this credit").check()
        registrar.get_by_role("button", name="Approve").click()
        registrar.wait_for_load_state()
    assert registrar.locator("#credit-status").inner_text() == "awarded"
    own, page = signed_in(browser, district, "--role", "learner", "--school", district["school"], "--learner", learner)
    page.goto(f"{url}/web/learners/{learner}")
    link = page.get_by_role("link", name="Badge (signed)")
    assert link.count() == 1
    downloaded = own.request.get(url + link.get_attribute("href"))
    assert downloaded.status == 200
    credential = downloaded.json()
    assert "OpenBadgeCredential" in credential["type"] and credential["proof"]
    registrar.get_by_label("Reason for revoking").fill("Evidence found to be another learner's work.")
    registrar.get_by_label("I have read the audit above and revoke this credit").check()
    registrar.get_by_role("button", name="Revoke").click()
    registrar.wait_for_load_state()
    assert registrar.locator("#credit-status").inner_text() == "revoked"
    page.goto(f"{url}/web/learners/{learner}")
    assert page.get_by_role("link", name="Badge (signed)").count() == 0
    refused = page.goto(f"{url}/web/learners/{learner}/credits/{course}/badge")
    assert refused.status == 409
    assert "not issued: the credit was revoked" in page.locator(".problem").inner_text()
    own.close()
    context.close()


def test_denials_and_rejections_are_shown_in_the_pages_language(browser, district):
    url = district["server"].url
    context, page = signed_in(browser, district, "--role", "guardian", "--school", district["school"],
                              "--learner", district["child"], "--language", "es")
    assert page.goto(f"{url}/web/learners/{district['other']}").status == 403
    assert page.locator(".problem").inner_text() == "un tutor solo ve a los estudiantes con los que está vinculado"
    assert page.goto(f"{url}/web/learners/{district['child']}?as_of=mañana").status == 422
    assert page.locator(".problem").inner_text() == "as_of: 'mañana' no es una fecha (AAAA-MM-DD)"  # the field kept
    context.close()
