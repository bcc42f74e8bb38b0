"""A school finds the valid ids, an operator finds the dead letters: `ledger frameworks`,
`competencies`, `courses` (from the store's catalogue, no projections) and `rejected` (from the
real broker's `evidence.rejected`)."""

import base64
import json
import os
import subprocess
import sys

from kafka import KafkaProducer

from tests import factories as f
from tests.conftest import make_ledger


def ledger_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=300)


def home_env(home) -> dict:
    env = {**os.environ, "LEDGER_HOME": str(home)}
    env.pop("LEDGER_CONFIG", None)
    env.pop("LEDGER_KAFKA_BOOTSTRAP", None)
    return env


def test_frameworks_competencies_and_courses_list_the_catalogue_without_projections(tmp_path):
    home = tmp_path / "home"
    ledger = make_ledger(home)
    other = {**f.framework(["X1", "X2"]), "payload": {**f.framework(["X1", "X2"])["payload"],
                                                      "framework_id": "fw-other", "title": "Other framework"}}
    republished = f.framework(["C1", "C2", "C3", "C4"], version=2, days=-28)
    outcomes = list(ledger.post([f.line(d) for d in (f.framework(), f.course(), other, republished)]))
    assert [o.rejection for o in outcomes if o.rejection] == []
    env = home_env(home)
    assert not (home / "projections.duckdb").exists()

    frameworks = json.loads(ledger_cli(env, "frameworks", "--json").stdout)
    assert [(fw["framework_id"], fw["version"], fw["competencies"]) for fw in frameworks] == [
        ("fw-other", 1, 2), (f.FRAMEWORK, 2, 4)]  # the latest version of each
    text = ledger_cli(env, "frameworks").stdout
    assert "fw-test" in text and "v2" in text and "4 competencies" in text

    competencies = json.loads(ledger_cli(env, "competencies", "--json").stdout)
    assert {c["competency_id"] for c in competencies} == {"X1", "X2", "C1", "C2", "C3", "C4"}
    only = json.loads(ledger_cli(env, "competencies", "--framework", "fw-other", "--json").stdout)
    assert [c["competency_id"] for c in only] == ["X1", "X2"]
    assert "C4" in ledger_cli(env, "competencies").stdout
    unknown = ledger_cli(env, "competencies", "--framework", "fw-nope")
    assert unknown.returncode == 1 and unknown.stderr.splitlines() == [
        "error: --framework 'fw-nope': no such framework (`ledger frameworks` lists them)"]

    [course] = json.loads(ledger_cli(env, "courses", "--json").stdout)
    assert course["course_id"] == "CRS-1" and course["competencies"] == ["C1", "C2"]
    assert course["credit_rule"]["kind"] == "all_mastered" and course["mastery_method"]["name"] == "decaying_average"
    assert "CRS-1" in ledger_cli(env, "courses").stdout


def test_an_empty_catalogue_says_so(tmp_path):
    env = home_env(tmp_path / "home")
    assert ledger_cli(env, "init").returncode == 0
    assert json.loads(ledger_cli(env, "courses", "--json").stdout) == []
    assert "no course has been defined" in ledger_cli(env, "courses").stdout


def test_rejected_needs_kafka_and_says_so_in_one_line(tmp_path):
    result = ledger_cli(home_env(tmp_path / "home"), "rejected")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: `ledger rejected` needs Kafka: set LEDGER_KAFKA_BOOTSTRAP (e.g. 127.0.0.1:9092)"]


def test_rejected_shows_each_dead_letters_source_reason_field_and_original_bytes(kafka, tmp_path):
    home = tmp_path / "home"
    env = {**kafka.env(home)}
    env.pop("LEDGER_CONFIG", None)
    # Keyed as schools must key submissions: by learner id, reference data by "catalog".
    valid = [((d["learner_id"] or "catalog").encode(), f.line(d).encode()) for d in f.setup(["L1"])]
    # Refused at the door whatever has been recorded (partitions are read in any order).
    naive = f.line({**f.assessment("L1"), "demonstrated_at": "2026-01-10T09:00:00"}).encode()
    long_malformed = b'{"event_id": "' + b"x" * 400  # longer than the text output shows
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    for key, value in valid + [(b"L1", naive), (b"L1", long_malformed)]:
        producer.send(kafka.names.submissions, value=value, key=key)
    producer.flush()
    producer.close()
    ingested = ledger_cli(env, "ingest", "--json")
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["rejected"] == 2

    shown = json.loads(ledger_cli(env, "rejected", "--json").stdout)
    assert shown["topic"] == kafka.names.rejected and shown["total"] == 2
    letters = {base64.b64decode(d["value_base64"]): d for d in shown["dead_letters"]}
    assert set(letters) == {naive, long_malformed}  # the original bytes, whole
    dated = letters[naive]
    assert dated["field"] == "demonstrated_at" and "timezone" in dated["reason"]
    topic, partition, offset = dated["source"].rsplit("/", 2)
    assert topic == kafka.names.submissions and partition.isdigit() and offset.isdigit()
    assert letters[long_malformed]["value"] == long_malformed.decode()

    text = ledger_cli(env, "rejected")
    assert text.returncode == 0, text.stderr
    assert f"{kafka.names.rejected}: 2 dead letter(s)" in text.stdout
    assert "demonstrated_at: " in text.stdout and f"({len(long_malformed)} bytes)" in text.stdout
    assert "x" * 400 not in text.stdout  # truncated in text

    [last] = json.loads(ledger_cli(env, "rejected", "--limit", "1", "--json").stdout)["dead_letters"]
    assert base64.b64decode(last["value_base64"]) == long_malformed


def test_rejected_names_a_missing_topic_and_the_command_that_creates_it(kafka_broker, tmp_path):
    env = {**home_env(tmp_path / "home"), "LEDGER_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
           "LEDGER_KAFKA_PREFIX": "never-created."}
    result = ledger_cli(env, "rejected")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: topic never-created.evidence.rejected does not exist on {kafka_broker.bootstrap}; "
        "`ledger init` creates it"]
