"""The tiled tree: appending across tile boundaries gives the RFC 6962 root."""

from __future__ import annotations

import hashlib

import pytest

from ledger import merkle
from ledger.tiles import Tile, TreeBuilder, tile_key


def leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [
        merkle.leaf_hash(hashlib.sha256(salt + i.to_bytes(8, "big")).digest()) for i in range(n)
    ]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 255, 256, 257, 511, 512, 65535, 65536, 65537, 70001])
def test_the_builders_root_is_the_merkle_tree_hash(size):
    data = leaves(size)
    builder = TreeBuilder(0, lambda keys: {})
    for h in data:
        builder.append(h)
    assert builder.root() == merkle.root_from_leaf_hashes(data)


@pytest.mark.parametrize("split", [1, 100, 256, 300, 65536, 65600])
def test_resuming_from_stored_right_edge_tiles_continues_the_same_tree(split):
    data = leaves(66000, b"resume")
    first = TreeBuilder(0, lambda keys: {})
    for h in data[:split]:
        first.append(h)
    stored = {k: Tile.from_bytes(t.width, t.to_bytes()) for k, t in first.tiles.items()}
    loaded: list[tuple[int, int]] = []

    def load(keys):
        keys = list(keys)
        loaded.extend(keys)
        return {k: stored[k] for k in keys if k in stored}

    second = TreeBuilder(split, load)
    for h in data[split:]:
        second.append(h)
    assert second.root() == merkle.root_from_leaf_hashes(data)
    assert len(loaded) <= 3  # only the right edge of each level is read


def test_node_locations_follow_the_tile_layout():
    assert tile_key(0, 0) == ((0, 0), 0, 0)
    assert tile_key(0, 256) == ((0, 1), 0, 0)
    assert tile_key(7, 1) == ((0, 0), 7, 1)  # row 7 holds two nodes
    assert tile_key(8, 3) == ((1, 0), 0, 3)
    assert tile_key(9, 200) == ((1, 1), 1, 72)


def test_a_stored_tile_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        Tile.from_bytes(3, b"\x00" * 32 * 3)
