"""The relay's signed checkpoints: after each committed transaction, the newest checkpoint of
the store's Merkle tree goes to `ledger.checkpoints` (consumers/checkpoint_publisher.py).

It runs beside the relay, never in its way: a thread of its own with a plain producer of its
own, so a checkpoint that cannot be sent (the topic missing, the broker slow) neither holds up
a relay transaction nor disturbs the transactional producer. A failure is logged and the
newest checkpoint is tried again after the next batch."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("ledger.relay")


class CheckpointSender:
    def __init__(self, reader: Any, bootstrap: str, names: Any) -> None:
        self.reader, self.bootstrap, self.names = reader, bootstrap, names
        self.signs = getattr(reader, "anchor", None) is not None  # a ledger keeps checkpoints; other readers none
        self.producer = None
        self.failed = False
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def after_commit(self) -> None:
        """Ask for the newest checkpoint to be sent; returns at once."""
        if not self.signs:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="relay-checkpoints", daemon=True)
            self._thread.start()
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._drop_producer()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.send_newest()  # on close too: the last batch's checkpoint goes out before the relay ends
            if self._stop:
                return

    def send_newest(self) -> bool:
        """True if a new checkpoint went out; never raises."""
        try:
            from kafka import KafkaProducer

            from consumers.checkpoint_publisher import latest_checkpoint, publish_checkpoint

            checkpoint = latest_checkpoint(self.reader)
            if checkpoint is None:
                return False
            if self.producer is None:
                self.producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", max_block_ms=10_000)
            sent = publish_checkpoint(self.producer, self.names, checkpoint)
            if sent:
                log.info("relay: checkpoint published to %s: tree size %d, log position %d",
                         self.names.checkpoints, checkpoint.tree_size, checkpoint.log_position)
            self.failed = False
            return sent
        except Exception as error:  # noqa: BLE001 - whatever it was, the relay goes on without it
            if not self.failed:
                log.warning("relay: checkpoint not published to %s (%s: %s); trying again after the next batch",
                            getattr(self.names, "checkpoints", "ledger.checkpoints"), type(error).__name__, error)
            self.failed = True
            self._drop_producer()
            return False

    def _drop_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                producer.close(timeout=2)
            except Exception:  # noqa: BLE001
                pass
