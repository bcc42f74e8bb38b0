"""Signed checkpoints onto Kafka `ledger.checkpoints`: one more place an operator does not control
alone, so a history rewritten in the store no longer matches what subscribers already hold.

`publish_checkpoint(producer, names, latest_checkpoint(reader))` is what the relay calls after each
committed transaction; a checkpoint the process has already published (same tree size and root) is
not sent again. The topic has one partition and keeps everything, so its last message is the
newest checkpoint."""

from __future__ import annotations

import json
from typing import Any

from ledger.checkpoints import Checkpoint

_published: dict[str, tuple[int, str]] = {}  # topic -> (tree size, root) last sent by this process


def publish_checkpoint(producer_or_bootstrap: Any, names: Any, checkpoint: Checkpoint | dict[str, Any] | None) -> bool:
    """Send `checkpoint` to `names.checkpoints`; True if sent. `producer_or_bootstrap`: a KafkaProducer
    (a transactional one sends in a transaction of its own, so call it between the relay's
    transactions) or a bootstrap "host:port" (a producer is made and closed here)."""
    if checkpoint is None:
        return False
    cp = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint.from_dict(checkpoint)
    topic = names.checkpoints
    if _published.get(topic) == (cp.tree_size, cp.root):
        return False
    value = cp.to_json().encode()
    headers = [("tree_size", str(cp.tree_size).encode()), ("key_id", cp.key_id.encode())]
    if isinstance(producer_or_bootstrap, str):
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=producer_or_bootstrap, acks="all", retries=5)
        try:
            producer.send(topic, key=b"checkpoint", value=value, headers=headers, partition=0).get(timeout=30)
        finally:
            producer.close()
    else:
        producer = producer_or_bootstrap
        transactional = bool(getattr(producer, "config", {}).get("transactional_id"))
        if transactional:
            producer.begin_transaction()
        try:
            future = producer.send(topic, key=b"checkpoint", value=value, headers=headers, partition=0)
            if transactional:
                producer.commit_transaction()
            else:
                future.get(timeout=30)
        except BaseException:
            if transactional:
                producer.abort_transaction()
            raise
    _published[topic] = (cp.tree_size, cp.root)
    return True


def latest_checkpoint(reader: Any) -> Checkpoint | None:
    """The newest checkpoint of the ledger a relay reads from (None for a reader without one)."""
    from ledger.checkpoints import last_checkpoint

    anchor = getattr(reader, "anchor", None)
    return last_checkpoint(anchor.checkpoints_file) if anchor is not None else None


def read_checkpoints(bootstrap: str, names: Any, timeout_ms: int = 5_000) -> list[Checkpoint]:
    """Every checkpoint on the topic, oldest first (committed messages only)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                             enable_auto_commit=False, )
    try:
        partition = TopicPartition(names.checkpoints, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        out: list[Checkpoint] = []
        import time

        deadline = time.monotonic() + timeout_ms / 1000
        while consumer.position(partition) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out += [Checkpoint.from_dict(json.loads(r.value), names.checkpoints) for r in records]
        return out
    finally:
        consumer.close()
