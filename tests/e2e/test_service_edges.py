"""The service's edges through a real `ledger serve`: who may read /metrics and what it may show,
the access log, slow and keyless clients, ids with a trailing newline, masked store URLs."""

import random
import re
import socket
import subprocess
import sys
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import factories as f
from tests.http_support import Server, cli, server_env

TOKEN = "metrics-" + uuid.uuid4().hex
HEAD_TIMEOUT, BODY_TIMEOUT = 2.0, 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("edges") / "home"
    env = {**server_env(home), "LEDGER_METRICS_TOKEN": TOKEN}
    env.pop("LEDGER_STORE", None)  # these are the HTTP edges: one store is enough
    seed = [f.framework(), f.course(), f.enrolled("L1"), f.advisor_assigned("L1", "adv-1")]
    posted = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in seed) + "\n")
    assert posted.returncode == 0, posted.stderr
    running = Server(env, serve_args=("--header-timeout", str(HEAD_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT)))
    running.start()
    running.keys = {role: running.key(role, *extra) for role, extra in {
        "school": ("--school", f.SCHOOL), "advisor": ("--actor", "adv-1"), "registrar": ("--actor", "reg-1"),
        "district_admin": (), "researcher": ()}.items()}
    yield running
    running.stop()


def scrape(server, **headers) -> str:
    with server.client() as http:
        response = http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def series(text: str) -> list[tuple[str, dict]]:
    return [(s.name, s.labels) for family in text_string_to_metric_families(text) for s in family.samples]


def keys_of(text: str) -> set[tuple]:
    return {(name, tuple(sorted(labels.items()))) for name, labels in series(text)}


def test_metrics_need_an_operator_key_or_the_metrics_token(server):
    with server.client() as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        for role in ("school", "advisor", "researcher"):
            assert http.get("/metrics", headers={"X-API-Key": server.keys[role]}).status_code == 403, role
    for role in ("registrar", "district_admin"):
        scrape(server, **{"X-API-Key": server.keys[role]})
    scrape(server, Authorization=f"Bearer {TOKEN}")


def test_metrics_are_prometheus_text_with_routes_latency_positions_and_bounded_labels(server):
    registrar = server.keys["registrar"]
    with server.client(server.keys["school"]) as http:
        assert http.post("/v1/events", json=f.assessment("L1", days=-1)).status_code == 201
        http.get("/v1/learners/L1/state")

    def hostile_round(n):
        with server.client(server.keys["school"]) as http:
            for _ in range(n):
                school = f"school-{random.randrange(10**9)}"
                assert http.post("/v1/events", json={**f.assessment("L1"), "school_id": school}).status_code == 403
                http.get(f"/v1/learners/lrn-{random.randrange(10**9)}/state")
                http.get(f"/no/such/{random.randrange(10**9)}")
        with server.client(f"lk_{uuid.uuid4().hex[:12]}_{uuid.uuid4().hex}") as http:  # forged keys
            for _ in range(n):
                assert http.post("/v1/events", json=f.assessment("L1")).status_code == 401

    scrape(server, **{"X-API-Key": registrar})  # so that /metrics' own 200 is in both counts below
    hostile_round(20)
    first = scrape(server, **{"X-API-Key": registrar})
    hostile_round(40)
    second = scrape(server, **{"X-API-Key": registrar})
    # Random schools, learners, paths and keys add no series: labels take bounded values only.
    assert keys_of(second) == keys_of(first), keys_of(second) ^ keys_of(first)

    names = {name for name, _ in series(second)}
    assert {"ledger_http_requests_total", "ledger_http_request_duration_seconds_bucket",
            "ledger_projection_lag_events", "ledger_store_head_position", "ledger_events_posted_total"} <= names
    routes = {labels.get("route") for _, labels in series(second) if "route" in labels}
    assert "/v1/learners/{learner_id}/state" in routes and "unmatched" in routes
    assert not any(re.search(r"L1|lrn-|school-|adv-1|reg-1", route) for route in routes), routes
    refusals = {(labels["status"], labels["reason"]) for name, labels in series(second)
                if name == "ledger_http_refusals_total"}
    assert {("403", "forbidden"), ("401", "bad_key")} <= refusals
    accepted = [s.value for fam in text_string_to_metric_families(second) for s in fam.samples
                if s.name == "ledger_events_posted_total" and s.labels == {"outcome": "accepted"}]
    assert accepted == [1.0]
    for secret_or_id in (f.SCHOOL, "adv-1", "reg-1", "L1", registrar):
        assert secret_or_id not in second


