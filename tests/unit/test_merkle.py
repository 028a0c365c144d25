"""Unit and property tests for ledger.merkle against independent RFC 9162 reference code."""

import hashlib
from collections.abc import Callable, Sequence
from functools import cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_UINT64,
    ProofError,
    consistency_proof,
    consistency_ranges,
    fold_parts,
    inclusion_proof,
    inclusion_ranges,
    is_valid_subtree,
    leaf_hash,
    node_hash,
    perfect_parts,
    root_from_inclusion,
    root_from_leaf_hashes,
    subtree_consistency_proof,
    subtree_consistency_ranges,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

Range = tuple[int, int]


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _k(n: int) -> int:
    """Largest power of two strictly smaller than n (RFC 9162 §2.1.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


# --- Independent reference: the recursive definitions of RFC 9162 §2.1 and of the
# --- subtree proofs (MTC draft), written as literally as possible, over ranges.


def ref_path(m: int, lo: int, hi: int) -> list[Range]:
    """PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1, as ranges."""
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m < k:
        return [*ref_path(m, lo, lo + k), (lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), (lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[Range]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1, as ranges."""
    if m == hi - lo:
        return [] if b else [(lo, hi)]
    k = _k(hi - lo)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), (lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), (lo, lo + k)]


def ref_subtree_subproof(start: int, end: int, lo: int, hi: int, b: bool) -> list[Range]:
    """SUBTREE_SUBPROOF of the subtree-proof draft, as absolute ranges."""
    if (start, end) == (lo, hi):
        return [] if b else [(lo, hi)]
    mid = lo + _k(hi - lo)
    if end <= mid:
        return [*ref_subtree_subproof(start, end, lo, mid, b), (mid, hi)]
    if start >= mid:
        return [*ref_subtree_subproof(start, end, mid, hi, b), (lo, mid)]
    assert start == lo  # a valid subtree only straddles a split when left-aligned
    return [*ref_subtree_subproof(mid, end, mid, hi, False), (lo, mid)]


