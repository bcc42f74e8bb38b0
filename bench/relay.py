"""Relay: events/s from the store to Kafka `ledger.events` (transactions, headers, keys),
beside a bare kafka-python transactional producer sending the same bytes.

    python bench/relay.py --events 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, open_ledger, peak_rss_mib, prepared_home, rate, report, timed  # noqa: E402

BATCH = 2_000


def bare_producer_rate(bootstrap: str, topic: str, values: list[tuple[bytes | None, bytes]]) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id="bench-bare", enable_idempotence=True,
                             acks="all", linger_ms=5)
    producer.init_transactions()

    def send_all() -> None:
        for start in range(0, len(values), BATCH):
            producer.begin_transaction()
            for key, value in values[start:start + BATCH]:
                producer.send(topic, key=key, value=value)
            producer.commit_transaction()

    seconds, _ = timed(send_all)
    producer.close()
    return rate(len(values), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    from consumers import kafka_broker
    from consumers.relay import relay
    from consumers.topics import Names, ensure_topics
    from tests.conftest import broker_config

    ledger = open_ledger(prepared_home(args.events))
    events = ledger.read(0, 10**9)
    values = [(e.event["learner_id"].encode() if e.event.get("learner_id") else None, e.body.encode()) for e in events]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = broker_config(Path(tmp) / "kafka")
        kafka_broker.start(cfg, timeout=120)
        try:
            names, bare_names = Names(prefix="bench."), Names(prefix="bare.")
            ensure_topics(cfg.bootstrap, names, event_partitions=6)
            ensure_topics(cfg.bootstrap, bare_names, event_partitions=6)
            seconds, run = timed(relay, ledger, cfg.bootstrap, names, batch_size=BATCH)
            ours = rate(run.events, seconds)
            bare = bare_producer_rate(cfg.bootstrap, bare_names.events, values)
        finally:
            kafka_broker.stop(cfg)
    report(f"Relay at {args.events:,} events", command_line(), [
        [f"{run.events:,}", f"{run.transactions}", f"{ours:,.0f}", f"{bare:,.0f}", f"{ours / bare:.2f}"],
        ["peak RSS", "", f"{peak_rss_mib():,.0f} MiB", "", ""]],
        ["events", "transactions", "relay events/s", "bare transactional producer/s", "ratio"],
        f"Both send transactions of {BATCH:,} messages to 6 partitions; the relay also reads the store, "
        "adds six headers per message and copies reference events to every partition.")


if __name__ == "__main__":
    main()
