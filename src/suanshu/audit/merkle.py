"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verifiers. Pure: stdlib only.

    leaf hash  = SHA-256(0x00 || entry)          (entry: the canonical bytes of one audit event)
    node hash  = SHA-256(0x01 || left || right)
    MTH([])    = SHA-256("")
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n]))  k = the largest power of two < n

Appends keep a *frontier*: the roots of the perfect subtrees the tree decomposes into, left to
right, one per set bit of the tree size (largest first). Adding a leaf merges equal-sized
subtrees like a binary counter, so an append costs O(log n) hashes and the root is the
frontier folded from the right.

``verify_inclusion`` and ``verify_consistency`` are RFC 9162 §2.1.3.2 and §2.1.4.2 verbatim,
and are all a third party needs to check a proof printed by ``suanshu audit prove``
(see docs/ARCHITECTURE.md, "Checking an audit proof").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------- incremental appends

def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> list[bytes]:
    """The frontier of a tree of ``size + 1`` leaves, from the frontier of ``size`` leaves."""
    frontier = [*frontier, leaf]
    # Each trailing one bit of ``size`` is a perfect subtree the new leaf completes a pair with.
    n = size
    while n & 1:
        right = frontier.pop()
        frontier[-1] = node_hash(frontier[-1], right)
        n >>= 1
    return frontier


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


# --------------------------------------------------------------------------- from all leaves

class Tree:
    """Proofs over a list of leaf hashes. Perfect, aligned subtree hashes are memoised, so
    many proofs over one tree (``verify`` checks one per checkpoint) share the work."""

    def __init__(self, leaves: Sequence[bytes]):
        self.leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]); in RFC 6962's recursion ``lo`` is always aligned to the left subtree."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.leaves[lo]
        perfect = n & (n - 1) == 0
        if perfect and (got := self._memo.get((lo, hi))) is not None:
            return got
        k = _split(n)
        h = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        if perfect:
            self._memo[(lo, hi)] = h
        return h

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(m, D[n]) of RFC 9162 §2.1.3.1, siblings bottom-up."""
        n = len(self.leaves) if size is None else size
        if not 0 <= index < n <= len(self.leaves):
            raise ValueError(f"leaf {index} is not in a tree of {n}")
        path: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:  # walk down from the root, collecting siblings top-down
            k = _split(hi - lo)
            if index < lo + k:
                path.append(self.mth(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.mth(lo, lo + k))
                lo += k
        return path[::-1]

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """PROOF(m, D[n]) of RFC 9162 §2.1.4.1: the tree of ``old_size`` leaves is a prefix."""
        n = len(self.leaves) if size is None else size
        if not 0 <= old_size <= n <= len(self.leaves):
            raise ValueError(f"cannot prove size {old_size} against a tree of {n}")
        if old_size in (0, n):
            return []
        path: list[bytes] = []
        lo, hi, complete = 0, n, True
        while old_size != hi:
            k = _split(hi - lo)
            if old_size <= lo + k:
                path.append(self.mth(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.mth(lo, lo + k))
                lo, complete = lo + k, False
        if not complete:
            path.append(self.mth(lo, hi))
        return path[::-1]


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, O(n)."""
    frontier: list[bytes] = []
    for i, leaf in enumerate(leaves):
        frontier = frontier_append(frontier, i, leaf)
    return frontier_root(frontier)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    return Tree(leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    return Tree(leaves).consistency_proof(old_size)


# --------------------------------------------------------------------------- verifiers (RFC 9162)

def verify_inclusion(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: is ``leaf`` the ``index``-th leaf of the tree with ``root_hash``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (old_size, old_root) a prefix of (new_size, new_root)?"""
    if old_size == 0:
        return not path  # the empty tree is a prefix of every tree
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    path = list(path)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0
