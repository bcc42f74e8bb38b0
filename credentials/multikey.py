"""Ed25519 public keys as Multikey (`z` + base58btc of multicodec 0xed01 + raw key) and as
`did:key` identifiers, the forms eddsa-rdfc-2022 proofs and DID documents use."""

from __future__ import annotations

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_PUB = b"\xed\x01"  # multicodec varint for ed25519-pub


class MultikeyError(ValueError):
    """A key or proof value that is not the multibase form it claims to be."""


def b58_encode(data: bytes) -> str:
    return "z" + base58.b58encode(data).decode()


def b58_decode(value: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("z"):
        raise MultikeyError(f"{value!r:.40}: not base58btc multibase (must start with 'z')")
    try:
        return base58.b58decode(value[1:])
    except ValueError as error:
        raise MultikeyError(f"{value!r:.40}: not base58btc ({error})") from None


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_multibase(key: Ed25519PublicKey) -> str:
    return b58_encode(ED25519_PUB + raw_public(key))


def public_from_multibase(value: str) -> Ed25519PublicKey:
    data = b58_decode(value)
    if not data.startswith(ED25519_PUB) or len(data) != 34:
        raise MultikeyError(f"{value:.40}: not an Ed25519 Multikey")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def private_from_hex(hex_key: str) -> Ed25519PrivateKey:
    """A private key from hex: the 32-byte seed, or the 64-byte seed+public form test vectors print."""
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(hex_key)[:32])


def did_key(key: Ed25519PublicKey) -> str:
    return "did:key:" + public_multibase(key)


def did_key_method(key: Ed25519PublicKey) -> str:
    mb = public_multibase(key)
    return f"did:key:{mb}#{mb}"
