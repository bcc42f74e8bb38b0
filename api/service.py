"""What one `ledger serve` process holds: the ledger, the keys, its own read models kept up to
date by a background projector, and counts of what it recorded.

Several serve processes may share one PostgreSQL store: each keeps its own DuckDB read
models (LEDGER_PROJECTIONS), because DuckDB lets only one process write a file."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import Counter
from contextlib import contextmanager
from collections.abc import Iterator
from typing import Any

import duckdb

from api.metrics import Cached
from ledger.application import Ledger
from ledger.config import Settings
from ledger.access import Grant
from ledger.keyring import UNKNOWN_KEY, Keyring
from projections import official

KEYS_REFRESH_SECONDS = 2.0
KEYS_RETRY_SECONDS = 0.25
PROJECT_BATCH = 20_000
PROJECT_EVERY_SECONDS = 0.5
KAFKA_POSITIONS_SECONDS = 15.0  # how stale /metrics' relay and ingest figures may be


class Service:
    def __init__(self, settings: Settings, *, project: bool = True) -> None:
        self.settings = settings
        self.ledger = Ledger(settings)
        self.keyring = Keyring(settings)
        self._keys = self.keyring.snapshot()
        self._keys_read = time.monotonic()
        # One writer per process: the ledger's stream cache is shared without copies, and
        # SQLite takes one writer at a time anyway. Other processes are kept out by the
        # store's optimistic concurrency.
        self.write_lock = threading.Lock()
        self.duck = official.connect(settings.projections, wait=5.0)  # a `ledger project` may be finishing
        self.served: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._kafka = Cached(self._kafka_positions, KAFKA_POSITIONS_SECONDS)
        self._stop = threading.Event()
        self._projector: threading.Thread | None = None
        self.projector_error: str | None = None
        if project:
            self._projector = threading.Thread(target=self._follow, name="projector", daemon=True)
            self._projector.start()

    # --- keys ------------------------------------------------------------------------------

    def grant_for(self, secret: str) -> tuple[Grant | None, str]:
        # Revocations made with `ledger keys revoke` take effect within the refresh period;
        # a key not seen before makes the server look again at once (at most a few times a
        # second, so a flood of forged keys cannot turn into a flood of store reads).
        now = time.monotonic()
        if now - self._keys_read > KEYS_REFRESH_SECONDS:
            self._refresh_keys()
        grant, reason = self._keys.grant_for(secret)
        if grant is None and reason == UNKNOWN_KEY and time.monotonic() - self._keys_read > KEYS_RETRY_SECONDS:
            self._refresh_keys()
            grant, reason = self._keys.grant_for(secret)
        return grant, reason

    def _refresh_keys(self) -> None:
        self._keys, self._keys_read = self.keyring.snapshot(), time.monotonic()

    def key_id_for(self, secret: str | None) -> str | None:
        """The id of a live key, for the access log, from the keys already read (never a store
        read, never an id a client merely claims)."""
        if not secret:
            return None
        grant, _ = self._keys.grant_for(secret)
        return grant.key_id if grant is not None else None

    def count(self, what: str, n: int = 1) -> None:
        """`events OUTCOME`: posting outcomes, for /metrics."""
        with self._counts_lock:
            self.served[what] += n

    def event_outcomes(self) -> dict[str, int]:
        with self._counts_lock:
            return {what.split(" ", 1)[1]: n for what, n in self.served.items() if what.startswith("events ")}

    def positions(self) -> dict[str, float]:
        """How far the store, these read models and (when configured) Kafka's relay and ingest
        have got, for /metrics. The store figures are this process's own; Kafka's are asked
        with short timeouts and cached by the caller."""
        head = self.ledger.head_position()
        projected = self.projected_position()
        out = {"store_head_position": head, "projection_position": projected,
               "projection_lag_events": head - projected, "projector_up": float(self.projector_error is None)}
        if self.settings.kafka_bootstrap:
            kafka = dict(self._kafka.get())
            if "relay_position" in kafka:
                kafka["relay_lag_events"] = head - kafka["relay_position"]
            out.update(kafka)
        return out

    def _kafka_positions(self) -> dict[str, float]:
        from consumers.status import kafka_status
        from consumers.topics import Names

        names = Names.from_env()
        try:
            status = kafka_status(self.settings.kafka_bootstrap, names)
        except Exception:  # a broker away is a figure (kafka_up 0), not a failed scrape
            return {"kafka_up": 0.0}
        return {"kafka_up": 1.0, "relay_position": status["relay_position"],
                "ingest_lag_messages": status.get(names.submissions, {}).get("ingest_lag", 0)}

    # --- read models -------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self.duck.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def projected_position(self) -> int:
        with self.reading() as con:
            return official.position(con)

    def catch_up(self) -> int:
        """Apply what the store holds beyond the read models; returns events applied."""
        applied = 0
        cursor = self.duck.cursor()
        try:
            projection = official.OfficialProjection(cursor)
            while True:
                batch = self.ledger.read(after=official.position(cursor), limit=PROJECT_BATCH)
                if not batch:
                    return applied
                projection.apply(batch)
                applied += len(batch)
        finally:
            cursor.close()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                # Under load, gather half a second of events into one DuckDB transaction rather
                # than one per request: a read model half a second behind serves everyone.
                self._stop.wait(PROJECT_EVERY_SECONDS if self.catch_up() else 0.2)
                self.projector_error = None
            except Exception as error:  # keep serving; /ready reports it and it retries
                self.projector_error = f"{type(error).__name__}: {error}"
                self._stop.wait(2.0)

    def wait_projected(self, position: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.projected_position() < position:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # --- research ----------------------------------------------------------------------------

    def pseudonym(self, learner_id: str) -> str:
        return hashlib.sha256(self._salt() + learner_id.encode()).hexdigest()[:16]

    def _salt(self) -> bytes:
        if not hasattr(self, "_salt_bytes"):
            path = self.settings.home / "pseudonym.salt"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(secrets.token_hex(32))
            self._salt_bytes = path.read_text().strip().encode()
        return self._salt_bytes

    def close(self) -> None:
        self._stop.set()
        if self._projector is not None:
            self._projector.join(timeout=10)
        self.duck.close()

    def status(self) -> dict[str, Any]:
        head = self.ledger.head_position()
        projected = self.projected_position()
        return {"store": self.settings.shown_store, "head_position": head, "projected_position": projected,
                "projection_lag": head - projected, "projector_error": self.projector_error}

