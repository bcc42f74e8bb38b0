"""Reading the dead-letter topic `evidence.rejected`: what ingest refused, why, and the bytes.

Ingest writes each dead letter in the transaction that commits its batch, so only committed
ones are read (an aborted batch is re-read and dead-lettered again). The topic is read from its
beginning to the end it had when the read started, then the reader stops.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from consumers import topics


class DeadLetterError(Exception):
    pass


def read_dead_letters(bootstrap: str, names: topics.Names, *, limit: int | None = None,
                      timeout: float = 30.0) -> tuple[int, list[dict[str, Any]]]:
    """(how many dead letters there are, the last `limit` of them, oldest first)."""
    from kafka import KafkaConsumer, TopicPartition

    # No group: reading the dead letters must not move anyone's offsets; and asking about a missing
    # topic must not create it.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             isolation_level="read_committed", allow_auto_create_topics=False)
    try:
        found = consumer.partitions_for_topic(names.rejected)
        if not found:
            raise DeadLetterError(f"topic {names.rejected} does not exist on {bootstrap}; "
                                  "`ledger init` creates it")
        parts = [TopicPartition(names.rejected, p) for p in sorted(found)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        # Under read_committed the end offset is the last stable one: nothing past an open transaction.
        ends = consumer.end_offsets(parts)
        kept: deque[dict[str, Any]] = deque(maxlen=limit)
        total = 0
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise DeadLetterError(f"reading {names.rejected} did not reach its end within {timeout:.0f} s")
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    if record.offset >= ends[TopicPartition(record.topic, record.partition)]:
                        continue
                    total += 1
                    kept.append(_letter(record))
        return total, list(kept)
    finally:
        consumer.close()


def _letter(record: Any) -> dict[str, Any]:
    headers: dict[str, bytes] = {}
    for key, value in record.headers or []:  # ingest's own headers come first; the submission's follow
        headers.setdefault(key, value)

    def text(name: str) -> str | None:
        value = headers.pop(name, None)
        return value.decode("utf-8", "replace") if value is not None else None

    return {"partition": record.partition, "offset": record.offset, "timestamp_ms": record.timestamp,
            "source": text("source"), "reason": text("reason"), "field": text("field") or None,
            "key": record.key, "value": record.value or b"",
            "headers": {k: v.decode("utf-8", "replace") for k, v in headers.items()}}
