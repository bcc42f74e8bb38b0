"""ledger.merkle against a second, independent implementation of RFC 6962/9162 written here from
the recursive definitions (MTH, PATH, PROOF/SUBPROOF), with its own recursive verifiers."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.merkle import ProofError


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return H(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_verify_inclusion(leaf_data: bytes, m: int, n: int, path: list[bytes], root: bytes) -> bool:
    """Rebuild the root by the same recursion the proof was made by, taking hashes from the end."""
    rest = list(path)

    def rebuild(m: int, n: int) -> bytes:
        if n == 1:
            return H(b"\x00" + leaf_data)
        if not rest:
            raise IndexError
        k = ref_k(n)
        sibling = rest.pop()
        if m < k:
            return H(b"\x01" + rebuild(m, k) + sibling)
        return H(b"\x01" + sibling + rebuild(m - k, n - k))

    try:
        return 0 <= m < n and rebuild(m, n) == root and not rest
    except IndexError:
        return False


def ref_verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    if m == n:
        return not proof and old_root == new_root
    if m == 0:
        return not proof
    rest = list(proof)

    def rebuild(m: int, n: int, b: bool) -> tuple[bytes, bytes]:
        if m == n:
            if b:
                return old_root, old_root
            h = rest.pop()
            return h, h
        k = ref_k(n)
        h = rest.pop()
        if m <= k:
            old, new = rebuild(m, k, b)
            return old, H(b"\x01" + new + h)
        old, new = rebuild(m - k, n - k, False)
        return H(b"\x01" + h + old), H(b"\x01" + h + new)

    try:
        old, new = rebuild(m, n, True)
    except IndexError:
        return False
    return not rest and old == old_root and new == new_root


def leaves(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def subtree_of(d: list[bytes]):
    return lambda start, end: ref_mth(d[start:end])


# --- fixed vectors ----------------------------------------------------------------------------


def test_known_roots():
    # The empty tree is SHA-256 of nothing; one leaf is SHA-256(0x00 || data) (RFC 9162 §2.1.1).
    assert merkle.root_of_hashes([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    # The 8 leaves of the Certificate Transparency reference tests (Go's and C++'s merkle test data).
    ct = [bytes.fromhex(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"]]
    frontier = merkle.Frontier()
    roots = []
    for d in ct:
        frontier.append(merkle.leaf_hash(d))
        roots.append(frontier.root().hex())
    assert roots == [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    # Inclusion of leaf 0 in the 8-leaf tree, as those test data give it.
    path = merkle.inclusion_proof(0, 8, lambda a, b: ref_mth(ct[a:b]))
    assert [p.hex() for p in path] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def test_frontier_reports_completed_subtrees():
    seen = []
    frontier = merkle.Frontier(on_subtree=lambda height, start, h: seen.append((height, start, h)))
    d = leaves(8)
    for x in d:
        frontier.append(merkle.leaf_hash(x))
    assert (3, 0, ref_mth(d)) in seen and (2, 4, ref_mth(d[4:8])) in seen and (1, 2, ref_mth(d[2:4])) in seen
    assert len(seen) == 7


# --- properties against the reference ---------------------------------------------------------

sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=150, deadline=None)
@given(n=sizes, data=st.data())
def test_frontier_root_is_the_tree_hash_and_survives_a_restart(n, data):
    d = leaves(n)
    cut = data.draw(st.integers(0, n))
    first = merkle.Frontier()
    for x in d[:cut]:
        first.append(merkle.leaf_hash(x))
    resumed = merkle.Frontier(first.size, first.hashes)
    for x in d[cut:]:
        resumed.append(merkle.leaf_hash(x))
    assert resumed.root() == ref_mth(d)


@settings(max_examples=150, deadline=None)
@given(n=sizes, data=st.data())
def test_inclusion_proofs_match_the_reference_and_verify(n, data):
    d = leaves(n)
    m = data.draw(st.integers(0, n - 1))
    root = ref_mth(d)
    path = merkle.inclusion_proof(m, n, subtree_of(d))
    assert path == ref_path(m, d)
    merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, path, root)
    assert ref_verify_inclusion(d[m], m, n, path, root)


@settings(max_examples=200, deadline=None)
@given(n=sizes, data=st.data())
def test_consistency_proofs_match_the_reference_and_verify(n, data):
    d = leaves(n)
    m = data.draw(st.integers(0, n))
    old, new = ref_mth(d[:m]), ref_mth(d)
    proof = merkle.consistency_proof(m, n, subtree_of(d))
    assert proof == (ref_subproof(m, d, True) if 0 < m < n else [])
    merkle.verify_consistency(m, n, old, new, proof)
    assert ref_verify_consistency(m, n, old, new, proof)


def mutations(proof: list[bytes], draw):
    """Ways to spoil a proof: flip a bit of one hash, drop one, add one, swap two."""
    out = []
    if proof:
        i = draw(st.integers(0, len(proof) - 1))
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 1]) + flipped[i][1:]
        out += [flipped, proof[:i] + proof[i + 1:]]
        if len(proof) > 1 and proof[0] != proof[-1]:
            out.append([proof[-1]] + proof[1:-1] + [proof[0]])
    out.append(proof + [H(b"extra")])
    return out


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 300), data=st.data())
def test_spoilt_inclusion_proofs_are_refused_by_both(n, data):
    d = leaves(n)
    m = data.draw(st.integers(0, n - 1))
    root = ref_mth(d)
    path = merkle.inclusion_proof(m, n, subtree_of(d))
    for bad in mutations(path, data.draw):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, bad, root)
        assert not ref_verify_inclusion(d[m], m, n, bad, root)
    other = data.draw(st.integers(0, n - 1).filter(lambda i: i != m))
    with pytest.raises(ProofError):  # the right path for another index, or another leaf
        merkle.verify_inclusion(merkle.leaf_hash(d[m]), other, n, path, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(merkle.leaf_hash(b"forged"), m, n, path, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, path, ref_mth(d[:-1] + [b"x"]))


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 300), data=st.data())
def test_spoilt_consistency_proofs_are_refused_by_both(n, data):
    d = leaves(n)
    m = data.draw(st.integers(1, n - 1))
    old, new = ref_mth(d[:m]), ref_mth(d)
    proof = merkle.consistency_proof(m, n, subtree_of(d))
    for bad in mutations(proof, data.draw):
        with pytest.raises(ProofError):
            merkle.verify_consistency(m, n, old, new, bad)
        assert not ref_verify_consistency(m, n, old, new, bad)
    # An old tree whose leaf was altered (a re-chained history) cannot be shown consistent.
    i = data.draw(st.integers(0, m - 1))
    altered = d[:i] + [b"altered"] + d[i + 1:m]
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, ref_mth(altered), new, proof)
    assert not ref_verify_consistency(m, n, ref_mth(altered), new, proof)
    # Nor a new tree that dropped or rewrote an old leaf.
    rewritten = altered + d[m:]
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, old, ref_mth(rewritten), merkle.consistency_proof(m, n, subtree_of(rewritten)))


def test_sizes_that_make_no_sense_are_refused():
    with pytest.raises(ProofError):
        merkle.inclusion_proof(5, 5, lambda a, b: b"")
    with pytest.raises(ProofError):
        merkle.consistency_proof(6, 5, lambda a, b: b"")
    with pytest.raises(ProofError):
        merkle.verify_consistency(3, 3, H(b"a"), H(b"b"), [])
    with pytest.raises(ProofError):
        merkle.verify_consistency(3, 5, H(b"a"), H(b"b"), [])
