"""RFC 6962 / RFC 9162 §2.1 Merkle tree hashing, proofs and proof verification.

Conventions where the published vector sets disagree (project rules):

* Consistency from size 0 is trivially valid, but only with an EMPTY proof and an old
  root equal to EMPTY_ROOT (the only possible hash of an empty tree, which rgdd/CCTV's
  invalid set relies on); any non-empty proof for old == 0 is an error.
  transparency-dev rejects every size1 == 0 proof instead.
* old == new requires an empty proof and equal roots; old > new is an error.
* Every hash (leaf, root, proof element) must be exactly HASH_SIZE bytes, else
  ProofError - also where transparency-dev skips the check (e.g. equal sizes).
* Indices and sizes are uint64: negative values or values above 2**64-1 are errors.
* Subtree proofs (draft-ietf-plants-merkle-tree-certs, ex draft-davidben-tls-merkle-
  tree-certs, appendix B) cover a subtree [start, end) with 0 <= start < end and start a
  multiple of BIT_CEIL(end - start).  Following transparency-dev, an empty subtree
  (start == end <= size) is consistent with any tree via an empty proof, provided its
  root is EMPTY_ROOT (and the tree root too when size == 0).

Every verify_* raises ProofError (a ValueError) with a readable message on any failure.
Proof builders raise plain ValueError for arguments that cannot have a proof.
"""

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
MAX_UINT64 = 2**64 - 1
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Range = tuple[int, int]


class ProofError(ValueError):
    """A proof, hash or tree size failed verification."""


def leaf_hash(data: bytes) -> bytes:
    """Return SHA-256(0x00 || data), the RFC 9162 hash of a leaf entry."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right), the RFC 9162 hash of an inner node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(length: int) -> int:
    """Largest power of two strictly below length (length >= 2): MTH's split point."""
    return 1 << ((length - 1).bit_length() - 1)


def fold_parts(hashes: Sequence[bytes]) -> bytes:
    """Return MTH of a range from its perfect_parts hashes: H(p0, H(p1, ... pk))."""
    if not hashes:
        raise ValueError("fold_parts needs at least one hash")
    acc = hashes[-1]
    # Right fold: MTH splits off the largest perfect subtree first, so the
    # smallest (rightmost) parts combine first.
    for part in reversed(hashes[:-1]):
        acc = node_hash(part, acc)
    return acc


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return MTH (RFC 9162 §2.1.1) over leaf hashes, iteratively in O(n) time, O(log n) space."""
    if not hashes:
        return EMPTY_ROOT
    # Binary-counter stack of perfect subtrees (height, hash), largest first;
    # after all leaves it holds exactly perfect_parts(0, n), so fold_parts ends it.
    stack: list[tuple[int, bytes]] = []
    for leaf in hashes:
        height, acc = 0, leaf
        while stack and stack[-1][0] == height:
            acc = node_hash(stack.pop()[1], acc)
            height += 1
        stack.append((height, acc))
    return fold_parts([h for _, h in stack])


def perfect_parts(begin: int, end: int) -> list[tuple[int, int]]:
    """Split a proof range [begin, end) into perfect subtrees (height, index), largest first."""
    length = end - begin
    if begin < 0 or length <= 0:
        raise ValueError(f"range [{begin}, {end}) is empty or negative")
    if begin % (1 << (length.bit_length() - 1)):
        # Proof ranges always start at a multiple of BIT_FLOOR(length); other ranges
        # cannot be folded into their MTH from aligned perfect subtrees.
        raise ValueError(f"range [{begin}, {end}) is not a Merkle tree proof range")
    parts: list[tuple[int, int]] = []
    for height in range(length.bit_length() - 1, -1, -1):
        if length >> height & 1:
            parts.append((height, begin >> height))
            begin += 1 << height
    return parts


def is_valid_subtree(start: int, end: int) -> bool:
    """Tell whether [start, end) is a non-empty subtree: start a multiple of BIT_CEIL(end-start)."""
    if not 0 <= start < end:
        return False
    return start % (1 << (end - start - 1).bit_length()) == 0


def subtree_consistency_ranges(start: int, end: int, size: int) -> list[Range]:
    """Return the ranges whose hashes prove subtree [start, end) consistent with D[0:size]."""
    if start == end and 0 <= end <= size:
        return []
    if not is_valid_subtree(start, end) or end > size:
        raise ValueError(f"[{start}, {end}) is not a valid subtree of a tree of size {size}")
    lo, hi, known = 0, size, True
    upper: list[Range] = []  # collected top-down; the proof lists them bottom-up
    while (lo, hi) != (start, end):
        mid = lo + _split(hi - lo)
        if end <= mid:
            upper.append((mid, hi))
            hi = mid
        elif start >= mid:
            upper.append((lo, mid))
            lo = mid
        else:
            # Only a left-aligned subtree straddles a split (start == lo); its right
            # part is not the subtree root, so the verifier needs that node hash too.
            upper.append((lo, mid))
            lo = start = mid
            known = False
    return ([] if known else [(lo, hi)]) + upper[::-1]


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Return the ranges whose hashes form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), bottom-up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    # PATH is the subtree consistency proof of the one-leaf subtree [index, index+1).
    return subtree_consistency_ranges(index, index + 1, size)


def consistency_ranges(old: int, new: int) -> list[Range]:
    """Return the ranges whose hashes form PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    return subtree_consistency_ranges(0, old, new)


