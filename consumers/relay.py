"""Relay: the store's notification log to Kafka `ledger.events`, exactly once.

Each batch is one Kafka transaction, and every message carries its global position. The
relay keeps no position of its own: on start it reads the highest position committed to the
topic (read_committed), so whatever a crash interrupted is either wholly in the topic or
wholly absent, and the next run continues right after it. A fixed transactional id fences
a zombie relay still holding an open transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from consumers import topics
from consumers.resilience import until_done
from ledger.log import EventReader


@dataclass
class RelayRun:
    events: int = 0
    messages: int = 0
    transactions: int = 0
    position: int = 0
    reconnects: int = 0


def last_relayed_position(bootstrap: str, topic: str) -> int:
    """The highest `position` header among committed messages of `topic` (0 if none)."""
    # An offset out of range (a broker still loading its logs) must rewind, not jump to the end:
    # reading more can only find the true highest position, skipping could make it look lower.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                             enable_auto_commit=False, consumer_timeout_ms=2000, auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not parts:
            return 0
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        best = 0
        for tp in parts:
            # The newest offsets may be transaction markers, not messages: look further back
            # until a message turns up.
            window = 64
            while ends[tp] > 0:
                start = max(ends[tp] - window, 0)
                found = _max_position(consumer, tp, start, ends[tp])
                if found is not None:
                    best = max(best, found)
                    break
                if start == 0:
                    break
                window *= 8
        return best
    finally:
        consumer.close()


def _max_position(consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int,
                  seconds: float = 30.0) -> int | None:
    """The highest position among committed messages of `tp` in [start, end); None if there are
    only markers or aborted messages there. Raises if the range could not be read in time."""
    consumer.seek(tp, start)
    best = None
    deadline = time.monotonic() + seconds
    while consumer.position(tp) < end:
        if time.monotonic() >= deadline:
            # A partition read short (a broker just back, a leader not yet elected) must not
            # look empty: the relay would start behind what it already sent and send it twice.
            raise KafkaTimeoutError(f"could not read {tp.topic}[{tp.partition}] up to offset {end} "
                                    f"in {seconds:.0f} s")
        for records in consumer.poll(timeout_ms=500, max_records=5000).values():
            for record in records:
                if record.offset < end:
                    position = int(topics.header(record.headers, "position"))
                    best = position if best is None else max(best, position)
    return best


def relay(
    reader: EventReader,
    bootstrap: str,
    names: topics.Names,
    *,
    follow: bool = False,
    batch_size: int = 2_000,
    poll_seconds: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RelayRun:
    """Publish every recorded event after the last relayed one. Survives broker restarts."""
    run = RelayRun()

    def step() -> bool:
        _relay_until_caught_up(reader, bootstrap, names, run, batch_size, progress, should_stop)
        if follow:
            time.sleep(poll_seconds)
        return not follow

    until_done(step, what="relay", should_stop=should_stop, on_retry=lambda: setattr(run, "reconnects",
                                                                                     run.reconnects + 1))
    return run


def _relay_until_caught_up(reader, bootstrap, names, run, batch_size, progress, should_stop) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=names.relay_transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_block_ms=30_000,
    )
    try:
        producer.init_transactions()
        partition_count = len(producer.partitions_for(names.events))
        run.position = last_relayed_position(bootstrap, names.events)
        while not should_stop():
            batch = reader.read(after=run.position, limit=batch_size)
            if not batch:
                return
            producer.begin_transaction()
            sent = 0
            try:
                for logged in batch:
                    for m in topics.messages_for(logged, logged.body, partition_count):
                        producer.send(names.events, key=m.key, value=m.value, headers=m.headers,
                                      partition=m.partition)
                        sent += 1
                producer.commit_transaction()
            except BaseException:
                _abort_quietly(producer)
                raise
            run.transactions += 1
            run.messages += sent
            run.events += len(batch)
            run.position = batch[-1].position
            if progress is not None:
                progress(run.position, max(run.position, reader.head_position()))
    finally:
        producer.close(timeout=5)


def _abort_quietly(producer: KafkaProducer) -> None:
    try:
        producer.abort_transaction()
    except Exception:  # the broker may be gone; init_transactions on restart aborts it anyway
        pass
