"""The broker goes down mid-stream and comes back: relay, ingest and the projector carry on by themselves."""

import threading
import time

import pytest
from kafka import KafkaProducer

from consumers import kafka_broker
from consumers.ingest import ingest
from consumers.kafka_reader import KafkaEventReader
from consumers.projector import run_projections
from projections import official
from consumers.relay import last_relayed_position, relay
from consumers.topics import Names, ensure_topics
from tests import factories as f
from tests.conftest import broker_config, make_ledger
from tests.kafka_support import committed_messages, header
from tests.projection_support import table_rows


@pytest.fixture
def own_broker(tmp_path):
    cfg = broker_config(tmp_path / "kafka")
    kafka_broker.start(cfg, timeout=120)
    yield cfg
    kafka_broker.stop(cfg)


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def produce(bootstrap, topic, docs):
    """Submissions as schools send them: keyed by learner id (reference data by `catalog`)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for doc in docs:
        producer.send(topic, key=(doc.get("learner_id") or "catalog").encode(), value=f.line(doc).encode())
    producer.flush()
    producer.close()


def projected(path) -> int:
    if not path.exists():
        return -1
    try:
        with official.connect(path, read_only=True) as con:
            return official.position(con)
    except Exception:  # the follower is writing a batch
        return -1


def test_relay_ingest_and_projector_resume_by_themselves_after_the_broker_is_killed_and_restarted(own_broker,
                                                                                                 tmp_path):
    names = Names(prefix="restart.")
    bootstrap = own_broker.bootstrap
    ensure_topics(bootstrap, names, event_partitions=3)
    home = tmp_path / "home"
    writer = make_ledger(home)
    list(writer.post([f.line(d) for d in f.setup(["L1", "L2"])]))

    stop = threading.Event()
    errors = []

    def run(target, *args, **kwargs):
        try:
            target(make_ledger(home), bootstrap, names, follow=True, should_stop=stop.is_set, *args, **kwargs)
        except Exception as error:  # surfaced by the assertions below
            errors.append(error)

    followed = tmp_path / "followed.duckdb"

    def project():
        try:
            run_projections(KafkaEventReader(bootstrap, names), followed, follow=True, poll_seconds=0.2,
                            should_stop=stop.is_set)
        except Exception as error:  # before the fix: KafkaTimeoutError, and the follower was gone
            errors.append(error)

    threads = [threading.Thread(target=run, args=(relay,), kwargs={"poll_seconds": 0.2}),
               threading.Thread(target=run, args=(ingest,)), threading.Thread(target=project)]
    for t in threads:
        t.start()
    try:
        before = [f.assessment("L1", "C1", 2.0 + i % 3, days=-i) for i in range(20)]
        produce(bootstrap, names.submissions, before)
        wait_for(lambda: len(writer.learner_events("L1")) == 21, 60, "ingest before the restart")

        kafka_broker.kill(own_broker)
        during = [f.assessment("L2", "C2", 3.0, days=-i) for i in range(15)]
        list(writer.post([f.line(d) for d in during]))  # recorded while Kafka is down
        time.sleep(2)
        kafka_broker.start(own_broker, timeout=120)

        after = [f.assessment("L1", "C3", 4.0, days=-i) for i in range(10)]
        produce(bootstrap, names.submissions, after)
        wait_for(lambda: len(writer.learner_events("L1")) == 31, 120, "ingest after the restart")
        head = writer.head_position()
        wait_for(lambda: last_relayed_position(bootstrap, names.events) == head, 120, "relay after the restart")
        wait_for(lambda: projected(followed) == head, 120, "the projector after the restart")
        assert all(t.is_alive() for t in threads), errors
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors

    stored = writer.read(0, 100_000)
    messages = [m for m in committed_messages(bootstrap, names.events) if m.key is not None]
    ids = [header(m, "event_id") for m in messages]
    assert len(ids) == len(set(ids)), "an event reached Kafka twice"
    missing = [(e.position, e.stream) for e in stored if e.stream != "catalog" and e.event["event_id"] not in ids]
    assert not missing, f"stored but never relayed: {missing}"
    assert set(ids) == {e.event["event_id"] for e in stored if e.stream != "catalog"}
    assert len(writer.learner_events("L2")) == 16
    rebuilt = tmp_path / "rebuilt.duckdb"
    run_projections(writer, rebuilt)
    assert table_rows(followed) == table_rows(rebuilt)
