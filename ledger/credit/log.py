"""A learner's recorded events as credit decisions need them: with their hashes, and with their
global log positions where the decision will cite them.

The library's recorders give one originator's events without their notification ids (the
global positions), so the positions are read from the recorder's own table, as
`ledger.store_queries` does for receipts.
"""

from __future__ import annotations

from typing import Any

import orjson

from ledger.credit.derive import Entry
from ledger.events import upcast
from ledger.streams import CATALOG_KEY, RECORDED_TOPIC, Stream, stream_id


def _entry(position: int | None, state: bytes | str) -> Entry:
    data = orjson.loads(state)
    return Entry(position, data["hash"], upcast(orjson.loads(data["body"])))


def recorded_history(recorder: Any, stream: Stream) -> list[Entry]:
    """The events `stream` was built from, then the ones this batch has added to it (not saved
    yet), in stream order; positions are not known here."""
    pending = [e for e in stream.pending_events if isinstance(e, Stream.Recorded)]
    saved = stream.version - len(stream.pending_events)
    out = []
    if saved > 0:
        out = [_entry(None, s.state) for s in recorder.select_events(stream.id, lte=saved)
               if s.topic == RECORDED_TOPIC]
    return out + [Entry(None, e.hash, upcast(orjson.loads(e.body))) for e in pending]


def learner_log(ledger: Any, learner_id: str) -> list[Entry]:
    """The learner's recorded events with their global log positions, in log order."""
    return stream_log(ledger, f"learner:{learner_id}")


def award_problems_in_store(ledger: Any, learner_id: str, award_event_id: str) -> list[str]:
    """What `ledger verify` finds wrong with one recorded award (empty: it re-derives from the
    log), read from the store without a pass over the whole log: the learner's events with their
    positions, and the catalogue as it stood when the award was recorded."""
    from ledger.credit.verify import award_problems
    from ledger.invariants import Catalog

    entries = learner_log(ledger, learner_id)
    at = next((i for i, e in enumerate(entries) if e.event["event_id"] == award_event_id
               and e.event["type"] == "credit.awarded"), None)
    if at is None:
        return [f"no credit award {award_event_id} for {learner_id}"]
    catalog = Catalog()
    for entry in stream_log(ledger, CATALOG_KEY):
        if entry.position is not None and entry.position < entries[at].position:
            catalog.apply(entry.event)
    return award_problems(entries[at], entries[:at], catalog)


def stream_log(ledger: Any, key: str) -> list[Entry]:
    """A stream's recorded events with their global log positions, in log order."""
    recorder, originator = ledger.recorder, stream_id(key)
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    if isinstance(recorder, SQLiteAggregateRecorder):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT rowid, state FROM {recorder.events_table_name} WHERE originator_id = ? "
                           "AND topic = ? ORDER BY originator_version", [originator.hex, RECORDED_TOPIC])
            rows = [(row[0], row[1]) for row in cursor.fetchall()]
        return [_entry(position, state) for position, state in rows]
    from eventsourcing.postgres import PostgresAggregateRecorder

    if isinstance(recorder, PostgresAggregateRecorder):
        from psycopg.sql import SQL, Identifier

        statement = SQL("SELECT notification_id, state FROM {schema}.{table} WHERE originator_id = %s "
                        "AND topic = %s ORDER BY originator_version").format(
            schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [originator, RECORDED_TOPIC])
            rows = [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in cursor.fetchall()]
        return [_entry(int(position), bytes(state)) for position, state in rows]
    raise NotImplementedError(f"learner_log needs a SQLite or PostgreSQL recorder, not {type(recorder).__name__}")


def catalog_now(ledger: Any) -> Any:
    """The catalogue as the ledger holds it now, rebuilt from its stream."""
    from ledger.invariants import Catalog

    catalog = Catalog()
    for logged in ledger.stream_events(CATALOG_KEY):
        catalog.apply(logged.event)
    return catalog
