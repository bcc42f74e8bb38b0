"""Ingest: schools' submissions from Kafka `evidence.submissions` into the ledger.

For each polled batch: record every message through the same path as `ledger post`, then,
in one Kafka transaction, dead-letter the rejected ones (original bytes, reason in headers)
and commit the consumer offsets. A crash before that transaction commits means the batch is
read again: the ledger's receipts turn the re-recorded messages into duplicates, and the
aborted dead letters are invisible to read_committed readers. Nothing is lost or counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from consumers import topics
from consumers.resilience import until_done
from ledger.application import Ledger


@dataclass
class IngestRun:
    messages: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    reconnects: int = 0


def ingest(
    ledger: Ledger,
    bootstrap: str,
    names: topics.Names,
    *,
    follow: bool = False,
    idle_seconds: float = 3.0,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[IngestRun], None] | None = None,
) -> IngestRun:
    """Consume until caught up (idle for `idle_seconds`), or forever with `follow`."""
    run = IngestRun()
    until_done(lambda: _consume(ledger, bootstrap, names, run, follow, idle_seconds, should_stop, on_batch),
               what="ingest", should_stop=should_stop,
               on_retry=lambda: setattr(run, "reconnects", run.reconnects + 1))
    return run


def _consume(ledger, bootstrap, names, run, follow, idle_seconds, should_stop, on_batch) -> bool:
    consumer = KafkaConsumer(
        names.submissions,
        bootstrap_servers=bootstrap,
        group_id=names.ingest_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=500,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=names.ingest_transactional_id,
                             enable_idempotence=True, acks="all", max_block_ms=30_000)
    try:
        producer.init_transactions()
        idle_since = time.monotonic()
        while not should_stop():
            polled = consumer.poll(timeout_ms=500)
            records = [r for batch in polled.values() for r in batch]
            if not records:
                if not follow and time.monotonic() - idle_since > idle_seconds:
                    return True
                continue
            idle_since = time.monotonic()
            outcomes = list(ledger.post([r.value or b"" for r in records]))
            producer.begin_transaction()
            try:
                for outcome in outcomes:
                    if outcome.rejection is None:
                        continue
                    record = records[outcome.index]
                    producer.send(names.rejected, key=record.key, value=record.value, headers=[
                        ("reason", outcome.rejection.reason.encode()),
                        ("field", outcome.rejection.field.encode()),
                        ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
                    ] + list(record.headers or []))
                offsets = {}
                for r in records:
                    offsets[TopicPartition(r.topic, r.partition)] = OffsetAndMetadata(r.offset + 1, "", -1)
                producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
                producer.commit_transaction()
            except BaseException:
                try:
                    producer.abort_transaction()
                except Exception:
                    pass
                raise
            run.messages += len(records)
            for outcome in outcomes:
                setattr(run, outcome.status, getattr(run, outcome.status) + 1)
            if on_batch is not None:
                on_batch(run)
        return True
    finally:
        producer.close(timeout=5)
        consumer.close()
