"""API keys, kept by the eventsourcing library like everything else: creation and revocation
are events, so who could do what, and since when, is itself on record.

Only a key's sha256 is stored. Keys are 256-bit random secrets, so a plain hash is enough to
make the stored form useless to a reader of the store (no password-style stretching needed).
The key id is part of the secret, so checking a key is one dictionary look-up."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from ledger.access import Grant, needs
from ledger.config import Settings

PREFIX = "mlk"
UNKNOWN_KEY = "the API key is not known"
_KEYRING_ID = uuid5(NAMESPACE_URL, "urn:mastery-ledger:keyring")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyringAggregate(Aggregate):
    class Created(Aggregate.Created):
        pass

    class KeyIssued(Aggregate.Event):
        key_id: str
        digest: str
        role: str
        school_id: str | None
        actor_id: str | None
        label: str
        issued_at: str

        def apply(self, ring: KeyringAggregate) -> None:
            ring.keys[self.key_id] = {"key_id": self.key_id, "digest": self.digest, "role": self.role,
                                      "school_id": self.school_id, "actor_id": self.actor_id, "label": self.label,
                                      "issued_at": self.issued_at, "revoked_at": None}

    class KeyRevoked(Aggregate.Event):
        key_id: str
        revoked_at: str

        def apply(self, ring: KeyringAggregate) -> None:
            ring.keys[self.key_id]["revoked_at"] = self.revoked_at

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}

    @staticmethod
    def create_id() -> Any:
        return _KEYRING_ID


class KeyringError(ValueError):
    """A key request that cannot be honoured: the message says why."""


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str
    grant: Grant


class Keyring(Application):
    name = "keyring"

    def __init__(self, settings: Settings | None = None) -> None:
        from ledger.application import store_env

        settings = settings or Settings.load()
        env = store_env(settings)
        if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
            # One SQLite file holds one application's events: keys get a file of their own.
            env["SQLITE_DBNAME"] = str(settings.home / "keys.db")
        super().__init__(env={**env, "AGGREGATE_CACHE_MAXSIZE": "1"})

    def _ring(self) -> KeyringAggregate:
        try:
            return self.repository.get(_KEYRING_ID)
        except AggregateNotFoundError:
            return KeyringAggregate()

    def create(self, role: str, *, school_id: str | None = None, actor_id: str | None = None,
               label: str = "") -> IssuedKey:
        problem = needs(role, school_id=school_id, actor_id=actor_id)
        if problem:
            raise KeyringError(problem)
        ring = self._ring()
        key_id = secrets.token_hex(6)
        secret = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        ring.trigger_event(KeyringAggregate.KeyIssued, key_id=key_id, digest=_digest(secret), role=role,
                           school_id=school_id, actor_id=actor_id, label=label, issued_at=_now())
        self.save(ring)
        return IssuedKey(key_id, secret, Grant(key_id, role, school_id, actor_id, label))

    def revoke(self, key_id: str) -> dict[str, Any]:
        ring = self._ring()
        key = ring.keys.get(key_id)
        if key is None:
            raise KeyringError(f"no key {key_id!r}")
        if key["revoked_at"] is None:
            ring.trigger_event(KeyringAggregate.KeyRevoked, key_id=key_id, revoked_at=_now())
            self.save(ring)
        return {k: v for k, v in ring.keys[key_id].items() if k != "digest"}

    def list(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in key.items() if k != "digest"} for key in self._ring().keys.values()]

    def snapshot(self) -> KeyringView:
        return KeyringView(self._ring().keys)


class KeyringView:
    """The keys as of one read of the store: what a server checks requests against."""

    def __init__(self, keys: dict[str, dict[str, Any]]) -> None:
        self.keys = keys

    def grant_for(self, secret: str) -> tuple[Grant | None, str]:
        """(grant, "") for a live key; (None, reason) otherwise."""
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None, "the API key is malformed"
        key = self.keys.get(parts[1])
        if key is None or not hmac.compare_digest(key["digest"], _digest(secret)):
            return None, UNKNOWN_KEY
        if key["revoked_at"] is not None:
            return None, f"the API key {key['key_id']} was revoked at {key['revoked_at']}"
        return Grant(key["key_id"], key["role"], key["school_id"], key["actor_id"], key["label"]), ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


