"""The LRS's tables beside the event store: statements (with the references queries filter
on) and documents (state, activity and agent profiles).

Why tables of their own: a statement query filters on agent, verb, activity and registration
and pages by stored order, which the event store's notification log cannot answer without
reading every event. Documents are mutable by the spec (PUT replaces, POST merges), so they
are kept out of the immutable log altogether. SQLite: `xapi.db` in the ledger home (one file
per application, as the keyring does). PostgreSQL: tables `xapi_*` in the store's schema."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ledger.config import PostgresStore, Settings

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS xapi_statements (
        seq {serial}, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, fingerprint TEXT NOT NULL,
        stored TEXT NOT NULL, verb TEXT NOT NULL, registration TEXT, voided_by TEXT,
        is_voiding INTEGER NOT NULL, voids TEXT, target TEXT, has_attachments INTEGER NOT NULL)""",
    # One row per (statement, kind, value): kind is actor/activity, `related` widens to every place.
    """CREATE TABLE IF NOT EXISTS xapi_refs (
        seq BIGINT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, related INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS xapi_refs_value ON xapi_refs (kind, value, seq)",
    "CREATE INDEX IF NOT EXISTS xapi_statements_verb ON xapi_statements (verb, seq)",
    "CREATE INDEX IF NOT EXISTS xapi_statements_target ON xapi_statements (target)",
    # The statements that have a target, walked by the StatementRef filter rule (xapi.statements).
    "CREATE INDEX IF NOT EXISTS xapi_statements_targeting ON xapi_statements (seq) WHERE target IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS xapi_attachments (
        sha2 TEXT PRIMARY KEY, content_type TEXT NOT NULL, content {blob} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS xapi_documents (
        resource TEXT NOT NULL, scope TEXT NOT NULL, doc_id TEXT NOT NULL, content_type TEXT NOT NULL,
        content {blob} NOT NULL, etag TEXT NOT NULL, updated TEXT NOT NULL,
        PRIMARY KEY (resource, scope, doc_id))""",
    """CREATE TABLE IF NOT EXISTS xapi_activities (id TEXT PRIMARY KEY, definition TEXT NOT NULL)""",
    # Events of stored statements the ledger refused (the LRS answered the client already): what
    # `ledger status` counts, with the reason, so an operator sees evidence that never landed.
    """CREATE TABLE IF NOT EXISTS xapi_refusals (
        event_id TEXT PRIMARY KEY, reason TEXT NOT NULL, refused_at TEXT NOT NULL)""",
]


class Storage:
    """A thread-safe connection with `?` placeholders on both engines."""

    def __init__(self, settings: Settings) -> None:
        self.lock = threading.RLock()
        if settings.is_sqlite:
            settings.home.mkdir(parents=True, exist_ok=True)
            self.engine = "sqlite"
            self.con: Any = sqlite3.connect(settings.home / "xapi.db", check_same_thread=False, timeout=30,
                                            isolation_level=None)
            self.con.execute("PRAGMA journal_mode=WAL")
            serial, blob = "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
        else:
            pg = PostgresStore.parse(settings.store)
            self.engine = "postgres"
            self.con = pg.connect()
            if pg.schema:
                self.con.execute(f'SET search_path TO "{pg.schema}"')
            serial, blob = "BIGSERIAL PRIMARY KEY", "BYTEA"
        with self.transaction():
            for statement in SCHEMA:
                self.execute(statement.format(serial=serial, blob=blob))

    def _sql(self, sql: str) -> str:
        return sql if self.engine == "sqlite" else sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.lock:
            return self.con.execute(self._sql(sql), tuple(params))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self.con.execute(self._sql(sql), tuple(params)).fetchall())

    def many(self, sql: str, params: list[Sequence[Any]]) -> None:
        if not params:
            return
        with self.lock:
            if self.engine == "sqlite":
                self.con.executemany(sql, params)
            else:
                with self.con.cursor() as cursor:
                    cursor.executemany(self._sql(sql), params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            if self.engine == "sqlite":
                self.con.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self.con.execute("ROLLBACK")
                    raise
                self.con.execute("COMMIT")
            else:
                with self.con.transaction():
                    yield

    def close(self) -> None:
        self.con.close()
