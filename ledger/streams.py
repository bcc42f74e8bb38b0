"""The aggregates kept by the eventsourcing library.

A `Stream` is one hash chain: the catalogue of reference data, or one learner's record.
Its version number is the library's optimistic-concurrency guard, so two writers can
never both append version N of a learner. A `Receipt` is stored under the client's
`event_id`; the store's primary key makes a second receipt for the same id impossible,
which is what makes posting idempotent across processes.

The module path is part of the stored topics: do not rename it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from eventsourcing.domain import Aggregate, datetime_now_with_tzinfo
from eventsourcing.utils import get_topic

from ledger.canonical import GENESIS, canonical_json, chain_hash
from ledger.events import upcast
from ledger.invariants import Catalog, LearnerFile

CATALOG_KEY = "catalog"
_NAMESPACE = uuid5(NAMESPACE_URL, "urn:mastery-ledger:stream")


def stream_key(event_kind: str, learner_id: str | None) -> str:
    return CATALOG_KEY if event_kind == "reference" else f"learner:{learner_id}"


@lru_cache(maxsize=100_000)
def stream_id(key: str) -> UUID:
    # Asked for every event posted (a SHA-1 each time); a district has this many busy learners.
    return uuid5(_NAMESPACE, key)


def _loads(body: str) -> dict[str, Any]:
    # orjson is ~4x faster (every recorded event is parsed again to update the facts), but it
    # refuses integers beyond 64 bits, which the standard parser reads.
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


class Stream(Aggregate):
    class Opened(Aggregate.Created):
        key: str

    class Recorded(Aggregate.Event):
        event_id: str
        type: str
        body: str  # canonical JSON of the event as posted, plus recorded_at
        hash: str  # chain_hash(previous hash, body)

        def apply(self, aggregate: Stream) -> None:
            aggregate.head = self.hash
            aggregate.facts.apply(upcast(_loads(self.body)))

    def __init__(self, key: str) -> None:
        self.key = key
        self.head = GENESIS
        self.facts: Catalog | LearnerFile = Catalog() if key == CATALOG_KEY else LearnerFile()

    @staticmethod
    def create_id(key: str) -> UUID:
        return stream_id(key)

    def record(self, stored: dict[str, Any], recorded_at: str) -> Stream.Recorded:
        body = canonical_json({**stored, "recorded_at": recorded_at})
        self.trigger_event(
            self.Recorded,
            event_id=stored["event_id"],
            type=stored["type"],
            body=body,
            hash=chain_hash(self.head, body),
        )
        return self.pending_events[-1]  # type: ignore[return-value]


class Receipt(Aggregate):
    class Created(Aggregate.Created):
        stream_key: str
        fingerprint: str  # sha256 of the canonical event as posted, without recorded_at

    def __init__(self, stream_key: str, fingerprint: str) -> None:
        self.stream_key = stream_key
        self.fingerprint = fingerprint

    @classmethod
    def issue(cls, event_id: UUID, stream_key: str, fingerprint: str) -> Receipt:
        return cls._create(cls.Created, id=event_id, stream_key=stream_key, fingerprint=fingerprint)


class PendingReceipt(NamedTuple):
    """A receipt decided in this batch: stored as `receipt_created`, read back as a Receipt."""

    stream_key: str
    fingerprint: str


def receipt_created(event_id: UUID, receipt: PendingReceipt) -> Receipt.Created:
    """The event `Receipt.issue(...)` records, made without the aggregate: posting issues one
    receipt per event, and creating an aggregate for each was ~15% of posting. The library's
    mapper stores it like any other event."""
    return Receipt.Created(originator_id=event_id, originator_version=Receipt.INITIAL_VERSION,
                           timestamp=datetime_now_with_tzinfo(), originator_topic=_RECEIPT_TOPIC,
                           stream_key=receipt.stream_key, fingerprint=receipt.fingerprint)


_RECEIPT_TOPIC = get_topic(Receipt)
RECORDED_TOPIC = f"{__name__}:Stream.Recorded"
