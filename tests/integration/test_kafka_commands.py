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


def test_metrics_show_the_relay_position_and_ingest_lag_when_kafka_is_configured(kafka, tmp_path, monkeypatch):
    from api.app import create_app
    from api.service import Service
    from consumers.relay import relay
    from ledger.config import Settings
    from tests import factories as f
    from tests.conftest import make_ledger

    home = tmp_path / "home"
    ledger = make_ledger(home)
    list(ledger.post([f.line(d) for d in f.setup(["L1"])] + [f.line(f.assessment("L1", days=-1))]))
    relay(ledger, kafka.bootstrap, kafka.names)
    list(ledger.post([f.line(f.assessment("L1", days=-2))]))  # recorded, not yet relayed
    monkeypatch.setenv("LEDGER_KAFKA_PREFIX", kafka.names.prefix)
    settings = Settings.load({**os.environ, "LEDGER_HOME": str(home), "LEDGER_KAFKA_BOOTSTRAP": kafka.bootstrap})
    service = Service(settings, project=False)
    try:
        app = create_app(settings, service=service)
        app.state.service = service  # what the app's startup does
        text = app.state.metrics.render().decode()
    finally:
        service.close()
    figures = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
               if line.startswith(("ledger_kafka_up", "ledger_relay_", "ledger_ingest_", "ledger_store_head"))}
    head = ledger.head_position()
    assert figures["ledger_kafka_up"] == 1.0
    assert figures["ledger_store_head_position"] == head
    assert 0 < figures["ledger_relay_position"] < head
    assert figures["ledger_relay_lag_events"] == head - figures["ledger_relay_position"]
    assert figures["ledger_ingest_lag_messages"] == 0
