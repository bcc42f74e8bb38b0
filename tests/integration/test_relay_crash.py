"""The relay against the real broker when things end badly: transactions aborted at the end of a
partition, a relay SIGKILLed again and again while events are posted, topics that do not exist."""

import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from consumers.relay import last_relayed_position
from ledger.demo import generate
from tests.conftest import make_ledger
from tests.kafka_support import committed_messages, header

LEDGER = [sys.executable, "-m", "cli"]


def relay_shaped(position: int, partitions: int):
    """A message as the relay lays it out: a learner key, the position and the other headers."""
    headers = [("position", str(position).encode()), ("event_id", f"ev-{position}".encode()),
               ("type", b"assessment.recorded"), ("schema_version", b"1"), ("hash", b"0" * 64),
               ("stream", f"learner-{position % 7}".encode())]
    return dict(key=f"lrn-{position % 7}".encode(), value=b"{}", headers=headers, partition=position % partitions)


def send_transaction(producer, topic, positions, partitions, *, commit):
    producer.begin_transaction()
    for position in positions:
        producer.send(topic, **relay_shaped(position, partitions))
    producer.flush()
    if commit:
        producer.commit_transaction()
    else:
        producer.abort_transaction()


def test_the_scan_finds_the_highest_committed_position_when_every_partition_ends_in_an_aborted_transaction(kafka):
    # Before: records polled from the other partitions counted as the scanned one's, so the scan
    # stopped at the first window of aborted records and answered 599.
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, transactional_id=f"{kafka.names.prefix}raw",
                             enable_idempotence=True, acks="all")
    producer.init_transactions()
    send_transaction(producer, kafka.names.events, range(1, 601), kafka.partitions, commit=True)
    send_transaction(producer, kafka.names.events, range(601, 1801), kafka.partitions, commit=False)
    producer.close()
    assert last_relayed_position(kafka.bootstrap, kafka.names.events) == 600


def test_the_scan_looks_past_a_long_aborted_tail_and_ignores_an_earlier_aborted_transaction(kafka):
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, transactional_id=f"{kafka.names.prefix}raw",
                             enable_idempotence=True, acks="all")
    producer.init_transactions()
    send_transaction(producer, kafka.names.events, range(1, 301), kafka.partitions, commit=True)
    send_transaction(producer, kafka.names.events, range(301, 5001), kafka.partitions, commit=False)
    send_transaction(producer, kafka.names.events, range(301, 321), kafka.partitions, commit=True)
    for _ in range(3):  # several aborted transactions after the last commit, 20k records in all
        send_transaction(producer, kafka.names.events, range(321, 7001), kafka.partitions, commit=False)
    producer.close()
    assert last_relayed_position(kafka.bootstrap, kafka.names.events) == 320



