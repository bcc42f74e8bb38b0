"""Relay: events/s from the store to Kafka `ledger.events` (transactions, headers, keys),
beside a bare kafka-python transactional producer sending the same bytes.

    python bench/relay.py --events 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, open_ledger, peak_rss_mib, prepared_home, rate, report, timed  # noqa: E402

BATCH = 2_000


def bare_producer_rate(bootstrap: str, topic: str, ledger) -> float:
    """The same keys and bodies sent in transactions of BATCH; only the sending is timed
    (each page is read from the store and parsed before its clock starts), so memory stays
    one page at 10M events."""
    import orjson
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id="bench-bare", enable_idempotence=True,
                             acks="all", linger_ms=5)
    producer.init_transactions()
    seconds, count, position = 0.0, 0, 0
    while True:
        positions, states = ledger.read_stored(position, BATCH)
        if not positions:
            break
        values = []
        for state in states:
            body = orjson.loads(state)["body"]
            learner = orjson.loads(body).get("learner_id")
            values.append((learner.encode() if learner else None, body.encode()))
        started = time.perf_counter()
        producer.begin_transaction()
        for key, value in values:
            producer.send(topic, key=key, value=value)
        producer.commit_transaction()
        seconds += time.perf_counter() - started
        count, position = count + len(values), positions[-1]
    producer.close()
    return rate(count, seconds)


def measure(ledger, bootstrap: str, events: int):
    """Relay the whole store into `bench.` topics and send the same bytes bare into `bare.`
    topics; report both. The `bench.` topics are left for whoever reads them next."""
    from consumers.relay import relay
    from consumers.topics import Names, ensure_topics

    names, bare_names = Names(prefix="bench."), Names(prefix="bare.")
    ensure_topics(bootstrap, names, event_partitions=6)
    ensure_topics(bootstrap, bare_names, event_partitions=6)
    seconds, run = timed(relay, ledger, bootstrap, names, batch_size=BATCH)
    ours = rate(run.events, seconds)
    bare = bare_producer_rate(bootstrap, bare_names.events, ledger)
    report(f"Relay at {events:,} events", command_line(), [
        [f"{run.events:,}", f"{run.transactions}", f"{ours:,.0f}", f"{bare:,.0f}", f"{ours / bare:.2f}"],
        ["peak RSS", "", f"{peak_rss_mib():,.0f} MiB", "", ""]],
        ["events", "transactions", "relay events/s", "bare transactional producer/s", "ratio"],
        f"Both send transactions of {BATCH:,} messages to 6 partitions; the relay also reads the store, "
        "adds six headers per message and copies reference events to every partition; the bare producer's "
        "clock runs only while it sends.")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    from consumers import kafka_broker
    from tests.conftest import broker_config

    ledger = open_ledger(prepared_home(args.events))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = broker_config(Path(tmp) / "kafka")
        kafka_broker.start(cfg, timeout=120)
        try:
            measure(ledger, cfg.bootstrap, args.events)
        finally:
            kafka_broker.stop(cfg)


if __name__ == "__main__":
    main()
