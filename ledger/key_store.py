"""Where the per-person data keys live: a store of their own beside the event store.

Never in events, never on Kafka. Each row holds one person's data key wrapped by the master key
(`ledger.shredding`), or nothing once the person is erased (the row stays as a tombstone, so
later posts about them are refused). `erasing` marks an erasure begun and not yet finished, so a
crash in the middle is rolled forward on the next open (`ledger.erasure`).

SQLite: a file next to the store (`ledger.db` -> `ledger.keys.db`) with secure_delete on, so a
destroyed key's bytes are overwritten in the file, not left in a free page. PostgreSQL: a table
`ledger_person_keys` in the store's schema, vacuumed (FULL, which rewrites the file) after each
erasure so no dead tuple keeps the wrapped key.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ledger.config import ConfigError, PostgresStore, Settings


@dataclass(frozen=True)
class KeyRow:
    person: str
    wrapped: bytes | None  # None: erased
    erasing: bool = False


class KeyStore(Protocol):
    def meta(self, name: str) -> bytes | None: ...
    def set_meta(self, name: str, value: bytes) -> None: ...
    def rows(self, persons: list[str] | None = None) -> dict[str, KeyRow]: ...
    def add(self, rows: dict[str, bytes]) -> None:
        """Insert keys for persons that have none; a person another process keyed first keeps theirs."""
    def mark_erasing(self, person: str, intent: bytes) -> None:
        """Durably note an erasure begun (with what it records), in one transaction."""
    def pending(self) -> dict[str, bytes]:
        """The erasures begun and not finished: person -> intent."""
    def destroy(self, person: str) -> None:
        """Drop the wrapped key (and the intent); the row stays as the tombstone."""
    def rewrap(self, rows: dict[str, bytes], check: bytes) -> None:
        """Replace every wrapped key and the master check value in one transaction."""


def _locked(method):
    # One connection per store, shared by a server's threads: one statement group at a time.
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


_DDL = ["CREATE TABLE IF NOT EXISTS person_keys (person TEXT PRIMARY KEY, wrapped BLOB, erasing INTEGER NOT NULL"
        " DEFAULT 0)", "CREATE TABLE IF NOT EXISTS key_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)"]


class SQLiteKeyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA secure_delete=ON")
        # A rollback journal (deleted after each commit), not a WAL that keeps old pages around.
        self._conn.execute("PRAGMA journal_mode=DELETE")
        for ddl in _DDL:
            self._conn.execute(ddl)

    @_locked
    def meta(self, name: str) -> bytes | None:
        row = self._conn.execute("SELECT value FROM key_meta WHERE name = ?", [name]).fetchone()
        return bytes(row[0]) if row else None

    @_locked
    def set_meta(self, name: str, value: bytes) -> None:
        self._conn.execute("INSERT OR IGNORE INTO key_meta VALUES (?, ?)", [name, value])

    @_locked
    def rows(self, persons: list[str] | None = None) -> dict[str, KeyRow]:
        found: list[tuple] = []
        if persons is None:
            found = self._conn.execute("SELECT person, wrapped, erasing FROM person_keys").fetchall()
        for start in range(0, len(persons or ()), 500):
            chunk = persons[start:start + 500]  # type: ignore[index]
            found += self._conn.execute("SELECT person, wrapped, erasing FROM person_keys WHERE person IN "
                                        f"({','.join('?' * len(chunk))})", chunk).fetchall()
        return {p: KeyRow(p, bytes(w) if w is not None else None, bool(e)) for p, w, e in found}

    @_locked
    def add(self, rows: dict[str, bytes]) -> None:
        with self._tx():
            self._conn.executemany("INSERT OR IGNORE INTO person_keys (person, wrapped) VALUES (?, ?)", rows.items())

    @_locked
    def mark_erasing(self, person: str, intent: bytes) -> None:
        with self._tx():
            self._conn.execute("INSERT OR IGNORE INTO person_keys (person, wrapped) VALUES (?, NULL)", [person])
            self._conn.execute("UPDATE person_keys SET erasing = 1 WHERE person = ?", [person])
            self._conn.execute("INSERT OR REPLACE INTO key_meta VALUES (?, ?)", ["erasing:" + person, intent])

    @_locked
    def pending(self) -> dict[str, bytes]:
        rows = self._conn.execute("SELECT m.name, m.value FROM key_meta m JOIN person_keys k"
                                  " ON m.name = 'erasing:' || k.person WHERE k.erasing = 1").fetchall()
        return {name.removeprefix("erasing:"): bytes(value) for name, value in rows}

    @_locked
    def destroy(self, person: str) -> None:
        with self._tx():
            self._conn.execute("UPDATE person_keys SET wrapped = NULL, erasing = 0 WHERE person = ?", [person])
            self._conn.execute("DELETE FROM key_meta WHERE name = ?", ["erasing:" + person])

    @_locked
    def rewrap(self, rows: dict[str, bytes], check: bytes) -> None:
        with self._tx():
            self._conn.executemany("UPDATE person_keys SET wrapped = ? WHERE person = ? AND wrapped IS NOT NULL",
                                   [(w, p) for p, w in rows.items()])
            self._conn.execute("UPDATE key_meta SET value = ? WHERE name = 'check'", [check])

    def _tx(self):
        return _SQLiteTx(self._conn)

    def close(self) -> None:
        self._conn.close()


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


class PostgresKeyStore:
    TABLE = "ledger_person_keys"
    META = "ledger_key_meta"

    def __init__(self, store: PostgresStore) -> None:
        import psycopg

        self._psycopg = psycopg
        self._lock = threading.RLock()
        self.store = store
        try:
            self._conn = store.connect(create_schema=True)
        except psycopg.Error as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ConfigError(f"LEDGER_STORE={store.shown!r}: cannot open the key store: {reason}") from None
        schema = store.schema or "public"
        self._t = f'"{schema}".{self.TABLE}'
        self._m = f'"{schema}".{self.META}'
        for ddl in _DDL:
            ddl = ddl.replace("person_keys", self._t).replace("key_meta", self._m).replace("BLOB", "BYTEA")
            try:
                self._conn.execute(ddl)
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
                pass  # another process created it at the same moment

    @_locked
    def meta(self, name: str) -> bytes | None:
        row = self._conn.execute(f"SELECT value FROM {self._m} WHERE name = %s", [name]).fetchone()
        return bytes(row[0]) if row else None

    @_locked
    def set_meta(self, name: str, value: bytes) -> None:
        self._conn.execute(f"INSERT INTO {self._m} VALUES (%s, %s) ON CONFLICT DO NOTHING", [name, value])

    @_locked
    def rows(self, persons: list[str] | None = None) -> dict[str, KeyRow]:
        if persons is None:
            found = self._conn.execute(f"SELECT person, wrapped, erasing FROM {self._t}").fetchall()
        else:
            found = self._conn.execute(f"SELECT person, wrapped, erasing FROM {self._t} WHERE person = ANY(%s)",
                                       [persons]).fetchall()
        return {p: KeyRow(p, bytes(w) if w is not None else None, bool(e)) for p, w, e in found}

    @_locked
    def add(self, rows: dict[str, bytes]) -> None:
        with self._conn.transaction(), self._conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {self._t} (person, wrapped) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                               list(rows.items()))

    @_locked
    def mark_erasing(self, person: str, intent: bytes) -> None:
        with self._conn.transaction():
            self._conn.execute(f"INSERT INTO {self._t} (person, wrapped, erasing) VALUES (%s, NULL, 1) "
                               "ON CONFLICT (person) DO UPDATE SET erasing = 1", [person])
            self._conn.execute(f"INSERT INTO {self._m} VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
                               " SET value = EXCLUDED.value", ["erasing:" + person, intent])

    @_locked
    def pending(self) -> dict[str, bytes]:
        rows = self._conn.execute(f"SELECT m.name, m.value FROM {self._m} m JOIN {self._t} k"
                                  " ON m.name = 'erasing:' || k.person WHERE k.erasing = 1").fetchall()
        return {name.removeprefix("erasing:"): bytes(value) for name, value in rows}

    @_locked
    def destroy(self, person: str) -> None:
        with self._conn.transaction():
            self._conn.execute(f"UPDATE {self._t} SET wrapped = NULL, erasing = 0 WHERE person = %s", [person])
            self._conn.execute(f"DELETE FROM {self._m} WHERE name = %s", ["erasing:" + person])
        # The old row version still holds the wrapped key until the table is rewritten.
        self._conn.execute(f"VACUUM FULL {self._t}")

    @_locked
    def rewrap(self, rows: dict[str, bytes], check: bytes) -> None:
        with self._conn.transaction(), self._conn.cursor() as cursor:
            cursor.executemany(f"UPDATE {self._t} SET wrapped = %s WHERE person = %s AND wrapped IS NOT NULL",
                               [(w, p) for p, w in rows.items()])
            cursor.execute(f"UPDATE {self._m} SET value = %s WHERE name = 'check'", [check])
        self._conn.execute(f"VACUUM FULL {self._t}")

    def close(self) -> None:
        self._conn.close()


def key_store_for(settings: Settings) -> SQLiteKeyStore | PostgresKeyStore:
    if settings.is_sqlite:
        store = Path(settings.store)
        return SQLiteKeyStore(store.with_name(store.stem + ".keys" + (store.suffix or ".db")))
    return PostgresKeyStore(PostgresStore.parse(settings.store))
