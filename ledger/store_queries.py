"""Questions about many originators at once, asked of the library's recorders in one query.

The recorders answer one originator per call; posting asks about a whole batch (do these event
ids have receipts? have these streams moved?), and a call per event was most of the time spent
re-posting a file. These read the recorder's own table through its own connection."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import Recorder, StoredEvent
from eventsourcing.sqlite import SQLiteAggregateRecorder

CHUNK = 500  # well under SQLite's limit on bound parameters


def first_events(recorder: Recorder, ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
    """Each originator's version-1 event (a receipt is its aggregate's only event), if stored."""
    found: dict[UUID, StoredEvent] = {}
    for chunk in _chunks(ids):
        rows = _rows(recorder, chunk, "originator_id, originator_version, topic, state", "AND originator_version = 1")
        if rows is None:  # another kind of recorder: its own select, one originator at a time
            rows = [(i, e.originator_version, e.topic, e.state) for i in chunk for e in recorder.select_events(i, lte=1)]
        for originator_id, version, topic, state in rows:
            found[originator_id] = StoredEvent(originator_id, version, topic, bytes(state))
    return found


def stream_versions(recorder: Recorder, ids: Sequence[UUID]) -> dict[UUID, int]:
    """Each originator's highest stored version (absent when nothing is stored for it)."""
    versions: dict[UUID, int] = {}
    for chunk in _chunks(ids):
        rows = _rows(recorder, chunk, "originator_id, MAX(originator_version)", "", "GROUP BY originator_id")
        if rows is None:
            rows = [(i, e.originator_version) for i in chunk for e in recorder.select_events(i, desc=True, limit=1)]
        versions.update(rows)
    return versions


def _chunks(ids: Sequence[UUID]) -> list[list[UUID]]:
    unique = list(dict.fromkeys(ids))
    return [unique[start:start + CHUNK] for start in range(0, len(unique), CHUNK)]


def _rows(recorder: Recorder, ids: list[UUID], columns: str, where: str, tail: str = "") -> list[tuple] | None:
    if isinstance(recorder, SQLiteAggregateRecorder):
        marks = ",".join("?" * len(ids))
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT {columns} FROM {recorder.events_table_name} "
                           f"WHERE originator_id IN ({marks}) {where} {tail}", [i.hex for i in ids])
            rows = cursor.fetchall()
        return [(UUID(row[0]), *tuple(row)[1:]) for row in rows]
    try:
        from eventsourcing.postgres import PostgresAggregateRecorder
    except ImportError:  # psycopg is not installed, so this is no PostgreSQL recorder
        return None
    if isinstance(recorder, PostgresAggregateRecorder):
        from psycopg.sql import SQL, Identifier

        statement = SQL("SELECT " + columns + " FROM {schema}.{table} WHERE originator_id = ANY(%s) "
                        + where + " " + tail).format(schema=Identifier(recorder.datastore.schema),
                                                     table=Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [ids])
            rows = cursor.fetchall()
        return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in rows]
    return None
