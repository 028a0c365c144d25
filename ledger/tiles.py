"""The stored Merkle tree as tiles: eight levels of nodes per database row.

Node (h, i) is the root of the perfect subtree over leaves [i·2^h, (i+1)·2^h).
Tile (L, T) holds the nodes of heights 8L … 8L+7 below its 256 bottom nodes
(T·256 … T·256+255 at height 8L); row k holds height 8L+k, at most 256 >> k
nodes, and a partial tile holds only its complete nodes. The tile's own root
(height 8L+8) is the bottom row of level L+1. A full tile is 510 hashes
(16 KiB) and never changes again; only the right edge of each level is
rewritten by the integrator. Any node is one tile read, so a proof for a tree
of n leaves reads at most ~2·log256(n) rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import sha256

from ledger.merkle import HASH_SIZE

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

TileKey = tuple[int, int]  # (level, index)


def tile_key(height: int, index: int) -> tuple[TileKey, int, int]:
    """Where node (height, index) lives: the tile, its row and its position in the row."""
    level, row = divmod(height, TILE_HEIGHT)
    shift = TILE_HEIGHT - row
    tile_index = index >> shift
    return (level, tile_index), row, index - (tile_index << shift)


class Tile:
    """The rows of one tile, growing on the right."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[list[bytes]] | None = None) -> None:
        self.rows: list[list[bytes]] = rows or [[] for _ in range(TILE_HEIGHT)]

    @property
    def width(self) -> int:
        """Number of bottom-row nodes."""
        return len(self.rows[0])

    def to_bytes(self) -> bytes:
        """Rows 0…7 concatenated."""
        return b"".join(b"".join(row) for row in self.rows)

    @classmethod
    def from_bytes(cls, width: int, data: bytes) -> Tile:
        """Parse a stored tile whose bottom row holds width nodes."""
        rows: list[list[bytes]] = []
        offset = 0
        for row in range(TILE_HEIGHT):
            count = width >> row
            end = offset + count * HASH_SIZE
            chunk = data[offset:end]
            rows.append([chunk[i : i + HASH_SIZE] for i in range(0, len(chunk), HASH_SIZE)])
            offset = end
        if offset != len(data) or len(rows[0]) != width:
            raise ValueError("stored tile has the wrong length for its width")
        return cls(rows)


TileLoader = Callable[[Iterable[TileKey]], dict[TileKey, Tile]]


class TreeBuilder:
    """Appends leaf hashes to a tree of known size, touching only right-edge tiles."""

    def __init__(self, size: int, load: TileLoader) -> None:
        self.size = size
        self._load = load
        self.tiles: dict[TileKey, Tile] = {}
        self.dirty: set[TileKey] = set()
        self._prefetch_right_edge()

    def _prefetch_right_edge(self) -> None:
        keys = []
        level = 0
        while (self.size >> (TILE_HEIGHT * level)) > 0:
            keys.append((level, self.size >> (TILE_HEIGHT * (level + 1))))
            level += 1
        self.tiles.update(self._load(keys))

    def node(self, height: int, index: int) -> bytes:
        """A node already in the builder's tiles."""
        key, row, pos = tile_key(height, index)
        return self.tiles[key].rows[row][pos]

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash and every parent it completes."""
        # The integrator's inner loop: tile_key() and node_hash() are inlined on purpose.
        tiles, height, index, value = self.tiles, 0, self.size, leaf
        while True:
            level, row = divmod(height, TILE_HEIGHT)
            shift = TILE_HEIGHT - row
            tile_index = index >> shift
            key = (level, tile_index)
            tile = tiles.get(key)
            if tile is None:
                tile = tiles[key] = Tile()
            cells = tile.rows[row]
            if len(cells) != index - (tile_index << shift):
                raise ValueError(f"stored tree is inconsistent at node ({height}, {index})")
            cells.append(value)
            self.dirty.add(key)
            if index & 1 == 0:
                break
            value = sha256(b"\x01" + cells[-2] + value).digest()  # node_hash
            height, index = height + 1, index >> 1
        self.size += 1

    def root(self) -> bytes:
        """The root of the tree built so far (RFC 6962 MTH)."""
        from ledger.merkle import EMPTY_ROOT, fold_parts, perfect_parts

        if self.size == 0:
            return EMPTY_ROOT
        return fold_parts([self.node(h, i) for h, i in perfect_parts(0, self.size)])
