"""Soak: the three followers run as an operator runs them while the broker is restarted twice.

`ledger relay --follow`, `ledger ingest --follow` and `ledger project --follow` run as
processes; a loop asks `ledger state` all along; submissions arrive through Kafka keyed by
learner id, and more events are recorded into the store while the broker is down. At the end
all three are alive, the store holds every submission once, `ledger.events` holds no position
twice, and the read models the follower kept equal a rebuild from the store."""

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from kafka import KafkaProducer

from consumers import kafka_broker
from consumers.projector import run_projections
from consumers.relay import last_relayed_position
from consumers.topics import Names, ensure_topics
from projections import official
from tests import factories as f
from tests.conftest import broker_config, make_ledger
from tests.kafka_support import committed_messages, header
from tests.projection_support import table_rows

LEARNERS = [f"L{i}" for i in range(1, 7)]


@pytest.fixture
def own_broker(tmp_path):
    cfg = broker_config(tmp_path / "kafka")
    kafka_broker.start(cfg, timeout=120)
    yield cfg
    kafka_broker.stop(cfg)


def wait_for(condition, timeout, what, alive=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process, log in alive:
            assert process.poll() is None, f"{name} died:\n{log.read_text()[-3000:]}"
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def submit(bootstrap, topic, docs):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for doc in docs:
        producer.send(topic, key=doc["learner_id"].encode(), value=f.line(doc).encode())
    producer.flush()
    producer.close()


def projected(path) -> int:
    try:
        with official.connect(path, read_only=True) as con:
            return official.position(con)
    except Exception:  # not there yet, or the follower is writing a batch
        return -1


def test_followers_survive_two_broker_restarts_with_a_state_loop_beside_them(own_broker, tmp_path):
    bootstrap = own_broker.bootstrap
    names = Names(prefix="soak.")
    ensure_topics(bootstrap, names, event_partitions=3)
    home = tmp_path / "home"
    writer = make_ledger(home)
    list(writer.post([f.line(d) for d in f.setup(LEARNERS)]))
    env = {**os.environ, "LEDGER_HOME": str(home), "LEDGER_KAFKA_BOOTSTRAP": bootstrap,
           "LEDGER_KAFKA_PREFIX": names.prefix, "LEDGER_KAFKA_PARTITIONS": "3"}
    followed = home / "projections.duckdb"

    followers = []
    for command in ("relay", "ingest", "project"):
        log = tmp_path / f"{command}.log"
        with open(log, "w") as out:
            process = subprocess.Popen([sys.executable, "-m", "cli", command, "--follow"], env=env,
                                       stdout=out, stderr=subprocess.STDOUT)
        followers.append((command, process, log))

    stop = threading.Event()
    queries = Counter()
    refusals = []

    def state_loop():
        while not stop.is_set():
            shown = subprocess.run([sys.executable, "-m", "cli", "state", "L1", "--json"], env=env,
                                   capture_output=True, text=True, timeout=120)
            queries["asked"] += 1
            if shown.returncode != 0:
                refusals.append((shown.returncode, shown.stdout.strip()[-300:], shown.stderr.strip()[-300:]))
            elif json.loads(shown.stdout)["learner_id"] == "L1":
                queries["answered"] += 1

    submitted = []

    def submissions(tag, n):
        docs = [f.assessment(LEARNERS[i % len(LEARNERS)], f"C{1 + i % 3}", 1.0 + (i % 4), days=-(i % 20) - 1)
                for i in range(n)]
        submitted.extend(docs)
        return docs

    loop = threading.Thread(target=state_loop)
    try:
        wait_for(lambda: projected(followed) >= writer.head_position(), 120, "the first projection", followers)
        loop.start()

        submit(bootstrap, names.submissions, submissions("before", 60))
        wait_for(lambda: projected(followed) >= writer.head_position() > 0 and _stored(writer, submitted),
                 120, "the first submissions", followers)

        for restart, how in enumerate((kafka_broker.kill, kafka_broker.stop)):
            how(own_broker)
            # Recorded straight into the store while Kafka is away: the relay owes them.
            list(writer.post([f.line(d) for d in submissions(f"down{restart}", 15)]))
            time.sleep(3)
            kafka_broker.start(own_broker, timeout=120)
            submit(bootstrap, names.submissions, submissions(f"after{restart}", 40))

        wait_for(lambda: _stored(writer, submitted), 180, "every submission in the store", followers)
        head = writer.head_position()
        wait_for(lambda: last_relayed_position(bootstrap, names.events) == head, 180, "the relay", followers)
        wait_for(lambda: projected(followed) == head, 180, "the projector", followers)
        for name, process, log in followers:
            assert process.poll() is None, f"{name} died:\n{log.read_text()[-3000:]}"
    finally:
        stop.set()
        if loop.is_alive():
            loop.join(120)
        for _, process, _ in followers:
            process.terminate()
        for _, process, _ in followers:
            process.wait(30)

    assert not refusals, refusals[:5]
    assert queries["answered"] >= 3, queries

    # Nothing lost or doubled: every submission stored once, no position twice on ledger.events.
    stored = Counter(e.event["event_id"] for e in writer.read(0, 1_000_000))
    assert all(stored[d["event_id"]] == 1 for d in submitted), [d["event_id"] for d in submitted
                                                                if stored[d["event_id"]] != 1]
    messages = committed_messages(bootstrap, names.events)
    keyed = Counter(int(header(m, "position")) for m in messages if m.key is not None)
    copies = Counter((m.partition, int(header(m, "position"))) for m in messages if m.key is None)
    assert max(keyed.values()) == 1 and max(copies.values()) == 1, "a position reached ledger.events twice"
    learner_positions = {e.position for e in writer.read(0, 1_000_000) if e.stream != "catalog"}
    assert set(keyed) == learner_positions, sorted(learner_positions - set(keyed))[:10]

    rebuilt = tmp_path / "rebuilt.duckdb"
    run_projections(writer, rebuilt)
    assert table_rows(followed) == table_rows(rebuilt)
    logs = {name: log.read_text() for name, _, log in followers}
    assert "Traceback" not in logs["project"], logs["project"][-3000:]
    assert "batch position=" in logs["project"]


def _stored(writer, submitted) -> bool:
    ids = {e.event["event_id"] for e in writer.read(0, 1_000_000)}  # the log, not a cached stream
    return all(d["event_id"] in ids for d in submitted)
