"""A plain kafka-python consumer, as any downstream team would write one: the yardstick
the relay is judged by."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition


def committed_messages(bootstrap: str, topic: str) -> list:
    """Every committed message of `topic`, partition by partition, in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend(records)
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def header(record, name: str) -> str:
    return dict(record.headers)[name].decode()
