"""The Merkle tree of Certificate Transparency (RFC 9162 §2.1), small enough to read in one sitting.

Leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right); the tree over n
leaves splits at the largest power of two smaller than n. Proofs are lists of 32-byte hashes in
the order RFC 9162 gives them (§2.1.3 inclusion, §2.1.4 consistency), so any CT verifier accepts
them. Generation asks a `subtree(start, end) -> hash` callback for the hashes it needs, so the
caller decides where leaves come from (a list, or the ledger's log read a chunk at a time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Subtree = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not verify, or asked for with sizes that make no sense."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (or over aligned, equal-sized subtree roots)."""
    if not hashes:
        return EMPTY_ROOT
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    return frontier.root()


class Frontier:
    """The roots of the perfect subtrees that make up a tree of `size` leaves, left to right (one
    per set bit of size): enough to extend the tree and compute its root without its leaves."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = (),
                 on_subtree: Callable[[int, int, bytes], None] | None = None) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} frontier hashes, not {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)
        # Called with (height, start leaf, hash) whenever a perfect subtree of 2**height leaves
        # (height >= 1) completes: how the anchor keeps chunk hashes for later proofs.
        self.on_subtree = on_subtree

    def append(self, leaf: bytes) -> None:
        """Add one leaf (its leaf hash)."""
        n, h, height = self.size, leaf, 0
        while n & 1:
            h = node_hash(self.hashes.pop(), h)
            n >>= 1
            height += 1
            if self.on_subtree is not None:
                self.on_subtree(height, self.size + 1 - (1 << height), h)
        self.hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r


# --- generation ------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index - start < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()  # the RFC lists the sibling nearest the leaf first
    return path


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1 (empty when a size is 0 or they are equal)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} leaves to {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        k = split(end - start)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


# --- verification (the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, step by step) --------------


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless `path` proves leaf hash `leaf` is leaf `index` of the tree `root`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Raise ProofError unless `proof` shows the tree (new_size, new_root) extends (old_size, old_root)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} leaves cannot extend one of {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("trees of equal size need an empty consistency proof")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same {old_size} leaves")
        return
    if old_size == 0:
        if proof:
            raise ProofError("the empty tree needs an empty consistency proof")
        return
    if not proof:
        raise ProofError("empty consistency proof between different non-empty trees")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root: the old tree was altered")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")
