"""Signed checkpoints of the log's Merkle tree: {tree_size, root, time, key_id}, signed with Ed25519.

The signing key lives in a file (LEDGER_CHECKPOINT_KEY_FILE, default $LEDGER_HOME/checkpoint-key.pem,
mode 0600), never in the store: whoever can rewrite the store cannot also sign a new history. The
public key is published beside it (checkpoint-key.pub, PEM) and its SHA-256 is each checkpoint's
`key_id`. A checkpoint is one JSON line; the signature covers the canonical JSON of every other
field, prefixed by a domain string so it can never be mistaken for some other signed thing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.canonical import canonical_json

DOMAIN = b"mastery-ledger checkpoint v1\n"


class CheckpointError(ValueError):
    """A checkpoint that is unreadable, or whose signature or key does not hold."""


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: str  # hex of the RFC 9162 tree hash over the first tree_size recorded events
    time: str  # ISO 8601, UTC
    key_id: str  # hex SHA-256 of the raw Ed25519 public key
    log_position: int  # notification id of the last event in the tree: where the next one starts reading
    signature: str = ""  # base64 Ed25519 signature over DOMAIN + canonical JSON of the fields above

    def signed_bytes(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return DOMAIN + canonical_json(fields).encode()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_dict(cls, value: Any, where: str = "checkpoint") -> Checkpoint:
        if not isinstance(value, dict):
            raise CheckpointError(f"{where}: not a JSON object")
        problems = []
        for name, kind in (("tree_size", int), ("root", str), ("time", str), ("key_id", str),
                           ("log_position", int), ("signature", str)):
            if not isinstance(value.get(name), kind) or isinstance(value.get(name), bool):
                problems.append(f"{name} missing or not {'a whole number' if kind is int else 'text'}")
        if not problems and (len(value["root"]) != 64 or value["tree_size"] < 0):
            problems.append("root is not 64 hex digits" if len(value["root"]) != 64 else "tree_size is negative")
        if problems:
            raise CheckpointError(f"{where}: " + "; ".join(problems))
        return cls(**{name: value[name] for name in cls.__dataclass_fields__})


# --- keys -----------------------------------------------------------------------------------------


def public_key_path(key_file: Path) -> Path:
    return key_file.with_suffix(".pub")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_or_create_key(key_file: Path) -> Ed25519PrivateKey:
    """The signing key, made on first use (0600, created exclusively so two processes starting
    together end up with one key, not one each)."""
    try:
        data = key_file.read_bytes()
    except FileNotFoundError:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key(key_file)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public_key_path(key_file).write_text(public_pem(key.public_key()))
        return key
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{key_file}: not a PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{key_file}: not an Ed25519 key")
    pub = public_key_path(key_file)
    if not pub.exists():
        pub.write_text(public_pem(key.public_key()))
    return key


def load_public_key(source: Path | str | bytes) -> Ed25519PublicKey:
    """A public key from a PEM file or PEM text, or 64 hex digits of the raw key."""
    if isinstance(source, Path):
        try:
            source = source.read_bytes()
        except OSError as error:
            raise CheckpointError(f"cannot read the public key: {error.strerror}: {error.filename}") from None
    data = source.encode() if isinstance(source, str) else source
    try:
        if data.strip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(data.decode().strip()))
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"not an Ed25519 public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("not an Ed25519 public key")
    return key


# --- signing and checking -------------------------------------------------------------------------


def sign(key: Ed25519PrivateKey, *, tree_size: int, root: bytes, time: str, log_position: int) -> Checkpoint:
    unsigned = Checkpoint(tree_size=tree_size, root=root.hex(), time=time, key_id=key_id(key.public_key()),
                          log_position=log_position)
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return Checkpoint(**{**asdict(unsigned), "signature": signature})


def check_signature(checkpoint: Checkpoint, public: Ed25519PublicKey) -> None:
    if checkpoint.key_id != key_id(public):
        raise CheckpointError(f"checkpoint of tree size {checkpoint.tree_size} names key {checkpoint.key_id[:16]}…, "
                              f"not the published key {key_id(public)[:16]}…")
    try:
        public.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        raise CheckpointError(f"checkpoint of tree size {checkpoint.tree_size} ({checkpoint.time}): "
                              "the signature does not verify (the checkpoint was altered or forged)") from None


# --- the checkpoints file (JSON lines, oldest first) ------------------------------------------------


def read_checkpoints(path: Path) -> Iterator[Checkpoint]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield parse_line(line, f"{path}:{number}")


def parse_line(line: bytes | str, where: str) -> Checkpoint:
    try:
        value = json.loads(line)
    except ValueError as error:
        raise CheckpointError(f"{where}: not JSON ({error})") from None
    return Checkpoint.from_dict(value, where)


def last_checkpoint(path: Path) -> Checkpoint | None:
    """The newest checkpoint, read from the end of the file (it grows by a line a batch)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            chunk = 4096
            while True:
                start = max(end - chunk, 0)
                handle.seek(start)
                lines = [line for line in handle.read(end - start).splitlines() if line.strip()]
                if len(lines) >= 2 or start == 0:
                    return parse_line(lines[-1], f"{path} (last line)") if lines else None
                chunk *= 4
    except FileNotFoundError:
        return None


def load_kept(path: Path) -> Checkpoint:
    """A checkpoint a registrar kept: one JSON object, or a checkpoints file (its last line)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise CheckpointError(f"{path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not UTF-8 text") from None
    if not text:
        raise CheckpointError(f"{path}: empty")
    try:
        return Checkpoint.from_dict(json.loads(text), str(path))
    except ValueError:
        return parse_line(text.splitlines()[-1], f"{path} (last line)")


def append(path: Path, checkpoint: Checkpoint) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(checkpoint.to_json() + "\n")
