"""The ledger application: records submissions, serves the log, verifies the chains."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from ledger.canonical import GENESIS, chain_hash
from ledger.config import ConfigError, PostgresStore, Settings
from ledger.credit.log import recorded_history
from ledger.events import upcast
from ledger.intake import Rejection, Submission, parse
from ledger.personal_data import ERASURE_TYPE, person_of
from ledger.shredding import Shredder
from ledger.disclosures import DisclosureLog, current_reader, disclose
from ledger.store_queries import first_events, stream_versions
from ledger.streams import (CATALOG_KEY, RECORDED_TOPIC, PendingReceipt, Receipt, Stream, receipt_created,
                            stream_id, stream_key)
from ledger.transcoder import OrjsonTranscoder
from ledger.anchor import Anchor
from ledger.verification import VerifyReport, verify_log

Status = Literal["accepted", "duplicate", "rejected"]

# Lines are recorded in transactions of this many; a crash loses at most the open one,
# which the client re-posts and the receipts turn into duplicates.
BATCH_SIZE = 500
MAX_CONCURRENCY_RETRIES = 50
_RECEIPT_EVENT_TOPIC = get_topic(Receipt.Created)  # a receipt's one stored event (not a stream's first)


@dataclass(frozen=True)
class Outcome:
    index: int  # position of the submission in what was posted, from 0
    status: Status
    event_id: str | None = None
    rejection: Rejection | None = None


@dataclass(frozen=True)
class LoggedEvent:
    """One recorded event as downstream readers see it: upcast, in global order."""

    position: int
    stream: str
    hash: str
    event: dict[str, Any]
    body: str = ""  # the stored canonical JSON, as hashed (before upcasting)


def store_env(settings: Settings) -> dict[str, str]:
    if settings.is_sqlite:
        Path(settings.store).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": settings.store,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    # PostgreSQL, through eventsourcing's own recorder. The server is asked once here, so that a wrong
    # or unreachable store is a one-line ConfigError rather than a connection pool timing out later;
    # a schema named in the URL is created if it is missing (eventsourcing creates only the tables).
    #
    # Opening a store that is already there runs no DDL: eventsourcing's create_table replaces its
    # insert function on every start, and two processes doing that at once make one of them fail
    # ("tuple concurrently updated"). Each application's table is <name>_events, so creation is
    # turned off per application (<NAME>_CREATE_TABLE=n, which eventsourcing reads before CREATE_TABLE)
    # for the tables found complete; an application whose table is missing still creates it.
    pg = PostgresStore.parse(settings.store)
    try:
        import psycopg
    except ImportError:
        raise ConfigError(f"LEDGER_STORE={pg.shown!r}: the PostgreSQL store needs psycopg "
                          "(pip install 'psycopg[binary]' psycopg_pool)") from None
    try:
        with pg.connect(create_schema=True) as conn:
            complete = conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND c.relname LIKE '%%\\_events'"
                " AND EXISTS (SELECT FROM pg_type t WHERE t.typnamespace = n.oid AND t.typname = 'stored_event_uuid')"
                " AND EXISTS (SELECT FROM pg_proc p WHERE p.pronamespace = n.oid"
                "             AND p.proname = 'es_insert_events_uuid')",
                {"schema": pg.schema or "public"}).fetchall()
    except psycopg.Error as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(f"LEDGER_STORE={pg.shown!r}: cannot use this PostgreSQL store: {reason}") from None
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": pg.dbname,
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password,
        "POSTGRES_SCHEMA": pg.schema,
        "POSTGRES_CONNECT_TIMEOUT": str(pg.connect_timeout),
        "CREATE_TABLE": "y",
        # eventsourcing opens five connections per application up front; a CLI command needs one
        # and a server's threads share a lock for writing, so start small and grow on demand.
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "8",
        **{f"{table.removesuffix('_events').upper()}_CREATE_TABLE": "n" for (table,) in complete},
    }


class Ledger(Application):
    name = "ledger"

    def __init__(self, settings: Settings | None = None, env: dict[str, str] | None = None) -> None:
        settings = settings or Settings.load()
        super().__init__(
            env={
                # Learner records are small; keeping the busy ones warm saves re-reading
                # their streams. No fast-forward query on every cache hit: a stream another
                # process has appended to fails to save (its version is taken), and
                # _record_batch then evicts it and decides again against the stored stream.
                "AGGREGATE_CACHE_MAXSIZE": "20000",
                "AGGREGATE_CACHE_FASTFORWARD": "n",
                # No copy on every read of the cache: _record_batch evicts what it did not save.
                "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
                **store_env(settings),
                **(env or {}),
            }
        )
        # The Merkle tree over the log and its signed checkpoints (ledger.anchor), kept in the home.
        self.anchor = Anchor.for_settings(settings)
        # Per-person data keys (ledger.shredding): personal fields are encrypted before hashing.
        self.shredder = Shredder.for_settings(settings)
        self.settings = settings
        if self.shredder.keys.pending():  # an erasure a crash interrupted is rolled forward first
            from ledger.erasure import finish_pending
            finish_pending(self)

    def close(self) -> None:
        self.shredder.keys.close()
        if "disclosure_log" in self.__dict__:
            self.disclosure_log.close()
        super().close()

    @cached_property
    def disclosure_log(self) -> DisclosureLog:
        """The record of disclosures (ledger.disclosures), opened on first use."""
        return DisclosureLog(self.settings)

    def construct_transcoder(self) -> OrjsonTranscoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    # --- writing ---------------------------------------------------------------------

    def post(self, raws: Iterable[bytes | str], *, now: datetime | None = None) -> Iterator[Outcome]:
        """Record JSON documents; yields one outcome per document, in order."""
        return self.record(parse(raw, now=now) for raw in raws)

    def record(self, parsed: Iterable[Submission | Rejection]) -> Iterator[Outcome]:
        """`post` for documents already validated at the door (`ledger.intake.parse`)."""
        batch: list[tuple[int, Submission | Rejection]] = []
        for index, item in enumerate(parsed):
            batch.append((index, item))
            if len(batch) >= BATCH_SIZE:
                yield from self._record_batch(batch)
                batch = []
        if batch:
            yield from self._record_batch(batch)

    # Set once a batch meets an event id already recorded: a file re-posted is duplicates from
    # there on, so later batches look their receipts up first (one query) instead of deciding
    # every line as new, failing on the receipts' primary key and deciding the batch again.
    _repeats_expected = False

    def _record_batch(self, batch: list[tuple[int, Submission | Rejection]]) -> list[Outcome]:
        # Otherwise assume every event id is new: the store's primary key on receipts catches
        # the ones that are not, and looking receipts up is the biggest cost of posting new lines.
        look_up_receipts = self._repeats_expected
        from_store = False
        for attempt in range(MAX_CONCURRENCY_RETRIES):
            streams: dict[str, Stream] = {}
            try:
                outcomes, changed, receipts, refused = self._decide(batch, streams, look_up_receipts)
                if look_up_receipts:
                    self._repeats_expected = any(o.status == "duplicate" for o in outcomes)
                if refused and not from_store and self._moved(refused, streams):
                    # Cached streams are not fast-forwarded: before refusing an event for what a
                    # record says, make sure the record is still what the store holds (another
                    # process may have enrolled the learner or assigned the advisor since this one
                    # cached them). Only when one of the refusing records has moved is the batch
                    # decided again from the store; otherwise the refusals stand as decided.
                    self._forget(streams)
                    from_store = True
                    continue
                if changed or receipts:
                    self._save(changed, receipts)
            except IntegrityError:
                # A repeated event id, or another writer appended to one of these streams
                # first: decide again against what is now stored, looking every receipt up.
                self._forget(streams)
                look_up_receipts = self._repeats_expected = True
                # Without a random pause two busy writers can keep colliding in lockstep.
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 25)))
                continue
            except BaseException:
                self._forget(streams)
                raise
            return outcomes
        raise RuntimeError("gave up after repeated concurrent writes to the same learners")

    def _moved(self, keys: set[str], streams: dict[str, Stream]) -> bool:
        """Whether another process has appended to any of these streams since this one read them
        (one query): a stream's version before this batch's own events is what it read."""
        read = {stream_id(key): streams[key].version - len(streams[key].pending_events) for key in keys}
        stored = stream_versions(self.recorder, list(read))
        return any(stored.get(sid, 0) != version for sid, version in read.items())

    def _save(self, streams: list[Stream], receipts: dict[UUID, PendingReceipt]) -> None:
        # Not Application.save: it checks every object against runtime-checkable protocols,
        # which cost more than the insert itself at a thousand objects a batch. Receipts are
        # their Created events, made without an aggregate each (streams.receipt_created).
        # One insert, one transaction: all or nothing.
        events = [event for stream in streams for event in stream.collect_events()]
        events += [receipt_created(event_id, receipt) for event_id, receipt in receipts.items()]
        positions = self.recorder.insert_events([self.mapper.to_stored_event(event) for event in events])
        self.anchor.after_save(self.recorder, events, positions)
        # As Application._record does: saved aggregates go to the cache (when not fast-forwarding).
        if self.repository.cache and not self.repository.fastforward:
            for stream in streams:
                self.repository.cache.put(stream.id, stream)

    def _forget(self, streams: dict[str, Stream]) -> None:
        # Streams come from the cache without a copy, so unsaved events must not stay there.
        for stream in streams.values():
            try:
                self.repository.cache.get(stream.id, evict=True)
            except KeyError:
                pass

    def _decide(
        self, batch: list[tuple[int, Submission | Rejection]], streams: dict[str, Stream], look_up_receipts: bool
    ) -> tuple[list[Outcome], list[Stream], dict[UUID, PendingReceipt], set[str]]:
        """Outcomes, the streams with new events, their receipts, and the keys of the streams
        whose facts refused an event (with the catalogue's, which every check consults)."""
        receipts: dict[UUID, PendingReceipt] = {}
        outcomes: list[Outcome] = []
        recorded_at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        stored = self._receipts([item.event.event_id for _, item in batch if isinstance(item, Submission)]) \
            if look_up_receipts else {}
        refusals: list[tuple[int, UUID, str, str]] = []  # outcome position, event id, fingerprint, key
        erased, data_keys = self._personal(batch)
        for index, item in batch:
            if isinstance(item, Rejection):
                outcomes.append(Outcome(index, "rejected", None, item))
                continue
            event = item.event
            key = stream_key(event.kind, event.learner_id)
            if event.learner_id in erased and event.type != ERASURE_TYPE:
                outcomes.append(Outcome(index, "rejected", str(event.event_id), Rejection(
                    "learner_id", f"learner {event.learner_id} has been erased; nothing more is recorded about them")))
                continue
            stored_form, fingerprint = self.shredder.seal_event(item.stored, data_keys.get(person_of(item.stored)))
            event_id = str(event.event_id)
            receipt = receipts.get(event.event_id) or stored.get(event.event_id)
            if receipt is not None:
                outcomes.append(_repeat(index, event_id, receipt, fingerprint, key))
                continue
            stream = streams.get(key) or self._stream(key)
            streams[key] = stream
            catalog = streams.get(CATALOG_KEY) or self._stream(CATALOG_KEY)
            streams[CATALOG_KEY] = catalog
            if event.kind == "reference":
                problem = catalog.facts.check(event)  # type: ignore[union-attr]
            else:
                # Credit decisions are checked against the learner's recorded events (ledger.credit).
                problem = stream.facts.check(event, catalog.facts,  # type: ignore[union-attr,arg-type]
                                             lambda: recorded_history(self.recorder, stream))
            if problem is not None:
                refusals.append((len(outcomes), event.event_id, fingerprint, key))
                outcomes.append(Outcome(index, "rejected", event_id, problem))
                continue
            stream.record(stored_form, recorded_at)
            receipts[event.event_id] = PendingReceipt(key, fingerprint)
            outcomes.append(Outcome(index, "accepted", event_id))
        refused: set[str] = set()
        if refusals:
            # A repeat of a recorded event can break an invariant ("already voided"): it is a
            # duplicate all the same. A refusal changes nothing, so its receipt can be looked up
            # after the loop, all of the batch's at once (when not already looked up above).
            repeats = {} if look_up_receipts else self._receipts([event_id for _, event_id, _, _ in refusals])
            for position, event_id, fingerprint, key in refusals:
                outcome = outcomes[position]
                if event_id in repeats:
                    outcomes[position] = _repeat(outcome.index, str(event_id), repeats[event_id], fingerprint, key)
                else:
                    refused.update((key, CATALOG_KEY))
        changed = [s for s in streams.values() if any(isinstance(e, Stream.Recorded) for e in s.pending_events)]
        return outcomes, changed, receipts, refused

    def _personal(self, batch: list[tuple[int, Submission | Rejection]]) -> tuple[set[str], dict[str, bytes | None]]:
        """The batch's erased learners (asked of the key store every batch: another process may
        have erased one) and the data keys of the persons its personal fields belong to."""
        learners = {i.event.learner_id for _, i in batch if isinstance(i, Submission) and i.event.learner_id}
        erased = self.shredder.erased(learners) if learners else set()
        self.shredder.forget(erased)
        persons = {p for _, i in batch if isinstance(i, Submission) and (p := person_of(i.stored))} - erased
        return erased, self.shredder.data_keys(persons, create=True) if persons else {}

    def _stream(self, key: str) -> Stream:
        try:
            return self.repository.get(stream_id(key))
        except AggregateNotFoundError:
            return Stream(key=key)

    def _receipts(self, event_ids: list[UUID]) -> dict[UUID, Receipt]:
        # Receipts are read straight from the recorder, a batch's in one query: caching
        # millions of them would only fill memory, and each is looked at once or twice.
        found = first_events(self.recorder, event_ids)
        return {event_id: self.mapper.to_domain_event(stored).mutate(None)  # type: ignore[misc]
                for event_id, stored in found.items() if stored.topic == _RECEIPT_EVENT_TOPIC}

    # --- reading ---------------------------------------------------------------------

    def stream_events(self, key: str) -> list[LoggedEvent]:
        """A stream's events in order (positions here are versions within the stream), personal
        fields decrypted: the one read point every reader of a record goes through (CLI, API,
        audit, badges); `[erased]` in their place once the person is erased."""
        if key != CATALOG_KEY and current_reader() is not None:
            disclose(self.disclosure_log, key.removeprefix("learner:"))
        rows = []
        for stored in self.recorder.select_events(stream_id(key)):
            if stored.topic != RECORDED_TOPIC:
                continue
            state = orjson.loads(stored.state)
            rows.append((stored.originator_version, state["hash"], orjson.loads(state["body"]), state["body"]))
        opened = self.shredder.open_events([body for _, _, body, _ in rows],
                                           erased=any(body["type"] == ERASURE_TYPE for _, _, body, _ in rows))
        return [LoggedEvent(version, key, hash_, upcast(event), text)
                for (version, hash_, _, text), event in zip(rows, opened)]

    def learner_events(self, learner_id: str) -> list[LoggedEvent]:
        return self.stream_events(f"learner:{learner_id}")

    def read(self, after: int = 0, limit: int = 10_000) -> list[LoggedEvent]:
        """Recorded events after global position `after`, in the order they were recorded."""
        out = []
        for n in self.recorder.select_notifications(after, limit, topics=[RECORDED_TOPIC], inclusive_of_start=False):
            state = orjson.loads(n.state)
            body = orjson.loads(state["body"])
            out.append(LoggedEvent(n.id, _key_of(body), state["hash"], upcast(body), state["body"]))
        return out

    def read_stored(self, after: int = 0, limit: int = 10_000) -> tuple[list[int], list[bytes]]:
        """`read`, unparsed: positions and the stored states (JSON holding `hash` and `body`),
        for bulk readers that parse elsewhere (a rebuild hands them to DuckDB)."""
        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            # The recorder's own select builds a Notification and a UUID per row, which is
            # most of a rebuild's reading time; ask its connection for the two columns needed.
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(f"SELECT rowid, state FROM {recorder.events_table_name} "
                               "WHERE rowid > ? AND topic = ? ORDER BY rowid LIMIT ?", [after, RECORDED_TOPIC, limit])
                rows = cursor.fetchall()
            return [row[0] for row in rows], [row[1] for row in rows]
        page = recorder.select_notifications(after, limit, topics=[RECORDED_TOPIC], inclusive_of_start=False)
        return [n.id for n in page], [n.state for n in page]

    def head_position(self) -> int:
        """Position of the newest recorded event (receipts and stream openings come after
        it in the notification log but are not events anyone reads)."""
        top = self.recorder.max_notification_id() or 0
        window = 2048
        while top > 0:
            start = max(top - window, 0)
            found = self.recorder.select_notifications(start, window + 1, stop=top, topics=[RECORDED_TOPIC])
            if found:
                return found[-1].id
            if start == 0:
                return 0
            top, window = start, window * 4
        return 0

    # --- verification ------------------------------------------------------------------

    def verify(self, progress: Any = None, since: Any = None) -> VerifyReport:
        """The log's integrity (ledger.verification.verify_log): every chain link, streams, receipts
        both ways, the Merkle tree against the signed checkpoints, and with `since` (a Checkpoint a
        registrar kept) a consistency proof from it. Credits: ledger.verification.verify_everything."""
        return verify_log(self.recorder, self.anchor, since=since, progress=progress)


def _repeat(index: int, event_id: str, receipt: Receipt | PendingReceipt, fingerprint: str, key: str) -> Outcome:
    if receipt.fingerprint == fingerprint and receipt.stream_key == key:
        return Outcome(index, "duplicate", event_id)
    return Outcome(index, "rejected", event_id,
                   Rejection("event_id", f"conflict: {event_id} was already recorded with different content"))


def _key_of(body: dict[str, Any]) -> str:
    learner = body.get("learner_id")
    return f"learner:{learner}" if learner else CATALOG_KEY
