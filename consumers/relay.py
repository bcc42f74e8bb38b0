"""Relay: the store's notification log to Kafka `ledger.events`, exactly once.

Each batch is one Kafka transaction, and every message carries its global position. The
relay keeps no position of its own: it reads the highest position committed to the topic
(read_committed), so whatever a crash interrupted is either wholly in the topic or wholly
absent, and the relay continues right after it. A fixed transactional id fences a zombie
relay still holding an open transaction.

A producer that met any error is never used again. A commit that failed may still have
happened (a timeout, a broker restart: its outcome is unknown), so neither retrying the
batch nor skipping it is safe; a new producer with the same transactional id resolves the
old transaction in `init_transactions`, and the relay re-reads what was committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError

from consumers import topics
from consumers.relay_checkpoints import CheckpointSender
from consumers.resilience import until_done
from ledger.log import EventReader

log = logging.getLogger("ledger.relay")


class TopicMissing(Exception):
    """`ledger.events` is not on the broker: the relay would wait on its metadata forever."""

    def __init__(self, topic: str, bootstrap: str) -> None:
        super().__init__(f"topic {topic} does not exist on {bootstrap}; create it with `ledger init`")
        self.topic = topic


class UnsentMessages(KafkaError):
    """A message of the open transaction was never acknowledged: the transaction must not commit."""

    retriable = True


@dataclass
class RelayRun:
    events: int = 0
    messages: int = 0
    transactions: int = 0
    position: int = 0
    reconnects: int = 0


def _scan_consumer(bootstrap: str) -> KafkaConsumer:
    # An offset out of range (a broker still loading its logs) must rewind, not jump to the end:
    # reading more can only find the true highest position, skipping could make it look lower.
    return KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                         enable_auto_commit=False, auto_offset_reset="earliest")


def last_relayed_position(bootstrap: str, topic: str, *, seconds: float = 30.0) -> int:
    """The highest `position` header among committed messages of `topic` (0 if none or no topic)."""
    consumer = _scan_consumer(bootstrap)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        return max((_partition_max(consumer, TopicPartition(topic, p), seconds) for p in partitions), default=0)
    finally:
        consumer.close()


def require_topic(bootstrap: str, topic: str) -> None:
    consumer = _scan_consumer(bootstrap)
    try:
        if not consumer.partitions_for_topic(topic):
            raise TopicMissing(topic, bootstrap)
    finally:
        consumer.close()


def _partition_max(consumer: KafkaConsumer, tp: TopicPartition, seconds: float) -> int:
    """The highest committed position in one partition, read from its end backwards.

    The consumer is assigned this partition alone, so nothing polled can belong to another.
    Under read_committed the end offset is the last stable offset, the furthest such a consumer
    can ever get; the offsets just below it may be an abort marker and aborted messages, which
    are never returned, so the window widens until a committed message turns up."""
    consumer.assign([tp])
    end = consumer.end_offsets([tp])[tp]
    window = 64
    while end > 0:
        start = max(end - window, 0)
        found = _max_position(consumer, tp, start, end, seconds)
        if found is not None:
            return found
        if start == 0:
            return 0
        window *= 8
    return 0


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
        for polled, records in consumer.poll(timeout_ms=500, max_records=5000).items():
            if polled != tp:
                continue
            for record in records:
                if record.offset < end:
                    position = int(topics.header(record.headers, "position"))
                    best = position if best is None else max(best, position)
    return best


class _Session:
    """One producer's life: fenced in, positioned from what Kafka committed, dropped on any error."""

    def __init__(self, bootstrap: str, names: topics.Names) -> None:
        require_topic(bootstrap, names.events)
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            transactional_id=names.relay_transactional_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_block_ms=30_000,
        )
        try:
            # Completes or aborts whatever an earlier producer with this id left open, so the
            # scan below sees every transaction that will ever be committed under it.
            self.producer.init_transactions()
            self.partition_count = len(self.producer.partitions_for(names.events))
            self.position = last_relayed_position(bootstrap, names.events)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            self.producer.close(timeout=5)
        except Exception:  # noqa: BLE001 - a producer being discarded may fail to close on a dead broker
            pass


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
    """Publish every recorded event after the last relayed one. Survives broker restarts.

    Without `follow` a missing topic raises TopicMissing; with it the relay says so and waits.
    After each committed transaction the newest signed checkpoint is sent to `ledger.checkpoints`
    beside the relay (consumers/relay_checkpoints.py): never in the way of the next transaction."""
    run = RelayRun()
    session: _Session | None = None
    checkpoints = CheckpointSender(reader, bootstrap, names)

    def step() -> bool:
        nonlocal session
        if session is None:
            try:
                session = _Session(bootstrap, names)
            except TopicMissing as missing:
                if not follow:
                    raise
                log.warning("relay: %s; retrying in 5 s", missing)
                _sleep(5.0, should_stop)
                return False
            run.position = session.position
            log.info("relay: producer ready; highest committed position %d", run.position)
        try:
            _relay_until_caught_up(reader, session, names, run, batch_size, progress, should_stop,
                                   checkpoints.after_commit)
        except BaseException:
            session.close()
            session = None
            raise
        if follow:
            _sleep(poll_seconds, should_stop)
        return not follow

    try:
        until_done(step, what="relay", should_stop=should_stop,
                   on_retry=lambda: setattr(run, "reconnects", run.reconnects + 1))
    finally:
        if session is not None:
            session.close()
        checkpoints.close()
    return run


