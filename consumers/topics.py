"""The project's Kafka topics and how messages on `ledger.events` are laid out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ledger.application import LoggedEvent

@dataclass(frozen=True)
class Names:
    """Topic, group and transactional ids. A prefix lets several ledgers (staging, tests)
    share one cluster without seeing each other's messages."""

    prefix: str = ""

    @classmethod
    def from_env(cls) -> Names:
        return cls(os.environ.get("LEDGER_KAFKA_PREFIX", ""))

    @property
    def events(self) -> str:
        return self.prefix + "ledger.events"

    @property
    def submissions(self) -> str:
        return self.prefix + "evidence.submissions"

    @property
    def rejected(self) -> str:
        return self.prefix + "evidence.rejected"

    @property
    def checkpoints(self) -> str:
        """Signed Merkle checkpoints of the log (consumers/checkpoint_publisher.py)."""
        return self.prefix + "ledger.checkpoints"

    @property
    def relay_transactional_id(self) -> str:
        return self.prefix + "ledger-relay"

    @property
    def ingest_group(self) -> str:
        return self.prefix + "ledger-ingest"

    @property
    def ingest_transactional_id(self) -> str:
        return self.prefix + "ledger-ingest"


def partitions() -> int:
    return int(os.environ.get("LEDGER_KAFKA_PARTITIONS", "6"))


def topic_specs(names: Names, event_partitions: int | None = None) -> dict[str, dict[str, Any]]:
    """name -> {partitions, config}. `ledger.events` keeps everything forever: it is a ledger."""
    forever = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
    return {
        names.events: {"partitions": event_partitions or partitions(), "config": forever},
        names.submissions: {"partitions": 3, "config": {"retention.ms": str(30 * 24 * 3600 * 1000)}},
        names.rejected: {"partitions": 1, "config": forever},
        names.checkpoints: {"partitions": 1, "config": forever},
    }


@dataclass(frozen=True)
class Message:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int | None  # None: chosen by the key


def messages_for(logged: LoggedEvent, body: str, partition_count: int) -> list[Message]:
    """One message per learner event, keyed by learner id; reference data (frameworks,
    courses) is copied to *every* partition, so each consumer meets it before the learner
    events that use it. Copies share the global position, so readers drop repeats."""
    headers = [
        ("position", str(logged.position).encode()),
        ("event_id", logged.event["event_id"].encode()),
        ("type", logged.event["type"].encode()),
        ("schema_version", str(logged.event["schema_version"]).encode()),
        ("hash", logged.hash.encode()),
        ("stream", logged.stream.encode()),
    ]
    value = body.encode()
    learner = logged.event.get("learner_id")
    if learner:
        return [Message(learner.encode(), value, headers, None)]
    return [Message(None, value, headers, p) for p in range(partition_count)]


def header(headers: list[tuple[str, bytes]], name: str) -> str:
    for key, value in headers:
        if key == name:
            return value.decode()
    raise KeyError(name)


def ensure_topics(bootstrap: str, names: Names, event_partitions: int | None = None) -> dict[str, int]:
    """Create the topics that are missing; returns name -> partition count of all of them."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = topic_specs(names, event_partitions)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        for name, spec in specs.items():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, spec["partitions"], 1, topic_configs=spec["config"])])
            except TopicAlreadyExistsError:
                pass  # another process created it between the listing and now
        return _described_when_ready(admin, specs, created={n for n in specs if n not in existing})
    finally:
        admin.close()


def _described_when_ready(admin: Any, specs: dict[str, dict[str, Any]], created: set[str],
                          timeout: float = 30.0) -> dict[str, int]:
    """name -> partition count, once the broker's metadata shows every topic with a leader for
    each partition (a topic just created is described with none for a moment: `ledger init`
    reported 0 partitions on a first run)."""
    import time

    from kafka.errors import KafkaTimeoutError

    deadline = time.monotonic() + timeout
    while True:
        described = {d["name"]: d for d in admin.describe_topics(list(specs))}
        counts, waiting = {}, []
        for name, spec in specs.items():
            topic = described.get(name) or {}
            parts = topic.get("partitions") or []
            counts[name] = len(parts)
            led = not topic.get("error_code") and parts and all(p.get("leader_id", -1) >= 0 for p in parts)
            if not led or (name in created and len(parts) < spec["partitions"]):
                waiting.append(name)
        if not waiting:
            return counts
        if time.monotonic() > deadline:
            raise KafkaTimeoutError(f"topics {', '.join(waiting)} have no partition leaders after {timeout:.0f} s")
        time.sleep(0.2)
