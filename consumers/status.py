"""What an operator asks first: how far each part has got, and how far behind it is."""

from __future__ import annotations

from typing import Any

from consumers import topics
from consumers.relay import last_relayed_position


BOOTSTRAP_TIMEOUT_MS = 3_000
REQUEST_TIMEOUT_MS = 10_000


def kafka_status(bootstrap: str, names: topics.Names) -> dict[str, Any]:
    from kafka import KafkaConsumer, TopicPartition

    # A consumer that names the ingest group can read its committed offsets without joining it.
    # Short timeouts: an operator asking with the broker down wants to hear so in seconds.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=names.ingest_group, enable_auto_commit=False,
                             isolation_level="read_committed", bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                             request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        out: dict[str, Any] = {"bootstrap": bootstrap, "relay_position": last_relayed_position(bootstrap, names.events)}
        for name in (names.events, names.submissions, names.rejected):
            parts = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
            ends = consumer.end_offsets(parts) if parts else {}
            out[name] = {"partitions": {tp.partition: {"end_offset": ends[tp]} for tp in parts}}
            if name == names.submissions:
                for tp in parts:
                    done = consumer.committed(tp) or 0
                    out[name]["partitions"][tp.partition].update(committed=done, lag=ends[tp] - done)
                out[name]["ingest_lag"] = sum(p["lag"] for p in out[name]["partitions"].values())
        return out
    finally:
        consumer.close()