def test_a_revoked_keys_id_never_reaches_metrics(server):
    made = cli(server.env, "keys", "create", "--role", "school", "--school", f.SCHOOL, "--json")
    import json

    key = json.loads(made.stdout)
    assert cli(server.env, "keys", "revoke", key["key_id"]).returncode == 0
    time.sleep(2.5)  # the server re-reads its keys every 2 s
    with server.client(key["key"]) as http:
        refused = http.get("/v1/learners/L1/state")
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    text = scrape(server, Authorization=f"Bearer {TOKEN}")
    assert key["key_id"] not in text


def test_each_request_is_one_access_log_line_with_its_key_id_and_never_the_secret(server):
    import json

    key_id = json.loads(cli(server.env, "keys", "list", "--json").stdout)
    registrar = server.keys["registrar"]
    with server.client(registrar) as http:
        assert http.get("/v1/learners/L1/events").status_code == 200
    ids = {k["key_id"] for k in key_id if k["role"] == "registrar"}
    deadline = time.monotonic() + 5
    pattern = re.compile(r"^\S+Z INFO ledger\.http GET /v1/learners/L1/events route=/v1/learners/\{learner_id\}/events "
                         r"status=200 ms=[\d.]+ key=(\S+)$", re.M)
    while time.monotonic() < deadline and not pattern.search(server.log.read_text()):
        time.sleep(0.1)
    log = server.log.read_text()
    found = pattern.findall(log)
    assert found and set(found) <= ids, log[-2000:]
    for secret in server.keys.values():
        assert secret not in log


def test_an_id_with_a_trailing_newline_is_refused_before_any_look_up(server):
    with server.client(server.keys["registrar"]) as http:
        for path in ("/v1/learners/L1%0A/events", "/v1/learners/L1%0A/state"):
            response = http.get(path)
            assert response.status_code == 404
            assert response.json()["error"].startswith("no such learner (ids are"), response.text
        assert http.get("/v1/learners/L1/events").status_code == 200


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def _closed_or_answered_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, within `seconds`; None if it still holds the connection."""
    sock.settimeout(seconds)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
    except socket.timeout:
        return None
    except ConnectionResetError:
        return received


def test_slow_clients_are_cut_off_sending_headers_or_bodies(server):
    started = time.monotonic()
    slow_heads = []
    for _ in range(6):
        sock = _connect(server)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # ...and never the rest of the head
        slow_heads.append(sock)
    slow_body = _connect(server)
    slow_body.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"X-API-Key: {server.keys['school']}\r\nContent-Length: 1000\r\n\r\n".encode() + b"{\"a\":")
    for sock in slow_heads:
        assert _closed_or_answered_within(sock, HEAD_TIMEOUT + 8) is not None, "a slow head was held"
    answer = _closed_or_answered_within(slow_body, BODY_TIMEOUT + 8)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < HEAD_TIMEOUT + BODY_TIMEOUT + 12
    with server.client() as http:  # and the server serves on
        assert http.get("/health").status_code == 200


def test_a_keyless_or_forged_key_post_is_refused_before_its_body_is_read(server):
    for key_header in (b"", f"X-API-Key: lk_{uuid.uuid4().hex[:12]}_{uuid.uuid4().hex}\r\n".encode()):
        sock = _connect(server)
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + key_header
                     + b"Content-Length: 1048000\r\n\r\n")  # the 1 MiB body is never sent
        answer = _closed_or_answered_within(sock, 5)
        sock.close()
        assert answer is not None and answer.startswith(b"HTTP/1.1 401"), answer


def test_the_store_url_password_is_masked_in_what_serve_init_and_status_print(tmp_path):
    url = "postgresql://alice:S3cretPW@127.0.0.1:9/ledger"
    env = {**server_env(tmp_path / "home", url)}
    serve = subprocess.run([sys.executable, "-m", "cli", "serve", "--port", "9"], env=env, capture_output=True,
                           text=True, timeout=120)
    said = serve.stdout + serve.stderr
    assert "serving the ledger at postgresql://alice:***@127.0.0.1:9/ledger" in said, said
    assert "Traceback" not in said and serve.returncode != 0, said  # a store that is down: one line
    for args in (("init",), ("status",), ("status", "--json")):
        run = cli(env, *args)
        said += run.stdout + run.stderr
    assert "S3cretPW" not in said, said
