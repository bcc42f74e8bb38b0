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


def with_reference_data(ledger):
    """The framework and course, recorded before the submissions that use them arrive: Kafka orders
    messages within a partition only, and reference data is keyed apart from any learner's."""
    list(ledger.post([f.line(f.framework()), f.line(f.course())]))
    return ledger


def submissions():
    valid = [f.line(f.enrolled("L1")).encode(), f.line(f.assessment("L1", "C2", 3.5)).encode()]
    wrong_scale = f.line(f.assessment("L1", "C1", SCHEMA_INVALID_SCORE)).encode()
    naive = f.line({**f.assessment("L1"), "demonstrated_at": "2026-01-10T09:00:00"}).encode()
    return valid, [MALFORMED, wrong_scale, naive]


def key_of(value: bytes) -> bytes:
    """The key a school's system gives a submission: its learner id, `catalog` for reference data."""
    try:
        return (json.loads(value).get("learner_id") or "catalog").encode()
    except ValueError:
        return b"L1"  # a broken message is still keyed as its sender meant it


def produce(bootstrap, topic, values, keys=None):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value, key in zip(values, keys or [key_of(v) for v in values]):
        producer.send(topic, value=value, key=key)
    producer.flush()
    producer.close()


def test_valid_submissions_are_recorded_and_the_rest_dead_lettered_with_their_original_bytes(kafka, tmp_path):
    valid, broken = submissions()
    produce(kafka.bootstrap, kafka.names.submissions, valid[:1] + broken[:1] + valid[1:] + broken[1:])
    ledger = with_reference_data(make_ledger(tmp_path / "home"))
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
    ledger = with_reference_data(make_ledger(tmp_path / "home"))
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
         stdin=b"".join(key_of(v) + b"\t" + v + b"\n" for v in valid + broken))
    home = tmp_path / "home"
    with_reference_data(make_ledger(home))
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


def test_submissions_are_keyed_by_learner_so_the_first_of_two_versions_wins_as_with_post(kafka, tmp_path):
    first = f.assessment("L1", "C1", 2.0)
    second = {**first, "payload": {**first["payload"], "score": 4.0}}  # the same event id, changed
    produce(kafka.bootstrap, kafka.names.submissions, [f.line(f.enrolled("L1")).encode()])
    ledger = with_reference_data(make_ledger(tmp_path / "home"))
    ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    produce(kafka.bootstrap, kafka.names.submissions, [f.line(first).encode(), f.line(second).encode()])
    run = ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    assert (run.accepted, run.rejected) == (1, 1)
    [recorded] = [e.event for e in ledger.learner_events("L1") if e.event["type"] == "assessment.recorded"]
    assert recorded["payload"]["score"] == 2.0
    [dead] = committed_messages(kafka.bootstrap, kafka.names.rejected)
    assert dead.value == f.line(second).encode() and "conflict" in header(dead, "reason")


def test_unkeyed_and_wrongly_keyed_submissions_are_dead_lettered_with_the_reason(kafka, tmp_path):
    produce(kafka.bootstrap, kafka.names.submissions, [f.line(d).encode() for d in f.setup(["L1"])])
    ledger = make_ledger(tmp_path / "home")
    ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    assert len(ledger.learner_events("L1")) == 1  # reference data keyed `catalog`, the enrolment `L1`
    unkeyed, school_keyed, keyed = (f.line(f.assessment("L1", "C1", 3.0, days=-i)).encode() for i in range(3))
    reference = f.line(f.course("CRS-2")).encode()
    produce(kafka.bootstrap, kafka.names.submissions, [unkeyed, school_keyed, keyed, reference],
            keys=[None, b"school-a", b"L1", b"L1"])
    run = ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    assert (run.accepted, run.rejected) == (1, 3)
    assert len(ledger.learner_events("L1")) == 2  # the enrolment and the one keyed assessment
    dead = {m.value: m for m in committed_messages(kafka.bootstrap, kafka.names.rejected)}
    assert set(dead) == {unkeyed, school_keyed, reference}
    assert all(header(m, "field") == "key" for m in dead.values())
    assert header(dead[unkeyed], "reason").startswith("the message has no key; submissions are keyed by learner id")
    assert header(dead[school_keyed], "reason").startswith("key 'school-a' is not 'L1'")
    assert header(dead[reference], "reason").startswith("key 'L1' is not 'catalog'")
    assert dead[school_keyed].key == b"school-a"  # dead letters keep the original key and bytes


def test_every_problem_of_a_message_travels_in_its_dead_letter_headers(kafka, tmp_path):
    doc = f.assessment("L1")
    doc["payload"]["score"] = "3"
    doc["actor"] = {"id": "Jane Smith", "role": "teacher"}
    produce(kafka.bootstrap, kafka.names.submissions, [f.line(doc).encode()])
    ingest(make_ledger(tmp_path / "home"), kafka.bootstrap, kafka.names, idle_seconds=2)
    [dead] = committed_messages(kafka.bootstrap, kafka.names.rejected)
    problems = json.loads(header(dead, "problems"))
    assert [p["field"] for p in problems] == ["actor.id", "payload.score"]
    assert (header(dead, "field"), header(dead, "reason")) == (problems[0]["field"], problems[0]["reason"])


def test_a_message_that_makes_recording_fail_unexpectedly_is_dead_lettered_and_its_batch_recorded(kafka, tmp_path):
    ledger = with_reference_data(make_ledger(tmp_path / "home"))
    cursed = f.assessment("L1", "C1", 3.0, days=-5)
    others = [f.enrolled("L1")] + [f.assessment("L1", "C2", 2.0, days=-i) for i in range(3)]
    real_record = ledger.record

    def record(parsed):  # a fault no message should be able to cause, but one does
        parsed = list(parsed)
        if any(getattr(p, "event", None) is not None and str(p.event.event_id) == cursed["event_id"] for p in parsed):
            raise ValueError("boom")
        return real_record(parsed)

    ledger.record = record
    produce(kafka.bootstrap, kafka.names.submissions, [f.line(d).encode() for d in others[:2] + [cursed] + others[2:]])
    run = ingest(ledger, kafka.bootstrap, kafka.names, idle_seconds=2)
    assert (run.accepted, run.rejected) == (len(others), 1)
    [dead] = committed_messages(kafka.bootstrap, kafka.names.rejected)
    assert dead.value == f.line(cursed).encode()
    assert header(dead, "reason") == "could not be recorded: ValueError: boom"
    assert len(ledger.learner_events("L1")) == len(others)
