"""Altering stored bytes behind the ledger's back, as an attacker with database access would,
on whichever store a test runs on."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping


def alter_stored_event(env: Mapping[str, str], event_id: str, old: bytes, new: bytes) -> None:
    """Replace `old` with `new` in the stored state of the event recorded under `event_id`.

    `env` is the eventsourcing environment of the ledger (`ledger.env`, or `store_env(...)`)."""
    pattern = f'%"event_id":"{event_id}"%'
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        import psycopg
        from psycopg import sql

        table = sql.Identifier(env.get("POSTGRES_SCHEMA") or "public", "ledger_events")
        with psycopg.connect(dbname=env.get("POSTGRES_DBNAME"), host=env.get("POSTGRES_HOST"),
                             port=env.get("POSTGRES_PORT"), user=env.get("POSTGRES_USER"),
                             password=env.get("POSTGRES_PASSWORD") or None, autocommit=True) as db:
            key, state = db.execute(sql.SQL("SELECT notification_id, state FROM {} WHERE convert_from(state, 'UTF8') "
                                            "LIKE %s ORDER BY notification_id LIMIT 1").format(table), [pattern]).fetchone()
            tampered = bytes(state).replace(old, new)
            assert tampered != bytes(state), "nothing to alter"
            db.execute(sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(table), [tampered, key])
        return
    with sqlite3.connect(env.get("SQLITE_DBNAME")) as db:
        rowid, state = db.execute("SELECT rowid, state FROM stored_events WHERE CAST(state AS TEXT) LIKE ?",
                                  (pattern,)).fetchone()
        tampered = state.replace(old, new)
        assert tampered != state, "nothing to alter"
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (tampered, rowid))