class RefTree:
    """In-memory tree with a memoised recursive MTH and a node table of perfect subtrees."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.mth: Callable[[int, int], bytes] = cache(self._mth)
        # levels[h][i] is the stored node (h, i): the perfect subtree over
        # leaves [i * 2**h, (i + 1) * 2**h), as a tile store would keep it.
        self.levels = [self.leaves]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append([node_hash(*below[i : i + 2]) for i in range(0, len(below) - 1, 2)])

    def _mth(self, lo: int, hi: int) -> bytes:
        if hi - lo == 0:
            return hashlib.sha256(b"").digest()
        if hi - lo == 1:
            return self.leaves[lo]
        k = _k(hi - lo)
        return node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def hashes(self, ranges: Sequence[Range]) -> list[bytes]:
        return [self.mth(lo, hi) for lo, hi in ranges]

    def tile_proof(self, ranges: Sequence[Range]) -> list[bytes]:
        """Build a proof the way the tile store does: ranges -> perfect parts -> fold."""
        return [
            fold_parts([self.levels[h][i] for h, i in perfect_parts(lo, hi)]) for lo, hi in ranges
        ]


def _assert_proof_range(lo: int, hi: int) -> None:
    """The tile-store contract: a range starts at a multiple of BIT_FLOOR(its length)."""
    length = hi - lo
    assert length > 0
    assert lo % (1 << (length.bit_length() - 1)) == 0


# --- Hashing


def test_leaf_and_node_hash_use_rfc6962_domain_separation() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert HASH_SIZE == len(EMPTY_ROOT) == 32


def test_proof_error_is_a_value_error() -> None:
    assert issubclass(ProofError, ValueError)


@pytest.mark.parametrize("n", range(0, 70))
def test_root_from_leaf_hashes_matches_recursive_mth(n: int) -> None:
    leaves = _leaves(n)
    assert root_from_leaf_hashes(leaves) == RefTree(leaves).mth(0, n)


@pytest.mark.slow
def test_root_from_leaf_hashes_handles_a_million_leaves_without_recursion() -> None:
    n = 1_000_000
    leaves = [leaf_hash(b"")] * n
    # Identical leaves make every perfect subtree of height h hash the same, so the
    # expected root is cheap to derive from perfect_parts.
    per_height = [leaves[0]]
    for _ in range(n.bit_length()):
        per_height.append(node_hash(per_height[-1], per_height[-1]))
    expected = fold_parts([per_height[h] for h, _ in perfect_parts(0, n)])
    assert root_from_leaf_hashes(leaves) == expected


# --- Ranges and perfect parts


def test_perfect_parts_decomposes_largest_first() -> None:
    assert perfect_parts(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert perfect_parts(8, 16) == [(3, 1)]
    assert perfect_parts(12, 15) == [(1, 6), (0, 14)]
    assert perfect_parts(5, 6) == [(0, 5)]


@pytest.mark.parametrize(("begin", "end"), [(3, 3), (4, 2), (-1, 1), (1, 3), (2, 6), (4, 12)])
def test_perfect_parts_rejects_empty_and_unaligned_ranges(begin: int, end: int) -> None:
    with pytest.raises(ValueError, match=r"range \["):
        perfect_parts(begin, end)


def test_fold_parts_rejects_nothing_to_fold() -> None:
    with pytest.raises(ValueError, match="at least one"):
        fold_parts([])


@given(st.integers(0, 2**64), st.integers(1, 2**64))
def test_perfect_parts_tile_an_aligned_range_exactly(unit: int, length: int) -> None:
    begin = unit * (1 << (length.bit_length() - 1))
    parts = perfect_parts(begin, begin + length)
    heights = [h for h, _ in parts]
    assert heights == sorted(set(heights), reverse=True)
    cursor = begin
    for h, i in parts:
        assert i << h == cursor  # contiguous and aligned to its own size
        cursor += 1 << h
    assert cursor == begin + length


@pytest.mark.parametrize("n", range(1, 40))
def test_fold_parts_of_stored_nodes_is_the_range_mth(n: int) -> None:
    tree = RefTree(_leaves(n))
    for lo in range(n):
        for hi in range(lo + 1, n + 1):
            if lo % (1 << ((hi - lo).bit_length() - 1)) == 0:
                assert tree.tile_proof([(lo, hi)]) == [tree.mth(lo, hi)]


@pytest.mark.parametrize("n", range(1, 70))
def test_inclusion_and_consistency_ranges_match_rfc9162_definitions(n: int) -> None:
    for m in range(n):
        assert inclusion_ranges(m, n) == ref_path(m, 0, n)
    assert consistency_ranges(0, n) == []
    for m in range(1, n + 1):
        assert consistency_ranges(m, n) == ref_subproof(m, 0, n, True)


def test_ranges_reject_impossible_arguments() -> None:
    for index, size in [(0, 0), (3, 3), (-1, 4)]:
        with pytest.raises(ValueError, match="not in a tree"):
            inclusion_ranges(index, size)
    for old, new in [(5, 4), (-1, 2)]:
        with pytest.raises(ValueError, match="no consistency proof"):
            consistency_ranges(old, new)
    assert consistency_ranges(7, 7) == []


def test_ranges_work_at_uint64_scale() -> None:
    top = MAX_UINT64
    ranges = inclusion_ranges(top - 1, top) + consistency_ranges(2**63 + 5, top)
    assert len(inclusion_ranges(0, top)) == 64  # leftmost leaf: full depth
    assert len(inclusion_ranges(top - 1, top)) == 63  # last leaf: sizes 2**63, ..., 2, 1
    for lo, hi in ranges:
        _assert_proof_range(lo, hi)
        assert perfect_parts(lo, hi)


# --- The tile-store property: ranges + perfect_parts + fold_parts == reference proof


def _check_tile_proofs_for_size(n: int) -> None:
    tree = RefTree(_leaves(n))
    root = tree.mth(0, n)
    for m in range(n):
        ranges = inclusion_ranges(m, n)
        for lo, hi in ranges:
            _assert_proof_range(lo, hi)
        proof = tree.tile_proof(ranges)
        assert proof == tree.hashes(ref_path(m, 0, n))
        verify_inclusion(tree.leaves[m], m, n, proof, root)
    for old in range(n + 1):
        ranges = consistency_ranges(old, n)
        for lo, hi in ranges:
            _assert_proof_range(lo, hi)
        proof = tree.tile_proof(ranges)
        assert proof == (tree.hashes(ref_subproof(old, 0, n, True)) if old else [])
        verify_consistency(old, n, proof, tree.mth(0, old), root)


@pytest.mark.parametrize("n", [*range(1, 66), 127, 128, 129, 255, 256, 257])
def test_tile_built_proofs_equal_reference_proofs_for_small_trees(n: int) -> None:
    _check_tile_proofs_for_size(n)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5000))
@example(4095)
@example(4096)
@example(4097)
@example(5000)
def test_tile_built_proofs_equal_reference_proofs_for_random_sizes(n: int) -> None:
    _check_tile_proofs_for_size(n)


def test_in_memory_proofs_equal_reference_proofs() -> None:
    tree = RefTree(_leaves(21))
    for n in range(1, 22):
        for m in range(n):
            assert inclusion_proof(m, n, tree.leaves) == tree.hashes(ref_path(m, 0, n))
        for old in range(1, n + 1):
            expected = tree.hashes(ref_subproof(old, 0, n, True))
            assert consistency_proof(old, n, tree.leaves) == expected


def test_in_memory_proofs_need_enough_leaves() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        inclusion_proof(0, 5, _leaves(4))
    with pytest.raises(ValueError, match="exceeds"):
        consistency_proof(2, 5, _leaves(4))


# --- Verification: rejections


def _mutations(proof: Sequence[bytes]) -> list[list[bytes]]:
    """Every single-element bit flip, deletion, insertion and duplication of a proof."""
    out: list[list[bytes]] = []
    extra = hashlib.sha256(b"extra").digest()
    for i, p in enumerate(proof):
        out.append([*proof[:i], bytes([p[0] ^ 1]) + p[1:], *proof[i + 1 :]])
        out.append([*proof[:i], *proof[i + 1 :]])
    for i in range(len(proof) + 1):
        out.append([*proof[:i], extra, *proof[i:]])
    return out


@pytest.mark.parametrize("n", range(1, 18))
def test_verify_inclusion_rejects_any_tampering(n: int) -> None:
    tree = RefTree(_leaves(n))
    root = tree.mth(0, n)
    for m in range(n):
        proof = inclusion_proof(m, n, tree.leaves)
        for bad in _mutations(proof):
            with pytest.raises(ProofError):
                verify_inclusion(tree.leaves[m], m, n, bad, root)
        # Not (m, n + 1): a proof need not pin the size (e.g. leaf 0 of 5 vs of 6);
        # the signed checkpoint does.  Doubling the size always changes the path length.
        for other_m, other_n in [(m ^ 1, n), (m + 1, n), (m, 2 * n)]:
            with pytest.raises(ProofError):
                verify_inclusion(tree.leaves[m], other_m, other_n, proof, root)
        with pytest.raises(ProofError, match="root mismatch"):
            verify_inclusion(leaf_hash(b"not a leaf"), m, n, proof, root)


@pytest.mark.parametrize("n", range(2, 18))
def test_verify_consistency_rejects_any_tampering(n: int) -> None:
    tree = RefTree(_leaves(n))
    root = tree.mth(0, n)
    for old in range(1, n):
        old_root = tree.mth(0, old)
        proof = consistency_proof(old, n, tree.leaves)
        for bad in _mutations(proof):
            with pytest.raises(ProofError):
                verify_consistency(old, n, bad, old_root, root)
        for other_old in {old - 1, old + 1, old ^ 2} - {old}:
            with pytest.raises(ProofError):
                verify_consistency(other_old, n, proof, old_root, root)
        with pytest.raises(ProofError):
            verify_consistency(old, n, proof, root, old_root)  # swapped roots
        # A wrong old root alone: caught as the old root, or (old a power of two, the
        # proof then starts from it) as the new root.
        with pytest.raises(ProofError, match="root"):
            verify_consistency(old, n, proof, tree.mth(0, old - 1), root)


def test_root_from_inclusion_returns_the_implied_root() -> None:
    leaves = _leaves(11)
    proof = inclusion_proof(6, 11, leaves)
    assert root_from_inclusion(leaves[6], 6, 11, proof) == root_from_leaf_hashes(leaves)
    with pytest.raises(
        ProofError, match=r"too short \(3 hashes\) for \[6, 7\) in a tree of size 11"
    ):
        root_from_inclusion(leaves[6], 6, 11, proof[:-1])
    with pytest.raises(ProofError, match="too long"):
        root_from_inclusion(leaves[6], 6, 11, [*proof, proof[0]])


# --- Project rules


def test_consistency_from_size_zero_needs_empty_proof_and_empty_root() -> None:
    leaves = _leaves(5)
    root = root_from_leaf_hashes(leaves)
    verify_consistency(0, 5, [], EMPTY_ROOT, root)
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="empty tree root mismatch"):
        verify_consistency(0, 0, [], EMPTY_ROOT, root)
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 5, [root], EMPTY_ROOT, root)
    with pytest.raises(ProofError, match="empty \\(sub\\)tree root mismatch"):
        verify_consistency(0, 5, [], leaves[0], root)


def test_consistency_between_equal_sizes_needs_equal_roots_and_empty_proof() -> None:
    root = root_from_leaf_hashes(_leaves(6))
    verify_consistency(6, 6, [], root, root)
    with pytest.raises(ProofError, match="root mismatch"):
        verify_consistency(6, 6, [], root, EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_consistency(6, 6, [root], root, root)


def test_consistency_to_a_smaller_tree_is_an_error() -> None:
    with pytest.raises(ProofError, match="larger than new size"):
        verify_consistency(3, 2, [], EMPTY_ROOT, EMPTY_ROOT)


@pytest.mark.parametrize("bad_size", [0, 31, 33, 64])
def test_every_hash_must_be_exactly_32_bytes(bad_size: int) -> None:
    leaves = _leaves(5)
    root = root_from_leaf_hashes(leaves)
    proof = inclusion_proof(2, 5, leaves)
    bad = b"\x00" * bad_size
    with pytest.raises(ProofError, match="leaf is"):
        verify_inclusion(bad, 2, 5, proof, root)
    with pytest.raises(ProofError, match="root is"):
        verify_inclusion(leaves[2], 2, 5, proof, bad)
    with pytest.raises(ProofError, match=r"proof\[1\] is"):
        verify_inclusion(leaves[2], 2, 5, [proof[0], bad, proof[2]], root)
    with pytest.raises(ProofError, match="old_root is"):
        verify_consistency(3, 3, [], bad, bad)
    with pytest.raises(ProofError, match="new_root is"):
        verify_consistency(0, 5, [], EMPTY_ROOT, bad)


@pytest.mark.parametrize(
    ("index", "size"), [(-1, 5), (0, -1), (0, MAX_UINT64 + 1), (MAX_UINT64 + 1, MAX_UINT64 + 2)]
)
def test_indices_and_sizes_must_be_uint64(index: int, size: int) -> None:
    with pytest.raises(ProofError, match="not a uint64"):
        verify_inclusion(EMPTY_ROOT, index, size, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="not a uint64"):
        verify_consistency(index, size, [], EMPTY_ROOT, EMPTY_ROOT)


def test_verification_works_at_the_top_of_the_uint64_range() -> None:
    # Proof hashes for a 2**64-1 leaf tree cannot be computed, but the chaining
    # only depends on the structure: any hashes of the right count give one root.
    size = MAX_UINT64
    for index in (0, 2**63 + 7, size - 1):
        count = len(inclusion_ranges(index, size))
        proof = [hashlib.sha256(bytes([i])).digest() for i in range(count)]
        root = root_from_inclusion(EMPTY_ROOT, index, size, proof)
        verify_inclusion(EMPTY_ROOT, index, size, proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(EMPTY_ROOT, index ^ 2, size, proof, root)
    with pytest.raises(ProofError, match="not in a tree"):
        verify_inclusion(EMPTY_ROOT, size, size, proof, root)


# --- Subtrees


def test_is_valid_subtree_requires_alignment_to_bit_ceil() -> None:
    assert is_valid_subtree(0, 6) and is_valid_subtree(8, 13) and is_valid_subtree(4, 7)
    assert is_valid_subtree(5, 6) and is_valid_subtree(16, 32)
    for start, end in [(1, 3), (2, 5), (2, 6), (1, 15), (3, 5), (1, 1), (2, 1), (-2, 0)]:
        assert not is_valid_subtree(start, end)


def _valid_subtrees(n: int) -> list[Range]:
    return [(s, e) for e in range(1, n + 1) for s in range(e) if is_valid_subtree(s, e)]


@pytest.mark.parametrize("n", range(1, 34))
def test_subtree_consistency_proofs_match_the_draft_and_verify(n: int) -> None:
    tree = RefTree(_leaves(n))
    root = tree.mth(0, n)
    for start, end in _valid_subtrees(n):
        ranges = subtree_consistency_ranges(start, end, n)
        assert ranges == ref_subtree_subproof(start, end, 0, n, True)
        for lo, hi in ranges:
            _assert_proof_range(lo, hi)
        proof = subtree_consistency_proof(start, end, n, tree.leaves)
        assert proof == tree.tile_proof(ranges)
        verify_subtree_consistency(start, end, n, proof, tree.mth(start, end), root)
        for bad in _mutations(proof):
            with pytest.raises(ProofError):
                verify_subtree_consistency(start, end, n, bad, tree.mth(start, end), root)
        with pytest.raises(ProofError, match="root mismatch"):
            verify_subtree_consistency(start, end, n, proof, tree.mth(start, end), EMPTY_ROOT)
        with pytest.raises(ProofError):
            verify_subtree_consistency(start, end, n, proof, EMPTY_ROOT, root)


def test_empty_subtree_is_consistent_with_any_tree_of_at_least_its_start() -> None:
    root = root_from_leaf_hashes(_leaves(4))
    for start in range(5):
        assert subtree_consistency_ranges(start, start, 4) == []
        verify_subtree_consistency(start, start, 4, [], EMPTY_ROOT, root)
    with pytest.raises(ProofError, match="not a valid subtree"):
        verify_subtree_consistency(5, 5, 4, [], EMPTY_ROOT, root)
    with pytest.raises(ProofError, match="must be empty"):
        verify_subtree_consistency(2, 2, 4, [root], EMPTY_ROOT, root)


def test_invalid_subtrees_are_rejected() -> None:
    root = root_from_leaf_hashes(_leaves(8))
    for start, end, size in [(1, 3, 8), (2, 6, 8), (0, 9, 8), (3, 2, 8)]:
        with pytest.raises(ProofError, match="not a valid subtree"):
            verify_subtree_consistency(start, end, size, [], root, root)
        with pytest.raises(ValueError, match="not a valid subtree"):
            subtree_consistency_ranges(start, end, size)


@pytest.mark.parametrize("n", range(1, 34))
def test_subtree_inclusion_proofs_verify_and_reject_tampering(n: int) -> None:
    tree = RefTree(_leaves(n))
    for start, end in _valid_subtrees(n):
        subtree_root = tree.mth(start, end)
        for index in range(start, end):
            proof = inclusion_proof(index - start, end - start, tree.leaves[start:end])
            verify_subtree_inclusion(tree.leaves[index], index, start, end, proof, subtree_root)
            for bad in _mutations(proof):
                with pytest.raises(ProofError):
                    verify_subtree_inclusion(
                        tree.leaves[index], index, start, end, bad, subtree_root
                    )
        with pytest.raises(ProofError, match="outside subtree"):
            verify_subtree_inclusion(tree.leaves[0], end, start, end, [], subtree_root)