transactions = st.lists(st.tuples(st.integers(1, 300), st.booleans(), st.integers(0, 2)), min_size=1, max_size=6)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(transactions)
def test_the_scan_answers_the_highest_committed_position_whatever_was_committed_and_aborted(kafka, txns):
    """Like the relay: a committed transaction moves the position on, an aborted one is sent again."""
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"{kafka.names.prefix}scan-{time.monotonic_ns()}"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, transactional_id=topic, enable_idempotence=True,
                             acks="all")
    producer.init_transactions()
    highest = 0
    for size, commit, skew in txns:
        # skew piles a transaction onto fewer partitions, so some end in long aborted tails
        positions = range(highest + 1, highest + 1 + size)
        producer.begin_transaction()
        for position in positions:
            producer.send(topic, **{**relay_shaped(position, 3), "partition": (position % 3) // (skew + 1)})
        producer.flush()
        if commit:
            producer.commit_transaction()
            highest = positions[-1]
        else:
            producer.abort_transaction()
    producer.close()
    assert last_relayed_position(kafka.bootstrap, topic) == highest


# --- a relay SIGKILLed again and again while events are posted --------------------------------

def distinct_lines(n, learners):
    seen, out = set(), []
    for line in generate(seed=11, learners=learners).lines:
        event_id = line.split('"event_id": "', 1)[1][:36]
        if event_id not in seen:
            seen.add(event_id)
            out.append(line)
    assert len(out) >= n, f"the demo district gave {len(out)} distinct events, not {n}"
    return out[:n]


def start_relay(kafka, home, log_path: Path, batch_size: int) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(LEDGER + ["relay", "--follow", "--batch-size", str(batch_size)],
                                env=kafka.env(home), stdout=subprocess.DEVNULL, stderr=log)


def commits_logged(log_path: Path) -> int:
    return log_path.read_text(errors="replace").count("relay: committed positions")


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def all_messages(bootstrap, topic, isolation):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        out = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def repeated_pairs(messages) -> int:
    """How many (partition, position) pairs occur more than once: what a duplicate is."""
    counts = Counter((m.partition, int(header(m, "position"))) for m in messages)
    return sum(1 for n in counts.values() if n > 1)


def test_a_relay_sigkilled_at_random_points_while_events_are_posted_delivers_each_once(kafka, tmp_path):
    home, log_path = tmp_path / "home", tmp_path / "relay.log"
    lines = distinct_lines(16_000, learners=240)
    writer = make_ledger(home)
    list(writer.post(lines[:3_000]))
    posting_done, posting_errors = threading.Event(), []

    def post_the_rest():
        try:
            for i in range(3_000, len(lines), 250):
                list(writer.post(lines[i:i + 250]))
                time.sleep(0.05)
        except Exception as error:  # surfaced below
            posting_errors.append(error)
        finally:
            posting_done.set()

    poster = threading.Thread(target=post_the_rest)
    poster.start()
    rng = random.Random(13)
    kills, at_kill = 0, []
    try:
        # Tiny transactions make kills land between a transaction's sends and its commit; big
        # ones leave each partition ending in a long aborted tail for the next relay to scan past.
        while kills < 14:
            before = commits_logged(log_path) if log_path.exists() else 0
            proc = start_relay(kafka, home, log_path, batch_size=(40, 700)[kills % 2])
            try:
                wait_until(lambda: commits_logged(log_path) > before or proc.poll() is not None, 60,
                           "the relay's first commit")
                assert proc.poll() is None, log_path.read_text()[-3000:]
                time.sleep(rng.uniform(0.0, 0.6))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            kills += 1
            at_kill.append(last_relayed_position(kafka.bootstrap, kafka.names.events))
            if kills >= 5 and repeated_pairs(all_messages(kafka.bootstrap, kafka.names.events,
                                                          "read_uncommitted")) >= 2:
                break  # at least two kills cut a transaction whose messages had reached the broker
    finally:
        poster.join(120)
    assert not posting_errors, posting_errors
    stored = writer.read(0, 1_000_000)
    assert len(stored) == 16_000
    head = writer.head_position()
    proc = start_relay(kafka, home, log_path, batch_size=500)
    try:
        wait_until(lambda: last_relayed_position(kafka.bootstrap, kafka.names.events) == head, 120,
                   "the last relay to catch up")
        assert proc.poll() is None, log_path.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    assert kills >= 5
    assert len(set(at_kill)) >= 5 and max(at_kill) < head, f"kills at positions {at_kill} missed the stream"
    aborted = repeated_pairs(all_messages(kafka.bootstrap, kafka.names.events, "read_uncommitted"))
    assert aborted >= 2, "no kill cut a transaction short: the test proved nothing"
    committed = committed_messages(kafka.bootstrap, kafka.names.events)
    assert repeated_pairs(committed) == 0, f"events committed twice after {kills} kills at positions {at_kill}"
    seen = Counter(int(header(m, "position")) for m in committed)
    missing = [e.position for e in stored if seen[e.position] == 0]
    assert missing == [], f"{len(missing)} positions never reached Kafka"
    for e in stored:  # reference data on every partition, learner events on one
        assert seen[e.position] == (kafka.partitions if e.stream == "catalog" else 1), e.position
    assert set(seen) == {e.position for e in stored}


# --- what an operator sees --------------------------------------------------------------------

def small_store(home, events=400):
    writer = make_ledger(home)
    list(writer.post(distinct_lines(events, learners=12)))
    return writer


def test_a_relay_run_before_ledger_init_names_the_missing_topic_and_the_command_that_creates_it(kafka_broker,
                                                                                               tmp_path):
    from consumers.topics import Names
    from tests.conftest import KafkaSpace

    home = tmp_path / "home"
    small_store(home)
    space = KafkaSpace(kafka_broker.bootstrap, Names(prefix="never-created."), 4)
    started = time.monotonic()
    done = subprocess.run(LEDGER + ["relay"], env=space.env(home), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert time.monotonic() - started < 20  # before: "Failed to update metadata after 30.0 secs", forever
    assert done.stderr.strip().splitlines() == [
        f"error: topic never-created.ledger.events does not exist on {kafka_broker.bootstrap}; "
        "create it with `ledger init`"]


def test_a_following_relay_says_which_topic_is_missing_until_it_exists_then_relays(kafka_broker, tmp_path):
    from consumers.topics import Names, ensure_topics
    from tests.conftest import KafkaSpace

    home, log_path = tmp_path / "home", tmp_path / "relay.log"
    writer = small_store(home)
    names = Names(prefix=f"late-{time.monotonic_ns()}.")
    space = KafkaSpace(kafka_broker.bootstrap, names, 4)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(LEDGER + ["relay", "--follow"], env=space.env(home),
                                stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: log_path.read_text().count("does not exist") >= 2 or proc.poll() is not None, 60,
                   "the relay to say the topic is missing, twice")
        assert proc.poll() is None, log_path.read_text()
        said = [line for line in log_path.read_text().splitlines() if "does not exist" in line]
        assert all(f"relay: topic {names.events} does not exist on {kafka_broker.bootstrap}; "
                   "create it with `ledger init`" in line for line in said), said
        ensure_topics(kafka_broker.bootstrap, names, event_partitions=4)
        head = writer.head_position()
        wait_until(lambda: last_relayed_position(kafka_broker.bootstrap, names.events) == head, 60,
                   "the relay to relay once the topics exist")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert "Traceback" not in log_path.read_text()


COMMITTED = re.compile(r"relay: committed positions (\d+)\.\.(\d+) \((\d+) events, (\d+) messages\) lag (\d+)$")


def test_a_relay_writing_to_a_file_logs_one_greppable_line_per_committed_batch(kafka, tmp_path):
    home = tmp_path / "home"
    writer = small_store(home, events=400)
    done = subprocess.run(LEDGER + ["relay", "--batch-size", "150"], env=kafka.env(home), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    batches = [COMMITTED.search(line) for line in done.stderr.splitlines() if "committed positions" in line]
    assert len(batches) == 3 and all(batches), done.stderr
    stored = writer.read(0, 1_000_000)
    assert [int(b[3]) for b in batches] == [150, 150, 100]
    assert sum(int(b[4]) for b in batches) == len(committed_messages(kafka.bootstrap, kafka.names.events))
    assert int(batches[0][1]) == stored[0].position and int(batches[-1][2]) == stored[-1].position
    assert int(batches[-1][5]) == 0 and int(batches[0][5]) == stored[-1].position - int(batches[0][2])


# --- signed checkpoints beside the relay --------------------------------------------------------

def test_the_relay_publishes_the_newest_signed_checkpoint_after_its_transactions(kafka, tmp_path):
    from consumers.checkpoint_publisher import read_checkpoints
    from ledger.checkpoints import last_checkpoint

    home = tmp_path / "home"
    writer = small_store(home, events=400)
    done = subprocess.run(LEDGER + ["relay", "--batch-size", "150"], env=kafka.env(home), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    newest = last_checkpoint(writer.anchor.checkpoints_file)
    published = read_checkpoints(kafka.bootstrap, kafka.names)
    assert published and published[-1] == newest
    assert newest.tree_size >= 400


def test_a_checkpoint_that_cannot_be_published_never_stops_the_relay(kafka_broker, tmp_path):
    from kafka.admin import KafkaAdminClient, NewTopic

    from consumers.topics import Names
    from tests.conftest import KafkaSpace

    names = Names(prefix=f"nocp-{time.monotonic_ns()}.")  # ledger.events, but no ledger.checkpoints
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        admin.create_topics([NewTopic(names.events, 4, 1)])
    finally:
        admin.close()
    home = tmp_path / "home"
    writer = small_store(home, events=400)
    done = subprocess.run(LEDGER + ["relay", "--batch-size", "100"], env=KafkaSpace(kafka_broker.bootstrap, names, 4)
                          .env(home), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert last_relayed_position(kafka_broker.bootstrap, names.events) == writer.read(0, 1_000_000)[-1].position
    assert f"relay: checkpoint not published to {names.checkpoints}" in done.stderr
    assert "Traceback" not in done.stderr


# --- two relays at once: a zombie and its replacement fence each other ----------------------------

def test_two_relays_running_at_once_fence_each_other_and_still_deliver_each_event_once(kafka, tmp_path):
    # Each is fenced by the other's init_transactions in turn; a fenced producer's transaction has
    # an outcome it cannot know, so it must be dropped and the position re-read, every time.
    home = tmp_path / "home"
    writer = make_ledger(home)
    list(writer.post(distinct_lines(10_000, learners=150)))
    stored = writer.read(0, 1_000_000)
    logs = [tmp_path / "relay-a.log", tmp_path / "relay-b.log"]
    procs = [start_relay(kafka, home, log, batch_size=size) for log, size in zip(logs, (300, 700))]
    try:
        wait_until(lambda: last_relayed_position(kafka.bootstrap, kafka.names.events) == stored[-1].position
                   or any(p.poll() is not None for p in procs), 180, "the two relays to finish")
        assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    # Both made a producer and both stayed alive: the later init_transactions fenced the earlier.
    started_at = [re.findall(r"producer ready; highest committed position (\d+)", log.read_text()) for log in logs]
    assert all(started_at), f"a relay never started: {started_at}"
    committed = committed_messages(kafka.bootstrap, kafka.names.events)
    assert repeated_pairs(committed) == 0, "an event was committed twice"
    seen = Counter(int(header(m, "position")) for m in committed)
    assert [e.position for e in stored if seen[e.position] != (kafka.partitions if e.stream == "catalog" else 1)] == []
