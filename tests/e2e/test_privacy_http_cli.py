"""Erasure and the record of disclosures through a real `ledger serve` and the `ledger` command."""

import json
from pathlib import Path

import pytest

from tests import factories as f
from tests.conftest import STORE_UNDER_TEST
from tests.http_support import Server, cli, server_env

SECRET = "Planted-Secret-Maria-Lopez-0042"


@pytest.fixture(scope="module")
def served(tmp_path_factory, request):
    import uuid

    from tests.conftest import drop_schema

    home = tmp_path_factory.mktemp("privacy") / "home"
    schema = f"t_{uuid.uuid4().hex[:16]}"
    postgres_url = request.getfixturevalue("postgres_url") if STORE_UNDER_TEST == "postgres" else None
    store = f"{postgres_url}?schema={schema}" if postgres_url else None
    env = server_env(home, store)
    score = f.assessment("L1")
    docs = [*f.setup(["L1", "L2"]), score, f.voided("L1", score, reason=f"belongs to {SECRET}")]
    posted = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in docs) + "\n")
    assert posted.returncode == 0, posted.stdout + posted.stderr
    running = Server(env).start()
    running.keys = {role: running.key(role, *extra) for role, extra in [
        ("school", ["--school", f.SCHOOL]), ("registrar", ["--actor", "reg-1"]), ("district_admin", []),
        ("advisor", ["--actor", "adv-1"]), ("researcher", [])]}
    yield running
    running.stop()
    if store:
        drop_schema(postgres_url, schema)


def test_reads_are_recorded_with_who_what_and_why_and_a_purpose_is_required_of_non_school_roles(served):
    with served.client(served.keys["registrar"], purpose=None) as http:
        refused = http.get("/v1/learners/L1/events")
        assert refused.status_code == 400 and refused.json()["field"] == "X-Purpose"
    with served.client(served.keys["registrar"], purpose="transcript review") as http:
        events = http.get("/v1/learners/L1/events").json()["events"]
        assert f"belongs to {SECRET}" in json.dumps(events)  # the registrar reads plaintext
        assert http.get("/v1/learners/L2/events").status_code == 200
    with served.client(served.keys["school"], purpose=None) as http:
        assert http.get("/v1/learners/L1/events").status_code == 200  # a school official need not say why
    with served.client(served.keys["registrar"]) as http:
        listed = http.get("/v1/learners/L1/disclosures").json()
    with served.client(served.keys["school"]) as http:
        assert http.get("/v1/learners/L1/disclosures").status_code == 403
    entries = listed["disclosures"]
    assert listed["intact"] and [(e["role"], e["what"], e["purpose"]) for e in entries] == [
        ("registrar", "events", "transcript review"), ("school", "events", "school official")]
    assert all(e["learner_id"] == "L1" for e in entries)
    assert SECRET not in json.dumps(entries) and "score" not in json.dumps(entries)  # no education data

    shown = cli(served.env, "--purpose", "records request", "events", "L1", "--json")
    assert shown.returncode == 0, shown.stderr
    listing = cli(served.env, "disclosures", "L1", "--json")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    last = json.loads(listing.stdout)["disclosures"][-1]
    assert (last["role"], last["what"], last["purpose"]) == ("operator", "events", "records request")


def test_the_cli_refuses_to_read_a_learners_record_without_a_stated_purpose(served):
    unstated = {k: v for k, v in served.env.items() if k != "LEDGER_PURPOSE"}
    before = len(json.loads(cli(served.env, "disclosures", "L1", "--json").stdout)["disclosures"])
    _refused_without_purpose(unstated, ["events", "L1"], ["audit", "L1", "CRS-1"])
    after = json.loads(cli(served.env, "disclosures", "L1", "--json").stdout)["disclosures"]
    assert len(after) == before  # nothing disclosed
    assert cli(unstated, "events", "--help").returncode == 0
    stated = cli({**unstated, "LEDGER_PURPOSE": "audit of grades"}, "events", "L1", "--json")
    assert stated.returncode == 0 and SECRET in stated.stdout
    listed = json.loads(cli(served.env, "disclosures", "L1", "--json").stdout)["disclosures"]
    assert listed[-1]["purpose"] == "audit of grades"


