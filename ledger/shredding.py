"""Crypto-shredding: personal fields encrypted per person, so destroying a key erases the text.

Every person the ledger holds personal data about gets a 256-bit data key, wrapped (AES-256-GCM)
by the operator's master key and kept in the key store (`ledger.key_store`). Before an event is
hashed and stored, each personal field (`ledger.personal_data`) is replaced by
`pd1:PERSON:` + base64(nonce | AES-256-GCM ciphertext), the person's id bound as associated
data. The chain hashes the ciphertext, so erasing the key leaves `verify` passing.

The idempotency fingerprint of an event with personal fields is an HMAC keyed by the person's
key: a plain hash of the plaintext would let anyone confirm a guess of erased text.

A wrong or missing master key is a ConfigError (one line), never a plaintext fallback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.canonical import canonical_json
from ledger.config import ConfigError, Settings
from ledger.key_store import KeyStore, key_store_for
from ledger.personal_data import CATALOGUE, locate, person_of

PREFIX = "pd1:"
ERASED = "[erased]"
_CHECK = b"mastery-ledger master key check"


def load_master_key(settings: Settings, *, may_create: bool) -> tuple[bytes, Path]:
    """The master key (32 bytes, stored as 64 hex digits), made once for the embedded default."""
    explicit = settings.master_key_file is not None
    path = settings.master_key_file or settings.home / "master.key"
    shown = f"LEDGER_MASTER_KEY_FILE={str(path)!r}" if explicit else f"master key {path}"
    if not path.exists():
        if explicit or not may_create:
            raise ConfigError(f"{shown}: no such file; the personal data cannot be read or written without "
                              "the master key it was protected with")
        new_master_key(path)
        print(f"warning: generated a master key at {path}; back it up (without it no personal data can be "
              "read) or set LEDGER_MASTER_KEY_FILE", file=sys.stderr)
    try:
        return new_master_key(path)[0], path
    except ConfigError as error:
        raise ConfigError(f"{shown}: {str(error).split(': ', 1)[1]}") from None


def new_master_key(path: Path) -> tuple[bytes, bool]:
    """A master key read from `path`, or made there (0600) when the file does not exist."""
    made = not path.exists()
    if made:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            made = False
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a master key (64 hex digits expected): {error}") from None
    if len(key) != 32:
        raise ConfigError(f"{path}: not a master key (64 hex digits expected, found {len(key) * 2})")
    return key, made


def _seal(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def _unseal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], aad)


class Shredder:
    """Data keys in and out of the key store, and the personal fields of events through them."""

    def __init__(self, keys: KeyStore, master: bytes, shown: str = "master key") -> None:
        self.keys = keys
        self._master = master
        self._cache: dict[str, bytes] = {}  # person -> data key, for persons not erased
        check = keys.meta("check")
        if check is None:
            keys.set_meta("check", _seal(master, _CHECK, b"check"))
            check = keys.meta("check")
        try:
            _unseal(master, check or b"", b"check")
        except (InvalidTag, ValueError):
            raise ConfigError(f"{shown}: this is not the master key the key store was made with; "
                              "refusing to read or write personal data") from None

    @classmethod
    def for_settings(cls, settings: Settings) -> Shredder:
        keys = key_store_for(settings)
        made = keys.meta("check") is not None
        master, path = load_master_key(settings, may_create=not made)
        shown = f"LEDGER_MASTER_KEY_FILE={str(path)!r}" if settings.master_key_file else f"master key {path}"
        return cls(keys, master, shown)

    # --- keys ------------------------------------------------------------------------------

    def data_keys(self, persons: set[str], *, create: bool) -> dict[str, bytes | None]:
        """Each person's data key (None: erased, or never keyed and `create` is off), one query."""
        wanted = [p for p in persons if p not in self._cache]
        if wanted:
            rows = self.keys.rows(wanted)
            fresh = {p: AESGCM.generate_key(256) for p in wanted if p not in rows} if create else {}
            if fresh:
                self.keys.add({p: _seal(self._master, k, p.encode()) for p, k in fresh.items()})
                rows.update(self.keys.rows(list(fresh)))  # another process may have keyed one first
            for person, row in rows.items():
                if row.wrapped is not None and not row.erasing:
                    self._cache[person] = _unseal(self._master, row.wrapped, person.encode())
        return {p: self._cache.get(p) for p in persons}

    def erased(self, persons: set[str]) -> set[str]:
        """Those of these persons whose key is destroyed or being destroyed (asks the store)."""
        rows = self.keys.rows(list(persons))
        return {p for p, row in rows.items() if row.wrapped is None or row.erasing}

    def all_erased(self) -> set[str]:
        """Every person whose key is destroyed or being destroyed: left out of research rows."""
        return {p for p, row in self.keys.rows().items() if row.wrapped is None or row.erasing}

    def forget(self, persons: set[str] | None = None) -> None:
        if persons is None:
            self._cache.clear()
        for person in persons or ():
            self._cache.pop(person, None)

    def rotate_master(self, new_master: bytes) -> int:
        """Rewrap every data key with a new master key; events are untouched. Returns the count."""
        rows = self.keys.rows()
        rewrapped = {p: _seal(new_master, _unseal(self._master, r.wrapped, p.encode()), p.encode())
                     for p, r in rows.items() if r.wrapped is not None}
        self.keys.rewrap(rewrapped, _seal(new_master, _CHECK, b"check"))
        self._master = new_master
        return len(rewrapped)

    # --- events ----------------------------------------------------------------------------

    def seal_event(self, stored: dict[str, Any], key: bytes | None) -> tuple[dict[str, Any], str]:
        """The event as it is to be stored (personal fields encrypted) and its fingerprint."""
        text = canonical_json(stored)
        if next(locate(stored), None) is None:  # most events: nothing personal, nothing to copy
            return stored, hashlib.sha256(text.encode()).hexdigest()
        sealed = _loads(text)  # a deep copy, several times faster than copy.deepcopy
        person = person_of(stored) or ""
        found = False
        for path, container, slot in list(locate(sealed)):
            if key is None:  # the caller refuses events of erased persons before this
                raise ValueError(f"no data key for the personal field {path}")
            plain = canonical_json(container[slot]).encode()  # type: ignore[index]
            container[slot] = token(person, _seal(key, plain, person.encode()))  # type: ignore[index]
            found = True
        if not found:
            return stored, hashlib.sha256(text.encode()).hexdigest()
        return sealed, hmac.new(hashlib.sha256(b"fingerprint|" + key).digest(), text.encode(), "sha256").hexdigest()

    def open_events(self, events: list[dict[str, Any]], *, erased: bool = False) -> list[dict[str, Any]]:
        """Stored events with their personal fields decrypted, or `[erased]` where the key is gone
        (`erased`: the record itself says so, whatever keys this process still holds)."""
        if erased:
            self.forget({p for p in map(person_of, events) if p})
            return [_replace(event, lambda person, sealed: ERASED) if event["type"] in CATALOGUE else event
                    for event in events]
        return [self.reveal(event) if event["type"] in CATALOGUE else event for event in events]

    def reveal(self, value: Any) -> Any:
        """Any JSON-like value (an event, rows from the projections) with every sealed text in it
        decrypted, or `[erased]`: for readers of the projections, which hold ciphertext only."""
        persons: set[str] = set()
        _replace(value, lambda person, sealed: persons.add(person))
        if not persons:
            return value
        keys = self.data_keys(persons, create=False)

        def opened(person: str, sealed: bytes) -> Any:
            key = keys.get(person)
            if key is None:
                return ERASED
            try:
                return orjson.loads(_unseal(key, sealed, person.encode()))
            except (InvalidTag, ValueError):
                return ERASED
        return _replace(value, opened)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers beyond 64 bits, which canonical_json writes
        return json.loads(text)


