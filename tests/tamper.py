"""Altering stored bytes behind the ledger's back, as an attacker with database access would,
on whichever store a test runs on: plain SQL on the SQLite file or the PostgreSQL schema."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from ledger.canonical import GENESIS, canonical_json, chain_hash
from ledger.streams import RECORDED_TOPIC, stream_id


@dataclass(frozen=True)
class Row:
    position: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes

    @property
    def recorded(self) -> bool:
        return self.topic == RECORDED_TOPIC

    @property
    def fields(self) -> dict:
        return json.loads(self.state)


class Store:
    """The ledger's table, reached with SQL. `env`: the ledger's eventsourcing environment (`ledger.env`)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.postgres = env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"

    @contextmanager
    def _db(self):
        if self.postgres:
            import psycopg

            env = self.env
            with psycopg.connect(dbname=env.get("POSTGRES_DBNAME"), host=env.get("POSTGRES_HOST"),
                                 port=env.get("POSTGRES_PORT"), user=env.get("POSTGRES_USER"),
                                 password=env.get("POSTGRES_PASSWORD") or None, autocommit=True) as db:
                yield db
        else:
            with sqlite3.connect(self.env.get("SQLITE_DBNAME")) as db:
                yield db

    def _table(self):
        from psycopg import sql

        return sql.Identifier(self.env.get("POSTGRES_SCHEMA") or "public", "ledger_events")

    def _run(self, sqlite_sql: str, pg_sql: str, params=()) -> list[tuple]:
        with self._db() as db:
            if self.postgres:
                from psycopg import sql

                cursor = db.execute(sql.SQL(pg_sql).format(table=self._table()), params)
                return cursor.fetchall() if cursor.description else []
            return db.execute(sqlite_sql, params).fetchall()

    def rows(self) -> list[Row]:
        found = self._run("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                          "ORDER BY rowid",
                          "SELECT notification_id, originator_id, originator_version, topic, state FROM {table} "
                          "ORDER BY notification_id")
        return [Row(p, o if isinstance(o, UUID) else UUID(o), v, t, bytes(s)) for p, o, v, t, s in found]

    def recorded(self) -> list[Row]:
        return [r for r in self.rows() if r.recorded]

    def stream(self, key: str) -> list[Row]:
        sid = stream_id(key)
        return [r for r in self.recorded() if r.originator_id == sid]

    def receipt(self, event_id: str) -> Row | None:
        return next((r for r in self.rows() if r.originator_id == UUID(event_id) and not r.recorded), None)

    def delete(self, positions: list[int]) -> None:
        for p in positions:
            self._run("DELETE FROM stored_events WHERE rowid = ?", "DELETE FROM {table} WHERE notification_id = %s", (p,))

    def set_state(self, position: int, state: bytes) -> None:
        self._run("UPDATE stored_events SET state = ? WHERE rowid = ?",
                  "UPDATE {table} SET state = %s WHERE notification_id = %s", (state, position))

    def insert(self, originator_id: UUID, version: int, topic: str, state: bytes) -> None:
        oid = originator_id if self.postgres else originator_id.hex
        self._run("INSERT INTO stored_events (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                  "INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)",
                  (oid, version, topic, state))

    def rechain(self, key: str, bodies: dict[int, dict] | None = None) -> None:
        """Rewrite a stream's bodies (version -> new body dict) and recompute every hash after, with
        the public chain function, as an insider covering their tracks would."""
        bodies = bodies or {}
        previous = GENESIS
        for row in self.stream(key):
            fields = row.fields
            if row.version in bodies:
                fields["body"] = canonical_json(bodies[row.version])
                fields["event_id"] = bodies[row.version]["event_id"]
            fields["hash"] = chain_hash(previous, fields["body"])
            previous = fields["hash"]
            new = json.dumps(fields, separators=(",", ":")).encode()
            if new != row.state:
                self.set_state(row.position, new)


def alter_stored_event(env: Mapping[str, str], event_id: str, old: bytes, new: bytes) -> None:
    """Replace `old` with `new` in the stored state of the event recorded under `event_id`.

    `env` is the eventsourcing environment of the ledger (`ledger.env`, or `store_env(...)`)."""
    store = Store(env)
    for row in store.recorded():
        if row.fields.get("event_id") == event_id:
            tampered = row.state.replace(old, new)
            assert tampered != row.state, "nothing to alter"
            store.set_state(row.position, tampered)
            return
    raise AssertionError(f"no recorded event {event_id}")
