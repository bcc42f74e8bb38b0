"""Ingest against the real broker: submissions recorded or dead-lettered, never lost or doubled."""

import json
import subprocess
import sys

from kafka import KafkaProducer

from consumers.ingest import ingest
from tests import factories as f
from tests.conftest import make_ledger
from tests.kafka_support import committed_messages, header

MALFORMED = b'{"event_id": "oops", "type": '
SCHEMA_INVALID_SCORE = 9.0


def submissions():
    valid = [f.line(d).encode() for d in f.setup(["L1"])] + [f.line(f.assessment("L1", "C2", 3.5)).encode()]
    wrong_scale = f.line(f.assessment("L1", "C1", SCHEMA_INVALID_SCORE)).encode()
    naive = f.line({**f.assessment("L1"), "demonstrated_at": "2026-01-10T09:00:00"}).encode()
    return valid, [MALFORMED, wrong_scale, naive]


def produce(bootstrap, topic, values):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, value=value, key=b"school-a")
    producer.flush()
    producer.close()


def test_valid_submissions_are_recorded_and_the_rest_dead_lettered_with_their_original_bytes(kafka, tmp_path):
    valid, broken = submissions()
    produce(kafka.bootstrap, kafka.names.submissions, valid[:2] + broken[:1] + valid[2:] + broken[1:])
    ledger = make_ledger(tmp_path / "home")
    run = ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    assert (run.accepted, run.rejected) == (len(valid), len(broken))
    assert [e.event["type"] for e in ledger.learner_events("L1")] == ["learner.enrolled", "assessment.recorded"]
    dead = committed_messages(kafka.bootstrap, kafka.names.rejected)
    assert sorted(m.value for m in dead) == sorted(broken)
    reasons = {m.value: (header(m, "field"), header(m, "reason")) for m in dead}
    assert "not valid JSON" in reasons[MALFORMED][1]
    assert reasons[broken[1]][0] == "payload.score"
    assert reasons[broken[2]][0] == "demonstrated_at"
    assert all(header(m, "source").startswith(kafka.names.submissions + "/") for m in dead)


def test_a_second_ingest_finds_nothing_and_a_replayed_topic_changes_nothing(kafka, tmp_path):
    valid, broken = submissions()
    produce(kafka.bootstrap, kafka.names.submissions, valid + broken)
    ledger = make_ledger(tmp_path / "home")
    ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    head = ledger.head_position()
    assert ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2).messages == 0
    # the same submissions posted again by a connector that lost track: duplicates only
    produce(kafka.bootstrap, kafka.names.submissions, valid)
    again = ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    assert (again.accepted, again.duplicate) == (0, len(valid))
    assert ledger.head_position() == head
    assert len(committed_messages(kafka.bootstrap, kafka.names.rejected)) == len(broken)


def kcat(*args, stdin=None):
    result = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def test_kcat_a_client_outside_the_project_posts_submissions_and_reads_the_log_back(kafka, tmp_path):
    valid, broken = submissions()
    kcat("-P", "-b", kafka.bootstrap, "-t", kafka.names.submissions, "-K", "\t",
         stdin=b"".join(b"school-a\t" + v + b"\n" for v in valid + broken))
    home = tmp_path / "home"
    cli = [sys.executable, "-m", "cli"]
    ingested = subprocess.run(cli + ["ingest", "--json"], env=kafka.env(home), capture_output=True, text=True,
                              timeout=120)
    assert ingested.returncode == 0, ingested.stderr
    assert (json.loads(ingested.stdout)["accepted"], json.loads(ingested.stdout)["rejected"]) == (len(valid), 3)

    dead = kcat("-C", "-b", kafka.bootstrap, "-t", kafka.names.rejected, "-e", "-q",
                "-X", "isolation.level=read_committed", "-f", "%s\n")
    assert sorted(dead.splitlines()) == sorted(broken)

    relayed = subprocess.run(cli + ["relay"], env=kafka.env(home), capture_output=True, text=True, timeout=120)
    assert relayed.returncode == 0, relayed.stderr
    back = kcat("-C", "-b", kafka.bootstrap, "-t", kafka.names.events, "-e", "-q",
                "-X", "isolation.level=read_committed", "-f", "%k\t%s\n")
    learner_lines = [line for line in back.decode().splitlines() if line.split("\t")[0]]
    assert [json.loads(line.split("\t", 1)[1])["type"] for line in learner_lines] == [
        "learner.enrolled", "assessment.recorded"]
