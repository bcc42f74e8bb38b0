"""Ingest: schools' submissions from Kafka `evidence.submissions` into the ledger.

For each polled batch: record every message through the same path as `ledger post`, then,
in one Kafka transaction, dead-letter the rejected ones (original bytes, reason in headers)
and commit the consumer offsets. A crash before that transaction commits means the batch is
read again: the ledger's receipts turn the re-recorded messages into duplicates, and the
aborted dead letters are invisible to read_committed readers. Nothing is lost or counted twice.

Submissions are keyed by learner id (reference data, which has none, by `catalog`): Kafka keeps
order within a partition only, so one learner's events must share one, or two versions of an
event posted in order could be recorded in either order. A message keyed otherwise, or not at
all, is dead-lettered with that reason.

A message is never fatal: whatever one message makes go wrong (a parser's limit, a bug) is its
rejection, dead-lettered with the reason, and the ingest carries on. Only conditions of the
store or the broker, which no message causes, stop a batch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from eventsourcing.persistence import PersistenceError
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from consumers import topics
from consumers.resilience import until_done
from ledger.application import Ledger, Outcome
from ledger.intake import Rejection, Submission, parse

log = logging.getLogger(__name__)

CATALOG_KEY = "catalog"  # the key of reference data (frameworks, courses), which has no learner
# Not a message's doing: the batch stops (and is read again), nothing is dead-lettered for it.
OPERATIONAL = (PersistenceError, sqlite3.Error, OSError, KafkaError, MemoryError)


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


def expected_key(submission: Submission) -> str:
    return submission.event.learner_id or CATALOG_KEY


def admit(value: bytes | None, key: bytes | None) -> Submission | Rejection:
    """A message's submission, or why it is refused (its content first, then its key)."""
    try:
        parsed = parse(value or b"")
    except Exception as error:  # the door refuses by reason; this is for what it did not foresee
        return Rejection("", f"could not be read: {type(error).__name__}: {error}")
    if isinstance(parsed, Rejection):
        return parsed
    wanted = expected_key(parsed)
    why = (f"submissions are keyed by learner id ({wanted!r} for this one; reference data by "
           f"{CATALOG_KEY!r}) so that one learner's events keep the order they were sent in")
    if key is None:
        return Rejection("key", f"the message has no key; {why}")
    shown = key.decode("utf-8", "replace")
    if shown != wanted:
        return Rejection("key", f"key {shown!r} is not {wanted!r}; {why}")
    return parsed


def record_messages(ledger: Ledger, records: list) -> list[Outcome]:
    """One outcome per record, in order. If recording the batch fails for a reason that is not the
    store's or the broker's, each message is recorded alone, so the one at fault is rejected with
    what went wrong and its neighbours are recorded."""
    parsed = [admit(r.value, r.key) for r in records]
    try:
        return list(ledger.record(parsed))
    except OPERATIONAL:
        raise
    except Exception as error:
        log.warning("ingest: recording a batch of %d failed (%s: %s); recording its messages one by one",
                    len(records), type(error).__name__, error)
    outcomes = []
    for index, item in enumerate(parsed):
        try:
            [outcome] = ledger.record([item])
            outcomes.append(Outcome(index, outcome.status, outcome.event_id, outcome.rejection))
        except OPERATIONAL:
            raise
        except Exception as error:
            event_id = str(item.event.event_id) if isinstance(item, Submission) else None
            outcomes.append(Outcome(index, "rejected", event_id,
                                    Rejection("", f"could not be recorded: {type(error).__name__}: {error}")))
    return outcomes


def dead_letter_headers(record, rejection: Rejection) -> list[tuple[str, bytes]]:
    return [
        ("reason", rejection.reason.encode()),
        ("field", rejection.field.encode()),
        ("problems", json.dumps(rejection.as_dicts()).encode()),  # every problem, the first included
        ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    ] + list(record.headers or [])


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
            outcomes = record_messages(ledger, records)
            producer.begin_transaction()
            try:
                for outcome in outcomes:
                    if outcome.rejection is None:
                        continue
                    record = records[outcome.index]
                    producer.send(names.rejected, key=record.key, value=record.value,
                                  headers=dead_letter_headers(record, outcome.rejection))
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
            counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
            for outcome in outcomes:
                counts[outcome.status] += 1
            for status, count in counts.items():
                setattr(run, status, getattr(run, status) + count)
            _log_batch(consumer, offsets, counts)
            if on_batch is not None:
                on_batch(run)
        return True
    finally:
        producer.close(timeout=5)
        consumer.close()


def _log_batch(consumer: KafkaConsumer, offsets: dict, counts: dict[str, int]) -> None:
    """One greppable line per committed batch: offsets per partition, outcomes, lag."""
    if not log.isEnabledFor(logging.INFO):
        return
    parts = [f"{tp.partition}:{committed.offset}"
             for tp, committed in sorted(offsets.items(), key=lambda item: item[0].partition)]
    lag = 0
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)  # known from the last fetch: no request to the broker
        if highwater is not None:
            done = offsets[tp].offset if tp in offsets else consumer.position(tp)
            lag += max(highwater - (done or 0), 0)
    log.info("ingest: batch committed offsets=%s accepted=%d duplicate=%d rejected=%d lag=%d",
             ",".join(parts), counts["accepted"], counts["duplicate"], counts["rejected"], lag)