def token(person: str, sealed: bytes) -> str:
    """How a sealed value is stored: `pd1:PERSON:BASE64` (ids are pseudonymous; the person is
    named so that any reader, of an event or of a projection's row, knows which key opens it)."""
    return f"{PREFIX}{person}:{base64.b64encode(sealed).decode()}"


# A sealed text inside a longer one: the projections write notes such as a flag's
# "evidence E voided by V: <the void's sealed reason>".
_EMBEDDED = re.compile(re.escape(PREFIX) + r"([^:\s]+):([A-Za-z0-9+/]+={0,2})")


def _opened_text(opened: Any, match: re.Match[str]) -> str:
    try:
        text = opened(match.group(1), base64.b64decode(match.group(2), validate=True))
    except ValueError:
        return match.group(0)
    return text if isinstance(text, str) else json.dumps(text)


def _replace(value: Any, opened: Any) -> Any:
    """`value` with each sealed text replaced by opened(person, sealed bytes); copies only what changes."""
    if isinstance(value, str):
        if value.startswith(PREFIX):
            person, _, data = value[len(PREFIX):].rpartition(":")
            try:
                return opened(person, base64.b64decode(data, validate=True))
            except ValueError:
                return value
        if PREFIX in value:
            return _EMBEDDED.sub(lambda m: _opened_text(opened, m), value)
        return value
    if isinstance(value, dict):
        return {k: _replace(v, opened) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace(v, opened) for v in value]
    return value
