"""The reader interface served by Kafka: `ledger.events` merged back into global order.

Within a partition the relay wrote positions in increasing order, and each relay batch is
one transaction, so with `read_committed` the partitions together always hold a gap-free
prefix of the log. Merging the partitions by position (k-way) restores the global order;
the copies of reference data that the relay put on every partition share a position and
are passed on once.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from consumers import topics
from consumers.relay import last_relayed_position
from ledger.application import LoggedEvent
from ledger.events import upcast


class KafkaEventReader:
    # What a follower rides out by backing off and reading again from its own position: the
    # broker went away. Its head costs a scan of every partition's tail: ask it now and then.
    retryable_errors = (KafkaError,)
    head_refresh_seconds = 5.0

    def __init__(self, bootstrap: str, names: topics.Names, poll_timeout_ms: int = 500) -> None:
        topic = names.events
        self.bootstrap, self.topic, self.poll_timeout_ms = bootstrap, topic, poll_timeout_ms
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=10_000,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        self.partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        if not self.partitions:
            raise RuntimeError(f"topic {topic} does not exist on {bootstrap}; run `ledger init`")
        self.consumer.assign(self.partitions)
        self.buffers: dict[TopicPartition, deque] = {tp: deque() for tp in self.partitions}
        self.emitted = -1  # the last position handed out; -1: not positioned yet

    def head_position(self) -> int:
        return last_relayed_position(self.bootstrap, self.topic)

    def close(self) -> None:
        self.consumer.close()

    def read(self, after: int = 0, limit: int = 10_000) -> list[LoggedEvent]:
        out = []
        for position, record in self._merged(after, limit):
            body = record.value.decode()
            out.append(LoggedEvent(position, topics.header(record.headers, "stream"),
                                   topics.header(record.headers, "hash"), upcast(orjson.loads(body)), body))
        return out

    def read_bodies(self, after: int = 0, limit: int = 10_000) -> tuple[list[int], list[str], list[str]]:
        """`read`, unparsed: positions, hashes and stored bodies, for a rebuild to hand to DuckDB."""
        merged = self._merged(after, limit)
        return ([position for position, _ in merged], [topics.header(r.headers, "hash") for _, r in merged],
                [r.value.decode() for _, r in merged])

    def _merged(self, after: int, limit: int) -> list[tuple[int, Any]]:
        if after != self.emitted:
            # A reader that jumps is re-positioned by scanning from the start; projections
            # only ever continue where they stopped, so this happens once per process.
            self.consumer.seek_to_beginning(*self.partitions)
            for buffer in self.buffers.values():
                buffer.clear()
            self.emitted = after
        ends = self.consumer.end_offsets(self.partitions)
        confirmed = True  # `ends` were read after the last poll
        out: list[tuple[int, Any]] = []
        deadline = time.monotonic() + 30
        while len(out) < limit:
            waiting = [tp for tp in self.partitions
                       if not self.buffers[tp] and self.consumer.position(tp) < ends[tp]]
            if waiting:
                if time.monotonic() > deadline:
                    break
                self._fill()
                confirmed = False
                continue
            if not confirmed and not all(self.buffers.values()):
                # A transaction's commit markers reach the partitions one by one: a partition that
                # looked read to its end may be about to show the same transaction the others did
                # (passing its lower positions over now would drop them). Ask again, after the poll.
                ends, confirmed = self.consumer.end_offsets(self.partitions), True
                continue
            heads = [tp for tp in self.partitions if self.buffers[tp]]
            if not heads:
                break
            tp = min(heads, key=lambda t: self.buffers[t][0][0])
            position, record = self.buffers[tp].popleft()
            if position <= self.emitted:
                continue  # a copy of reference data already passed on, or before `after`
            out.append((position, record))
            self.emitted = position
        return out

    def _fill(self) -> None:
        # No pause/resume of the partitions that still have records: with kafka-python
        # 3.0.12 a resumed partition was seen to stop fetching altogether. The relay spreads
        # every transaction over all partitions, so they fill at about the same pace.
        for tp, records in self.consumer.poll(timeout_ms=self.poll_timeout_ms).items():
            buffer = self.buffers[tp]
            for record in records:
                buffer.append((int(topics.header(record.headers, "position")), record))
