"""The LRS at /xapi/ on a real `ledger serve` (SQLite, or PostgreSQL on that pass): the real
statements of ../shared/data/xapi stored and read back, idempotency on the statement id,
voiding, refusals naming the property, and never a 5xx for any JSON at all."""

from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import STORE_UNDER_TEST, drop_schema
from tests.http_support import Server, cli, server_env

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "xapi"
if not DATA.exists():
    DATA = Path("/work/shared/data/xapi")
REAL = ["xapi_spec_appendixA_1_simple_statement.json", "xapi_spec_appendixA_2_attempted_with_score.json",
        "xapi_spec_appendixA_3_long_statement.json", "xapi_spec_appendixB_cmi5_failed_with_score.json",
        "conformance_v2_0_statement_default.json"]
V = {"X-Experience-API-Version": "2.0.0"}


@pytest.fixture(scope="module")
def lrs(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("xapi") / "ledger"
    store = schema = None
    if STORE_UNDER_TEST == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = f"x_{uuid.uuid4().hex[:12]}"
        store = f"{url}?schema={schema}"
    env = server_env(home, store)
    assert cli(env, "init").returncode == 0
    made = cli(env, "keys", "create", "--role", "lrs_client", "--school", "s1", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    server = Server(env).start()
    client = httpx.Client(base_url=server.url + "/xapi", auth=(key["key_id"], key["key"]), headers=V, timeout=30)
    client.ledger_env, client.server_url = env, server.url  # type: ignore[attr-defined]
    yield client
    client.close()
    server.stop()
    if schema:
        drop_schema(request.getfixturevalue("postgres_url"), schema)


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_real_statements_are_stored_and_read_back(lrs):
    for name in REAL:
        statement = _load(name)
        response = lrs.post("/statements", json=statement)
        assert response.status_code == 200, (name, response.text)
        [sid] = response.json()
        if "id" in statement:
            assert sid == statement["id"].lower()
        back = lrs.get("/statements", params={"statementId": sid})
        assert back.status_code == 200
        stored = back.json()
        assert stored["verb"] == statement["verb"] and stored["id"] == sid
        assert stored["authority"]["account"]["homePage"] == "urn:mastery-ledger:lrs-client"
        assert "stored" in stored and "X-Experience-API-Consistent-Through" in back.headers


def test_statement_id_is_the_idempotency_key(lrs):
    statement = {**_load("conformance_v2_0_statement_default.json"), "id": str(uuid.uuid4())}
    assert lrs.put("/statements", params={"statementId": statement["id"]}, json=statement).status_code == 204
    assert lrs.put("/statements", params={"statementId": statement["id"]}, json=statement).status_code == 204
    changed = copy.deepcopy(statement)
    changed["verb"]["id"] = "http://adlnet.gov/expapi/verbs/failed"
    conflict = lrs.post("/statements", json=changed)
    assert conflict.status_code == 409 and statement["id"] in conflict.json()["error"]
    assert lrs.get("/statements", params={"statementId": statement["id"]}).json()["verb"] == statement["verb"]


def test_voided_statement_is_kept_but_never_returned_as_live(lrs):
    target = _load("xapi_spec_appendixB_cmi5_failed_with_score.json")
    target["id"] = str(uuid.uuid4())
    assert lrs.post("/statements", json=target).status_code == 200
    voiding = {"actor": target["actor"], "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
               "object": {"objectType": "StatementRef", "id": target["id"]}}
    [void_id] = lrs.post("/statements", json=voiding).json()
    assert lrs.get("/statements", params={"statementId": target["id"]}).status_code == 404
    assert lrs.get("/statements", params={"voidedStatementId": target["id"]}).json()["id"] == target["id"]
    listed = lrs.get("/statements", params={"verb": target["verb"]["id"]}).json()["statements"]
    assert target["id"] not in [s["id"] for s in listed]
    voids_void = {**voiding, "object": {"objectType": "StatementRef", "id": void_id}}
    assert lrs.post("/statements", json=voids_void).status_code == 400


def test_bad_statement_names_the_property_and_stores_nothing(lrs):
    good = {**_load("conformance_v2_0_statement_default.json"), "id": str(uuid.uuid4())}
    bad = copy.deepcopy(good)
    bad["id"] = str(uuid.uuid4())
    bad["actor"]["mbox"] = "not-an-email"
    bad["result"] = {"score": {"scaled": 3}}
    response = lrs.post("/statements", json=[good, bad])
    assert response.status_code == 400
    reason = response.json()["error"]
    assert "statement[1].actor.mbox" in reason and "statement[1].result.score.scaled" in reason
    for sid in (good["id"], bad["id"]):
        assert lrs.get("/statements", params={"statementId": sid}).status_code == 404


def test_queries_filter_and_page(lrs):
    who = {"mbox": f"mailto:{uuid.uuid4().hex}@example.org"}
    verb = f"http://example.org/verbs/{uuid.uuid4().hex}"
    ids = []
    for i in range(5):
        ids += lrs.post("/statements", json={"actor": who, "verb": {"id": verb},
                                             "object": {"id": f"http://example.org/act/{i}"}}).json()
    pages, url, params = [], "/statements", {"agent": json.dumps(who), "limit": "2", "ascending": "true"}
    while url:
        page = lrs.get(url, params=params).json()
        pages.append([s["id"] for s in page["statements"]])
        url, params = page["more"].removeprefix("/xapi"), None
    assert [sid for page in pages for sid in page] == ids and [len(p) for p in pages] == [2, 2, 1]
    assert lrs.get("/statements", params={"verb": verb, "activity": "http://example.org/act/3"}).json()[
        "statements"][0]["id"] == ids[3]


def test_wrong_credentials_and_missing_version_are_refused(lrs):
    assert httpx.get(str(lrs.base_url) + "/statements", auth=("x", "y"), headers=V).status_code == 401
    assert lrs.get("/statements", headers={"X-Experience-API-Version": ""}).status_code == 400
    assert lrs.get("/about").json()["version"] == ["2.0.0", "1.0.3"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["id", "actor", "verb", "object", "result", "context", "mbox", "objectType",
                                         "account", "name", "homePage", "score", "scaled", "attachments", "member",
                                         "definition", "timestamp", "contextActivities"]) | st.text(max_size=8),
                        inner, max_size=5), max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON)
def test_any_json_gets_an_answer_never_a_5xx(lrs, body):
    response = lrs.post("/statements", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code == 400:
        assert response.json()["error"]


def test_xapi_requests_are_counted_in_metrics_by_resource(lrs):
    """Before, /xapi/ was dispatched in front of the request log: /metrics never counted it."""
    for _ in range(3):
        assert lrs.get("/statements", params={"limit": "1"}).status_code == 200
    assert lrs.get("/no-such-resource").status_code == 404
    made = cli(lrs.ledger_env, "keys", "create", "--role", "registrar", "--actor", "ops", "--json")
    metrics = httpx.get(lrs.server_url + "/metrics", headers={"X-API-Key": json.loads(made.stdout)["key"]}).text
    counted = re.search(r'^ledger_http_requests_total\{method="GET",route="/xapi/statements",status="200"\} (\S+)$',
                        metrics, re.M)
    assert counted and float(counted.group(1)) >= 3, metrics
    assert re.search(r'route="unmatched",status="404"', metrics), metrics
    assert "/xapi/no-such-resource" not in metrics  # raw paths never become labels
