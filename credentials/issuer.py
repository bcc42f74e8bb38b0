"""The district as a credential issuer: its Ed25519 keys, its DID and DID document, its profile.

Keys are files under $LEDGER_HOME/issuer/keys/ (0600, made as the checkpoint key is made:
`ledger.checkpoints.load_or_create_key`), never events: the store and Kafka carry only public
keys. `issuer.json` holds the public side: the host (for `did:web`), the name, and every key
ever used, newest last. Rotation adds a key and keeps the old ones in the DID document, so a
credential signed before the rotation still resolves to the key that signed it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credentials.multikey import did_key, public_from_multibase, public_multibase
from ledger.checkpoints import CheckpointError, load_or_create_key

DID_V1 = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(%3A[0-9]+)?$")


class IssuerError(ValueError):
    """An issuer that does not exist yet, or a request it cannot honour; the message says why."""


@dataclass(frozen=True)
class Issuer:
    home: Path
    name: str
    host: str | None  # did:web host; None: the embedded default, a did:key per key
    keys: tuple[dict[str, Any], ...]  # {"multibase", "created"}, oldest first

    @property
    def current(self) -> dict[str, Any]:
        return self.keys[-1]

    @property
    def did(self) -> str:
        return f"did:web:{self.host}" if self.host else did_key(public_from_multibase(self.current["multibase"]))

    @property
    def base_url(self) -> str:
        """Where `ledger serve` publishes the status lists (the did:web host, or a URN when embedded)."""
        return f"https://{self.host.replace('%3A', ':')}" if self.host else "urn:mastery-ledger:issuer"

    def method_id(self, multibase: str | None = None) -> str:
        multibase = multibase or self.current["multibase"]
        return f"did:web:{self.host}#{multibase}" if self.host else f"did:key:{multibase}#{multibase}"

    def private_key(self) -> Ed25519PrivateKey:
        return _key(self.home, self.current["multibase"])

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every verification method id this issuer ever signed with -> its key."""
        return {self.method_id(k["multibase"]): public_from_multibase(k["multibase"]) for k in self.keys}

    def profile(self) -> dict[str, Any]:
        return {"@context": ["https://www.w3.org/ns/credentials/v2",
                             "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
                "id": self.did, "type": ["Profile"], "name": self.name,
                **({"url": self.base_url} if self.host else {})}

    def did_document(self) -> dict[str, Any]:
        methods = [{"id": self.method_id(k["multibase"]), "type": "Multikey", "controller": self.did,
                    "publicKeyMultibase": k["multibase"]} for k in self.keys]
        ids = [m["id"] for m in methods]
        return {"@context": [DID_V1, MULTIKEY_V1], "id": self.did, "verificationMethod": methods,
                "assertionMethod": ids, "authentication": ids[-1:]}


def _dir(home: Path) -> Path:
    return home / "issuer"


def _key(home: Path, multibase: str) -> Ed25519PrivateKey:
    try:
        return load_or_create_key(_dir(home) / "keys" / f"{multibase}.pem")
    except CheckpointError as error:
        raise IssuerError(str(error)) from None


def _new_key(home: Path) -> dict[str, Any]:
    """A fresh key written 0600 under a temporary name, then named after its public key."""
    keys = _dir(home) / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    staging = keys / f".new-{os.getpid()}.pem"
    key = load_or_create_key(staging)
    multibase = public_multibase(key.public_key())
    staging.rename(keys / f"{multibase}.pem")
    staging.with_suffix(".pub").rename(keys / f"{multibase}.pub")
    return {"multibase": multibase, "created": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _save(issuer: Issuer) -> Issuer:
    path = _dir(issuer.home) / "issuer.json"
    path.write_text(json.dumps({"name": issuer.name, "host": issuer.host, "keys": list(issuer.keys)}, indent=2) + "\n")
    return issuer


def create(home: Path, *, name: str, host: str | None = None) -> Issuer:
    if (_dir(home) / "issuer.json").exists():
        raise IssuerError(f"an issuer already exists in {_dir(home)}; `ledger issuer rotate` makes a new key")
    if host is not None:
        host = host.strip().lower().replace(":", "%3A")
        if not _HOST.match(host):
            raise IssuerError(f"--host {host!r}: not a DNS host name (did:web needs one, e.g. registrar.district.example)")
    if not name.strip():
        raise IssuerError("--name: empty; the issuer's name is shown on every credential")
    return _save(Issuer(home, name.strip(), host, (_new_key(home),)))


def load(home: Path) -> Issuer:
    path = _dir(home) / "issuer.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise IssuerError(f"no issuer in {_dir(home)}; run `ledger issuer create` first") from None
    except ValueError as error:
        raise IssuerError(f"{path}: not JSON ({error})") from None
    return Issuer(home, data["name"], data.get("host"), tuple(data["keys"]))


def load_or_default(home: Path) -> Issuer:
    """The configured issuer, or the embedded default (a did:key, made on first use)."""
    try:
        return load(home)
    except IssuerError:
        if (_dir(home) / "issuer.json").exists():
            raise
        return create(home, name="District registrar")


def rotate(home: Path) -> Issuer:
    issuer = load(home)
    return _save(Issuer(home, issuer.name, issuer.host, issuer.keys + (_new_key(home),)))