def _hashes_for(ranges: Sequence[Range], limit: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Hash each range over in-memory leaf hashes of a tree of size limit."""
    if limit > len(leaf_hashes):
        raise ValueError(f"tree size {limit} exceeds the {len(leaf_hashes)} leaf hashes given")
    return [root_from_leaf_hashes(leaf_hashes[b:e]) for b, e in ranges]


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the inclusion proof of leaf index in the tree of the first size leaf hashes."""
    return _hashes_for(inclusion_ranges(index, size), size, leaf_hashes)


def consistency_proof(old: int, new: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the consistency proof from size old to size new over in-memory leaf hashes."""
    return _hashes_for(consistency_ranges(old, new), new, leaf_hashes)


def subtree_consistency_proof(
    start: int, end: int, size: int, leaf_hashes: Sequence[bytes]
) -> list[bytes]:
    """Return the subtree consistency proof of [start, end) in the tree of size leaves."""
    return _hashes_for(subtree_consistency_ranges(start, end, size), size, leaf_hashes)


def _check_uint64(**values: int) -> None:
    for name, value in values.items():
        if not 0 <= value <= MAX_UINT64:
            raise ProofError(f"{name} {value} is not a uint64")


def _check_hashes(proof: Sequence[bytes], **hashes: bytes) -> None:
    named = [*hashes.items(), *((f"proof[{i}]", p) for i, p in enumerate(proof))]
    for name, value in named:
        if len(value) != HASH_SIZE:
            raise ProofError(f"{name} is {len(value)} bytes, expected {HASH_SIZE}")


def _chain(start: int, end: int, size: int, proof: Sequence[bytes], node: bytes) -> bytes:
    """Evaluate a subtree consistency proof for valid [start, end) with hash node; return root.

    This is appendix B of the MTC draft, which generalises RFC 9162 §2.1.4.2 (start=0)
    and §2.1.3.2 ([index, index+1)): fn/sn/tn track the subtree's left edge, its right
    edge and the tree's right edge while climbing from the leaves to the root.
    """
    fn, sn, tn = start, end - 1, size - 1
    where = f"for [{start}, {end}) in a tree of size {size}"
    # Skip the levels below the first proof hash: the subtree root if the subtree is a
    # node of the tree, else the highest perfect node on the subtree's right edge.
    while fn != sn and (sn == tn or sn & 1):
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    rest = iter(proof)
    seed = node if fn == sn else next(rest, None)
    if seed is None:
        raise ProofError(f"proof is empty {where}")
    fr = sr = seed
    for p in rest:
        if tn == 0:
            raise ProofError(f"proof is too long ({len(proof)} hashes) {where}")
        if sn & 1 or sn == tn:
            if fn < sn:  # still below the subtree root: it includes p too
                fr = node_hash(p, fr)
            sr = node_hash(p, sr)
            while not sn & 1:  # skip levels where the right edge has no left sibling
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = node_hash(sr, p)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofError(f"proof is too short ({len(proof)} hashes) {where}")
    if fr != node:
        raise ProofError(f"proof does not reproduce the old/subtree root {where}")
    return sr


def _expect(computed: bytes, expected: bytes, what: str) -> None:
    if computed != expected:
        raise ProofError(
            f"{what} mismatch: computed {computed.hex()[:16]}..., expected {expected.hex()[:16]}..."
        )


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Return the tree root implied by an inclusion proof, or raise ProofError if malformed."""
    _check_uint64(index=index, size=size)
    _check_hashes(proof, leaf=leaf)
    if index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    return _chain(index, index + 1, size, proof, leaf)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that leaf hash is at index in the tree of size with root (RFC 9162 §2.1.3.2)."""
    _check_hashes((), root=root)
    _expect(root_from_inclusion(leaf, index, size, proof), root, "root")


def verify_subtree_consistency(
    start: int, end: int, size: int, proof: Sequence[bytes], subtree_root: bytes, root: bytes
) -> None:
    """Verify that subtree [start, end) with subtree_root is part of the tree of size with root."""
    _check_uint64(start=start, end=end, size=size)
    _check_hashes(proof, subtree_root=subtree_root, root=root)
    if start == end and end <= size:
        # An empty subtree is in every tree; its hash can only be EMPTY_ROOT.
        if proof:
            raise ProofError(f"proof from an empty (sub)tree must be empty, got {len(proof)}")
        _expect(subtree_root, EMPTY_ROOT, "empty (sub)tree root")
        if size == 0:  # then the whole tree is empty too
            _expect(root, EMPTY_ROOT, "empty tree root")
        return
    if not is_valid_subtree(start, end) or end > size:
        raise ProofError(f"[{start}, {end}) is not a valid subtree of a tree of size {size}")
    _expect(_chain(start, end, size, proof, subtree_root), root, "root")


def verify_consistency(
    old: int, new: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Verify that tree (old, old_root) is a prefix of tree (new, new_root) (RFC 9162 §2.1.4.2)."""
    _check_uint64(old=old, new=new)
    _check_hashes(proof, old_root=old_root, new_root=new_root)  # report under these names
    if old > new:
        raise ProofError(f"old size {old} is larger than new size {new}")
    # D[0:old] is the subtree [0, old): covers old == 0 (empty subtree), old == new
    # (the subtree is the whole tree, so equal roots and an empty proof) and the rest.
    verify_subtree_consistency(0, old, new, proof, old_root, new_root)


def verify_subtree_inclusion(
    leaf: bytes, index: int, start: int, end: int, proof: Sequence[bytes], subtree_root: bytes
) -> None:
    """Verify that leaf hash is at index in subtree [start, end) with subtree_root."""
    _check_uint64(index=index, start=start, end=end)
    _check_hashes(proof, leaf=leaf, subtree_root=subtree_root)
    if not is_valid_subtree(start, end):
        raise ProofError(f"[{start}, {end}) is not a valid subtree")
    if not start <= index < end:
        raise ProofError(f"leaf index {index} is outside subtree [{start}, {end})")
    # A subtree's hash is the MTH of its own leaves, so the proof is an ordinary
    # inclusion proof with the index re-rooted at start.
    verify_inclusion(leaf, index - start, end - start, proof, subtree_root)
