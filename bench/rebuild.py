"""Replay / rebuild: events/s of `ledger project --rebuild` from the store and from Kafka,
beside a bare kafka-python consumer reading the same topic and the store's pages inserted
into DuckDB unparsed.

    python bench/rebuild.py --events 100000 [--no-kafka]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, open_ledger, peak_rss_mib, prepared_home, rate, report  # noqa: E402


def bare_consumer_rate(bootstrap: str, topic: str) -> tuple[float, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False,
                             max_poll_records=10_000, fetch_max_bytes=64 * 1024 * 1024,
                             max_partition_fetch_bytes=16 * 1024 * 1024)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    started, count = time.perf_counter(), 0
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        for records in consumer.poll(timeout_ms=500).values():
            count += len(records)
    seconds = time.perf_counter() - started
    consumer.close()
    return rate(count, seconds), count


def duckdb_direct_rate(ledger, path: Path) -> float:
    """The floor under a rebuild from the store: the same pages read from the store and
    inserted as they are (position, stored bytes) into DuckDB through Arrow, nothing parsed."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE stored (position BIGINT, state VARCHAR)")
    started, count, position = time.perf_counter(), 0, 0
    while True:
        positions, states = ledger.read_stored(position, 20_000)
        if not positions:
            break
        con.register("page", pa.table({"position": pa.array(positions, pa.int64()),
                                       "state": pa.array(states, pa.string())}))
        con.execute("INSERT INTO stored SELECT * FROM page").fetchall()
        con.unregister("page")
        count, position = count + len(positions), positions[-1]
    con.close()  # its last checkpoint is part of the work, as a rebuild's final commit is
    return rate(count, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--no-kafka", action="store_true", help="only the store and DuckDB figures")
    parser.add_argument("--with-relay", action="store_true",
                        help="also report the relay that fills the topic, beside a bare producer (relay.py's table)")
    parser.add_argument("--no-reader-alone", action="store_true", help="skip the Kafka reader without DuckDB")
    args = parser.parse_args()
    from consumers.projector import run_projections

    home = prepared_home(args.events)
    ledger = open_ledger(home)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store_run = run_projections(ledger, tmp / "store.duckdb", rebuild=True)
        store_rate = rate(store_run.events, store_run.seconds)
        rebuild_rss = peak_rss_mib()  # measured before anything else runs in this process
        direct = duckdb_direct_rate(ledger, tmp / "direct.duckdb")
        rows.append(["rebuild from the store", f"{store_run.events:,}", f"{store_rate:,.0f}",
                     "store pages inserted into DuckDB unparsed", f"{direct:,.0f}", f"{store_rate / direct:.3f}"])
        rows.append(["peak RSS of the rebuild", "", f"{rebuild_rss:,.0f} MiB", "", "", ""])
        if not args.no_kafka:
            from consumers import kafka_broker
            from consumers.kafka_reader import KafkaEventReader
            from consumers.relay import relay
            from consumers.topics import Names, ensure_topics
            from tests.conftest import broker_config

            cfg = broker_config(tmp / "kafka")
            kafka_broker.start(cfg, timeout=120)
            try:
                if args.with_relay:
                    from bench import relay as relay_bench

                    names = relay_bench.measure(ledger, cfg.bootstrap, args.events)
                else:
                    names = Names(prefix="bench.")
                    ensure_topics(cfg.bootstrap, names, event_partitions=6)
                    relay(ledger, cfg.bootstrap, names, batch_size=5_000)
                bare, messages = bare_consumer_rate(cfg.bootstrap, names.events)
                reader = KafkaEventReader(cfg.bootstrap, names)
                kafka_run = run_projections(reader, tmp / "kafka.duckdb", rebuild=True)
                reader.close()
                if not args.no_reader_alone:
                    # The reader alone (no DuckDB): the share of the bare consumer's speed it keeps.
                    reader = KafkaEventReader(cfg.bootstrap, names)
                    started, count, position = time.perf_counter(), 0, 0
                    while batch := reader.read(position, 20_000):
                        count, position = count + len(batch), batch[-1].position
                    read_rate = rate(count, time.perf_counter() - started)
                    reader.close()
            finally:
                kafka_broker.stop(cfg)
            kafka_rate = rate(kafka_run.events, kafka_run.seconds)
            rows.append(["rebuild from Kafka", f"{kafka_run.events:,}", f"{kafka_rate:,.0f}",
                         f"bare kafka-python consumer ({messages:,} messages)", f"{bare:,.0f}", f"{kafka_rate / bare:.3f}"])
            if not args.no_reader_alone:
                rows.append(["Kafka reader alone (merge, upcast)", f"{count:,}", f"{read_rate:,.0f}",
                             "bare kafka-python consumer", f"{bare:,.0f}", f"{read_rate / bare:.3f}"])
    rows.append(["peak RSS of the whole run", "", f"{peak_rss_mib():,.0f} MiB", "", "", ""])
    report(f"Rebuild at {args.events:,} events", command_line(), rows,
           ["what", "events", "events/s", "baseline", "baseline/s", "ratio"])


if __name__ == "__main__":
    main()