def _refused_without_purpose(env, *commands):
    for command in commands:
        refused = cli(env, *command)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("error: --purpose is required") and "LEDGER_PURPOSE" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and refused.stdout == "", command
        assert "Traceback" not in refused.stderr


def test_erasure_over_http_is_a_district_admins_and_every_reader_then_shows_erased(served):
    with served.client(served.keys["school"]) as http:
        assert http.post("/v1/events", json=f.assessment("L1")).status_code == 201
    served.wait_projected(served.keys["registrar"])
    with served.client(served.keys["researcher"]) as http:
        before = http.get("/v1/research/competency-states").json()["rows"]
    assert before and {r["learner"] for r in before} == {before[0]["learner"]}  # L1's rows only
    with served.client(served.keys["registrar"]) as http:
        assert http.post("/v1/learners/L1/erase", json={"reason": "data_subject_request"}).status_code == 403
    with served.client(served.keys["district_admin"]) as http:
        assert http.post("/v1/learners/L1/erase", json={"reason": "because"}).status_code == 422
        done = http.post("/v1/learners/L1/erase", json={"reason": "data_subject_request"})
        assert done.status_code == 200 and done.json()["status"] == "erased", done.text
        again = http.post("/v1/learners/L1/erase", json={"reason": "data_subject_request"})
        assert again.json()["status"] == "already erased"
    with served.client(served.keys["registrar"]) as http:
        events = http.get("/v1/learners/L1/events").json()["events"]
        assert SECRET not in json.dumps(events) and "[erased]" in json.dumps(events)
        assert http.get("/v1/verify").json()["ok"]
    served.wait_projected(served.keys["registrar"])
    with served.client(served.keys["researcher"]) as http:
        after = http.get("/v1/research/competency-states").json()["rows"]
        aggregates = http.get("/v1/research/competency-states", params={"aggregates_only": "true"}).json()
    assert after == []  # the erased learner's pseudonymous rows are left out
    # aggregates only: the erased learner still counts, and no row names a learner
    assert [(a["competency_id"], a["learners"]) for a in aggregates["aggregates"]] == \
        [(r["competency_id"], 1) for r in before]
    assert before[0]["learner"] not in json.dumps(aggregates) and "learner\"" not in json.dumps(aggregates)
    shown = cli(served.env, "events", "L1", "--json")
    assert SECRET not in shown.stdout and "[erased]" in shown.stdout
    verified = cli(served.env, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_wrong_master_key_is_a_one_line_cli_error(served, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("cd" * 32)
    run = cli({**served.env, "LEDGER_MASTER_KEY_FILE": str(wrong)}, "events", "L2")
    assert run.returncode == 2 and "not the master key" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_after_erasure_the_audit_html_shows_erased_and_the_saved_one_is_gone(tmp_path):
    import os
    from pathlib import Path

    env = server_env(tmp_path / "home", os.environ.get("LEDGER_STORE") if STORE_UNDER_TEST == "postgres" else None)
    env.pop("LEDGER_PURPOSE", None)  # `ledger demo` states its own
    summary = json.loads(cli(env, "demo", "--learners", "15", "--json").stdout)
    unstated = dict(env)
    env["LEDGER_PURPOSE"] = "erasure test"
    before = len(json.loads(cli(env, "disclosures", "lrn-00002", "--json").stdout)["disclosures"])
    _refused_without_purpose(unstated, ["state", "lrn-00002"], ["plan", "lrn-00002"],
                             ["export", "--parquet", str(tmp_path / "refused")])
    assert not (tmp_path / "refused").exists()
    assert len(json.loads(cli(env, "disclosures", "lrn-00002", "--json").stdout)["disclosures"]) == before
    aggregates = cli(unstated, "export", "--parquet", str(tmp_path / "agg0"), "--aggregates-only")
    assert aggregates.returncode == 0, aggregates.stderr  # names no learner: no purpose needed
    [flagged] = [a for a in summary["credits"]["audits"] if a["status"] == "flagged for review"]
    saved = Path(flagged["path"])
    assert "entered for the wrong student" in saved.read_text()
    copies = {name: tmp_path / "elsewhere" / name for name in ("copy.html", "stuck.html")}
    copies["copy.html"].parent.mkdir()
    for path in copies.values():  # audits written with --out outside $LEDGER_HOME/audits
        written = cli(env, "audit", flagged["learner_id"], flagged["course_id"], "--format", "html", "--out", str(path))
        assert written.returncode == 0 and "entered for the wrong student" in path.read_text(), written.stderr
    copies["stuck.html"].unlink()
    copies["stuck.html"].mkdir()  # a copy the erasure cannot delete (unlink fails, even as root)
    erased = cli(env, "erase", flagged["learner_id"], "--reason", "retention_ended", "--by", "office", "--json")
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert not saved.exists() and not copies["copy.html"].exists()
    assert json.loads(erased.stdout)["not_deleted"] == [str(copies["stuck.html"].resolve())]
    fresh = tmp_path / "audit.html"
    audit = cli(env, "audit", flagged["learner_id"], flagged["course_id"], "--format", "html", "--out", str(fresh))
    assert audit.returncode == 0, audit.stderr
    html = fresh.read_text()
    assert "entered for the wrong student" not in html and "[erased]" in html and "FLAGGED FOR REVIEW" in html
    assert cli(env, "verify").returncode == 0
    # Research replays leave the erased learner out (and fit their models without them).
    import duckdb

    out = tmp_path / "replay.parquet"
    replayed = cli(env, "replay", "--model", "official", "--out", str(out), "--json")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    learners = {l for (l,) in duckdb.connect().execute("SELECT DISTINCT learner_id FROM read_parquet(?)",
                                                       [str(out)]).fetchall()}
    assert flagged["learner_id"] not in learners and len(learners) >= 10
    # An aggregates-only export counts every learner, the erased too, and names none.
    exported = cli(env, "export", "--parquet", str(tmp_path / "agg"), "--aggregates-only", "--json")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert [p.name for p in (tmp_path / "agg").iterdir()] == ["competency_aggregates.parquet"]
    aggregated = str(tmp_path / "agg" / "competency_aggregates.parquet")
    [(counted,)] = duckdb.connect().execute("SELECT sum(learners) FROM read_parquet(?)", [aggregated]).fetchall()
    columns = {c for (c, *_) in duckdb.connect().execute("DESCRIBE SELECT * FROM read_parquet(?)", [aggregated]).fetchall()}
    assert cli(env, "export", "--parquet", str(tmp_path / "rows"), "--json").returncode == 0
    states = str(tmp_path / "rows" / "competency_state.parquet")
    [(rows, erased_rows)] = duckdb.connect().execute("SELECT count(*), count(*) FILTER (WHERE learner_id = ?) "
                                                     "FROM read_parquet(?)", [flagged["learner_id"], states]).fetchall()
    assert erased_rows == 0 and counted > rows and "learner_id" not in columns  # the erased learner's states count
    # and so do comparisons: every pair compared is a replayed one
    pairs = duckdb.connect().execute("SELECT count(*) FROM (SELECT DISTINCT learner_id, competency_id "
                                     "FROM read_parquet(?))", [str(out)]).fetchall()[0][0]
    compared = cli(env, "models", "compare", "official", "decaying_average", "--json")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert json.loads(compared.stdout)["overall"]["pairs"] == pairs
