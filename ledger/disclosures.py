"""The record of disclosures (FERPA, 34 CFR 99.32): every read of a learner's identifiable record
through the API or the CLI, who read it (key, role, school), what (events, state, plans, audit,
badge, export), when, and the purpose the client stated.

It holds no education data itself: the learner's pseudonymous id, the kind of record, the
reader and the purpose. It is tamper-evident as the ledger is: each entry's hash covers the
previous entry's hash and its own canonical JSON, so an edited, deleted or reordered entry
breaks every later link (`check`). Kept beside the event store: a SQLite file next to the store
(`ledger.db` -> `ledger.disclosures.db`) or the table `ledger_disclosures` in its PostgreSQL schema.

Entry points name the reader with `reading(...)`; `Ledger.stream_events` (the central read
point) records each learner whose record is read while a reader is named, once per learner and
reading. Reads answered from the projections (state, plans) call `disclose` themselves.
"""

from __future__ import annotations

import contextvars
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ledger.canonical import GENESIS, canonical_json, chain_hash
from ledger.config import PostgresStore, Settings

ALL_LEARNERS = "*"  # a disclosure of every learner's record at once (a district export)
KINDS = ("events", "state", "plans", "audit", "badge", "credential", "export")
MAX_PURPOSE = 300


class PurposeMissing(Exception):
    """A reader whose role must state a purpose did not (one line, for the client)."""


@dataclass
class Reader:
    key_id: str
    role: str
    school_id: str | None
    what: str
    purpose: str
    recorded: set[str] = field(default_factory=set)  # learners already recorded in this reading
    # Asked before the first disclosure: a reason to refuse it (no purpose stated where one must
    # be), or None. The CLI names its reader before it knows which subcommand runs.
    refusal: Callable[[], str | None] | None = None


_current: contextvars.ContextVar[Reader | None] = contextvars.ContextVar("ledger_reader", default=None)

# A school's own keys read as school officials (34 CFR 99.31(a)(1)); every other role says why.
PURPOSE_OPTIONAL_ROLES = frozenset({"school", "advisor"})


def stated_purpose(role: str, purpose: str | None) -> str:
    purpose = (purpose or "").strip()
    if not purpose and role not in PURPOSE_OPTIONAL_ROLES:
        raise PurposeMissing(f"a {role} key must state the purpose of reading a learner's record "
                             "(the X-Purpose header, or --purpose)")
    if len(purpose) > MAX_PURPOSE or "\n" in purpose:
        raise PurposeMissing(f"the purpose must be one line of at most {MAX_PURPOSE} characters")
    return purpose or "school official"


@contextmanager
def reading(reader: Reader) -> Iterator[Reader]:
    token = _current.set(reader)
    try:
        yield reader
    finally:
        _current.reset(token)


def name_reader(reader: Reader | None) -> None:
    """Name the reader for the rest of this context (a CLI command runs in one)."""
    _current.set(reader)


def current_reader() -> Reader | None:
    return _current.get()


class DisclosureLog:
    def __init__(self, settings: Settings) -> None:
        self.sqlite = settings.is_sqlite
        self._lock = threading.RLock()  # one connection, shared by a server's threads
        if self.sqlite:
            store = Path(settings.store)
            self._conn: Any = sqlite3.connect(store.with_name(store.stem + ".disclosures.db"), timeout=30,
                                              isolation_level=None, check_same_thread=False)
            self._table, self._mark = "disclosures", "?"
        else:
            pg = PostgresStore.parse(settings.store)
            self._conn = pg.connect(create_schema=True)
            self._table, self._mark = f'"{pg.schema or "public"}".ledger_disclosures', "%s"
        try:
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {self._table} (seq INTEGER PRIMARY KEY, learner TEXT NOT "
                               "NULL, entry TEXT NOT NULL, hash TEXT NOT NULL)")
        except Exception as error:  # two processes creating it at once (PostgreSQL): it exists now
            if "already exists" not in str(error) and "duplicate key" not in str(error):
                raise

    def record(self, learners: list[str], reader: Reader, *, at: datetime | None = None) -> None:
        when = (at or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z")
        m = self._mark
        with self._transaction():
            if not self.sqlite:  # one writer at a time, or two entries would claim the same previous hash
                self._conn.execute(f"LOCK TABLE {self._table} IN EXCLUSIVE MODE")
            last = self._conn.execute(f"SELECT seq, hash FROM {self._table} ORDER BY seq DESC LIMIT 1").fetchone()
            seq, previous = (last[0], last[1]) if last else (0, GENESIS)
            for learner in learners:
                seq += 1
                entry = canonical_json({"seq": seq, "at": when, "learner_id": learner, "key_id": reader.key_id,
                                        "role": reader.role, "school_id": reader.school_id, "what": reader.what,
                                        "purpose": reader.purpose})
                previous = chain_hash(previous, entry)
                self._conn.execute(f"INSERT INTO {self._table} VALUES ({m}, {m}, {m}, {m})",
                                   [seq, learner, entry, previous])

    def entries(self, learner: str | None = None) -> list[dict[str, Any]]:
        import orjson

        where, args = (f" WHERE learner IN ({self._mark}, {self._mark})", [learner, ALL_LEARNERS]) \
            if learner else ("", [])
        with self._lock:
            rows = self._conn.execute(f"SELECT entry, hash FROM {self._table}{where} ORDER BY seq", args).fetchall()
        return [{**orjson.loads(entry), "hash": hash_} for entry, hash_ in rows]

    def check(self) -> list[str]:
        """Every broken link of the chain (empty: intact)."""
        import orjson

        problems, previous, expected = [], GENESIS, 1
        with self._lock:
            rows = self._conn.execute(f"SELECT seq, entry, hash FROM {self._table} ORDER BY seq").fetchall()
        for seq, entry, hash_ in rows:
            if seq != expected or orjson.loads(entry).get("seq") != seq:
                problems.append(f"disclosure {seq}: out of sequence (expected {expected})")
            if chain_hash(previous, entry) != hash_:
                problems.append(f"disclosure {seq}: its hash does not match its content and the previous entry")
            previous, expected = hash_, seq + 1
        return problems

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, self._raw_transaction():
            yield

    @contextmanager
    def _raw_transaction(self) -> Iterator[None]:
        if self.sqlite:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        else:
            with self._conn.transaction():
                yield

    def close(self) -> None:
        self._conn.close()


def disclose(log: DisclosureLog, learner: str) -> None:
    """Record that the current reader (if an entry point named one) read this learner's record."""
    reader = _current.get()
    if reader is None or learner in reader.recorded:
        return
    refused = reader.refusal() if reader.refusal else None
    if refused:  # before anything of the learner's is read
        raise PurposeMissing(refused)
    log.record([learner], reader)
    reader.recorded.add(learner)
