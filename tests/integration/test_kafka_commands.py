"""What an operator sees from `ledger init` and `ledger status` with Kafka: the topics' real
partition counts on the first run, and a quick one-line answer when the broker is away."""

import json
import os
import subprocess
import sys
import time
import uuid

from consumers.topics import Names, topic_specs
from tests.conftest import free_port


def ledger(env, *args):
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=120)


def test_init_reports_every_topics_partitions_on_its_first_run(kafka_broker, tmp_path):
    prefix = f"i{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "LEDGER_HOME": str(tmp_path / "home"), "LEDGER_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
           "LEDGER_KAFKA_PREFIX": prefix, "LEDGER_KAFKA_PARTITIONS": "5"}
    first = ledger(env, "init", "--json")
    assert first.returncode == 0, first.stderr
    expected = {name: spec["partitions"] for name, spec in topic_specs(Names(prefix), 5).items()}
    assert json.loads(first.stdout)["topics"] == expected  # before: evidence.submissions had 0
    text = ledger(env, "init")
    assert f"topic {prefix}evidence.submissions: 3 partitions" in text.stdout, text.stdout


def test_status_with_the_broker_down_fails_fast_in_one_line(tmp_path):
    env = {**os.environ, "LEDGER_HOME": str(tmp_path / "home"),
           "LEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # nothing listens there
    assert ledger({k: v for k, v in env.items() if k != "LEDGER_KAFKA_BOOTSTRAP"}, "init").returncode == 0
    started = time.monotonic()
    shown = ledger(env, "status")
    took = time.monotonic() - started
    assert shown.returncode != 0
    lines = shown.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Kafka at 127.0.0.1:"), shown.stderr
    assert "Traceback" not in shown.stderr
    assert lines[0].count("KafkaTimeoutError") == 1, lines[0]  # before: the exception's name, twice
    assert took < 15, f"status took {took:.1f} s with the broker down (it was 31 s)"