def _relay_until_caught_up(reader, session, names, run, batch_size, progress, should_stop, after_commit) -> None:
    producer = session.producer
    while not should_stop():
        batch = reader.read(after=run.position, limit=batch_size)
        if not batch:
            return
        first, last = batch[0].position, batch[-1].position
        futures = []
        try:
            producer.begin_transaction()
            for logged in batch:
                for m in topics.messages_for(logged, logged.body, session.partition_count):
                    futures.append(producer.send(names.events, key=m.key, value=m.value, headers=m.headers,
                                                 partition=m.partition))
            # kafka-python fails a batch that ran out of retries or time without marking the
            # transaction failed, so a commit could succeed without it: a hole in the topic that
            # no scan can see. Every message must be acknowledged before the commit is asked for.
            _flush(producer)
            unsent = next((f for f in futures if not f.succeeded()), None)
            if unsent is not None:
                raise UnsentMessages(f"{sum(not f.succeeded() for f in futures)} of {len(futures)} messages "
                                     f"not acknowledged: {unsent.exception if unsent.is_done else 'no answer'}")
            producer.commit_transaction()
        except KafkaError as error:
            # No abort: after a failed commit it could not tell us anything, and the next
            # producer's init_transactions settles the transaction either way.
            log.warning("relay: transaction for positions %d..%d failed (%s: %s); its outcome is unknown "
                        "until a new producer settles it: re-initialising and re-reading the committed position",
                        first, last, type(error).__name__, error)
            raise
        run.transactions += 1
        run.messages += len(futures)
        run.events += len(batch)
        run.position = last
        head = max(last, reader.head_position())
        log.info("relay: committed positions %d..%d (%d events, %d messages) lag %d",
                 first, last, len(batch), len(futures), head - last)
        after_commit()
        if progress is not None:
            progress(last, head)


def _flush(producer: KafkaProducer, seconds: float = 60.0) -> None:
    """Wait until every message sent is acknowledged or failed, but not forever: kafka-python
    3.0.12 never completes the messages of a producer that was fenced (another relay, or the
    coordinator aborting a transaction that outlived transaction.timeout.ms), so a plain flush()
    hung the relay for good (seen with two relays). The transaction manager's error state is asked
    between short waits; past the transaction timeout (60 s) the coordinator aborts it anyway, so
    giving up then costs only a redo by a new producer."""
    manager = getattr(producer, "_transaction_manager", None)
    deadline = time.monotonic() + seconds
    while True:
        try:
            producer.flush(timeout=1.0)
            return
        except KafkaTimeoutError:
            if manager is not None and manager.has_error():
                error = manager.last_error
                raise error if isinstance(error, KafkaError) else UnsentMessages(f"producer failed: {error}")
            if time.monotonic() >= deadline:
                raise


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
