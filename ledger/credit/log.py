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
    recorder, originator = ledger.recorder, stream_id(f"learner:{learner_id}")
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
