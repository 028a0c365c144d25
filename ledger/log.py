"""The global log: sequencing, integration, checkpoints and proofs (Tessera's stages).

1. Sequencing: every appended event enters ``log_pending`` in its transaction.
2. Integration: one integrator at a time (PostgreSQL advisory lock; SQLite's
   single writer) gives pending events the next leaf indices in order and grows
   the tiled tree (ledger/tiles.py).
3. Publishing: a checkpoint signs the integrated size and root.
Proofs read O(log n) stored nodes; nothing is ever rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    any_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from ledger import merkle
from ledger.checkpoint import Checkpoint as CheckpointBody
from ledger.checkpoint import sign_checkpoint
from ledger.errors import Invalid
from ledger.event_ids import stored_event
from ledger.model import Checkpoint, Event, LogLeaf, LogPending, LogState, MerkleTile, utcnow
from ledger.note import NoteError, Signer, split_note
from ledger.store import advisory_lock
from ledger.tiles import Tile, TileKey, TreeBuilder, tile_key

INTEGRATOR_LOCK = "ledger-integrator"  # advisory lock name (per schema) of the integrator


class LogRangeError(Invalid):
    """A proof asked for sizes or indices outside the integrated tree."""


@dataclass(frozen=True)
class Integration:
    """What one integration run did."""

    old_size: int
    new_size: int
    root: bytes


def load_tiles(session: Session, keys: Iterable[TileKey]) -> dict[TileKey, Tile]:
    """Read the given tiles in one query; absent tiles are simply missing."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            col(MerkleTile.level),
            col(MerkleTile.index),
            col(MerkleTile.width),
            col(MerkleTile.hashes),
        ).where(_tiles_matching(wanted))
    )
    try:
        return {(lv, ix): Tile.from_bytes(w, data) for lv, ix, w, data in rows}
    except ValueError as exc:  # a damaged tile: no proof from it (``ledger audit`` names it)
        raise LogRangeError(f"stored tree damaged, no proof served: {exc}") from exc


def _tiles_matching(keys: Iterable[TileKey]) -> ColumnElement[bool]:
    # One "level = ? AND index IN (…)" per level: both databases answer it from the primary
    # key, where a row-value IN makes SQLite scan every tile, and one OR term per tile
    # would exceed SQLite's expression depth of 1000 on a large integration.
    by_level: dict[int, list[int]] = {}
    for level, index in keys:
        by_level.setdefault(level, []).append(index)
    return or_(
        *(
            and_(col(MerkleTile.level) == level, col(MerkleTile.index).in_(indexes))
            for level, indexes in sorted(by_level.items())
        )
    )


def log_state(session: Session, *, for_update: bool = False) -> LogState:
    """The integrated size and root (creating the empty state on first use)."""
    query = select(LogState).where(col(LogState.id) == 1)
    if for_update:
        query = query.with_for_update()
    state = session.execute(query).scalar_one_or_none()
    if state is None:
        state = LogState(id=1, size=0, root=merkle.EMPTY_ROOT)
        session.add(state)
        session.flush()
    return state


def integrate(session: Session, batch: int = 200_000, *, wait: bool = True) -> Integration:
    """Integrate up to ``batch`` pending events; the caller commits.

    With ``wait=False`` it returns at once, integrating nothing, when another
    integrator holds the lock (that one will take these events too).
    """
    if not advisory_lock(session, INTEGRATOR_LOCK, wait=wait):
        state = log_state(session)
        return Integration(state.size, state.size, state.root)
    state = log_state(session, for_update=True)
    old_size = state.size
    # Plain text SQL: rows come back as driver tuples, without the ORM's per-row work.
    pending = session.execute(
        text("SELECT seq, event_id, event_hash FROM log_pending ORDER BY seq LIMIT :n"),
        {"n": batch},
    ).all()
    if not pending:
        return Integration(old_size, old_size, state.root)
    builder = TreeBuilder(old_size, lambda keys: load_tiles(session, keys))
    leaves = []
    for _seq, event_id, event_hash in pending:
        leaves.append((builder.size, event_id))
        builder.append(merkle.leaf_hash(bytes(event_hash)))
    _insert_leaves(session, leaves)
    _dequeue(session, [p[0] for p in pending])
    _store_tiles(session, builder)
    state.size, state.root, state.updated_at = builder.size, builder.root(), utcnow()
    session.add(state)
    session.flush()
    return Integration(old_size, builder.size, state.root)


def _insert_leaves(session: Session, leaves: list[tuple[int, str]]) -> None:
    """Write the leaf index of each integrated event (COPY on PostgreSQL: ~10× executemany)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        statement = "COPY log_leaves (leaf_index, event_id) FROM STDIN"
        try:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                for row in leaves:
                    copy.write_row(row)
        except psycopg.Error as exc:  # past SQLAlchemy: wrapped as its own errors are
            raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        return
    connection.exec_driver_sql(
        "INSERT INTO log_leaves (leaf_index, event_id) VALUES (?, ?)", leaves
    )


def _dequeue(session: Session, seqs: list[int]) -> None:
    """Remove exactly the integrated entries from the queue."""
    queue = LogPending.__table__  # type: ignore[attr-defined]  # core: no ORM session sync
    if session.get_bind().dialect.name == "postgresql":
        # A lower seq may belong to a transaction that commits later: delete by value
        # (the range lets PostgreSQL use the primary key; the array, one parameter, decides).
        values = bindparam("seqs", seqs, type_=ARRAY(BigInteger))
        span = queue.c.seq.between(seqs[0], seqs[-1])
        session.execute(delete(queue).where(span, queue.c.seq == any_(values)))
    else:
        # SQLite has one writer at a time, so seq order is commit order: a range is exact.
        session.execute(delete(queue).where(queue.c.seq <= seqs[-1]))


def _store_tiles(session: Session, builder: TreeBuilder) -> None:
    keys = sorted(builder.dirty)
    session.execute(delete(MerkleTile).where(_tiles_matching(keys)))
    rows = []
    for level, index in keys:
        tile = builder.tiles[(level, index)]
        rows.append(
            {"level": level, "index": index, "width": tile.width, "hashes": tile.to_bytes()}
        )
    session.execute(insert(MerkleTile.__table__), rows)  # type: ignore[attr-defined]


def publish_checkpoint(session: Session, signer: Signer, origin: str) -> Checkpoint:
    """Sign and store a checkpoint of the integrated tree (reusing the newest if unchanged
    and signed with ``signer``'s key: after a key rotation the tree is signed again, so the
    checkpoint served verifies with the key served)."""
    state = log_state(session)
    newest = latest_checkpoint(session)
    if (
        newest is not None
        and newest.size == state.size
        and newest.root == state.root
        and _signed_by(newest.note, signer)
    ):
        return newest
    note = sign_checkpoint(CheckpointBody(origin, state.size, state.root), signer)
    row = Checkpoint(size=state.size, root=state.root, note=note, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def _signed_by(note: str, signer: Signer) -> bool:
    try:
        signatures = split_note(note)[1]
    except NoteError:
        return False
    return any(sig.name == signer.name and sig.key_id == signer.key_id for sig in signatures)


def latest_checkpoint(session: Session) -> Checkpoint | None:
    """The newest stored checkpoint."""
    query = (
        select(Checkpoint).order_by(col(Checkpoint.size).desc(), col(Checkpoint.id).desc()).limit(1)
    )
    return session.execute(query).scalar_one_or_none()


# --- proofs --------------------------------------------------------------------


def _hashes_of_ranges(
    session: Session, ranges: list[tuple[int, int]], tree_size: int
) -> list[bytes]:
    parts = [merkle.perfect_parts(b, e) for b, e in ranges]
    locations = {node: tile_key(*node) for nodes in parts for node in nodes}
    tiles = load_tiles(session, (key for key, _, _ in locations.values()))
    out = []
    for nodes in parts:
        hashes = []
        for node in nodes:
            key, row, pos = locations[node]
            try:
                hashes.append(tiles[key].rows[row][pos])
            except (KeyError, IndexError) as exc:
                raise LogRangeError(f"node {node} is missing from the stored tree") from exc
        out.append(merkle.fold_parts(hashes))
    return out


def _check_size(session: Session, size: int) -> None:
    integrated = session.execute(select(col(LogState.size)).where(col(LogState.id) == 1)).scalar()
    integrated = integrated or 0
    if size < 0 or size > integrated:
        raise LogRangeError(f"tree size {size} is outside the integrated log (0…{integrated})")


def inclusion_proof(session: Session, index: int, size: int) -> tuple[bytes, list[bytes]]:
    """(leaf hash, audit path) of leaf ``index`` in the tree of ``size`` leaves."""
    _check_size(session, size)
    if not 0 <= index < size:
        raise LogRangeError(f"leaf index {index} is not below tree size {size}")
    # One tile query for the leaf and its path together.
    leaf, *path = _hashes_of_ranges(
        session, [(index, index + 1), *merkle.inclusion_ranges(index, size)], size
    )
    return leaf, path


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """The RFC 9162 consistency proof from ``old`` to ``new`` leaves (empty from 0)."""
    _check_size(session, new)
    if not 0 <= old <= new:
        raise LogRangeError(f"old size {old} must be between 0 and new size {new}")
    return _hashes_of_ranges(session, merkle.consistency_ranges(old, new), new)


def root_at(session: Session, size: int) -> bytes:
    """The root hash of the tree of the first ``size`` leaves, from stored nodes."""
    _check_size(session, size)
    if size == 0:
        return merkle.EMPTY_ROOT
    return _hashes_of_ranges(session, [(0, size)], size)[0]


def leaf_event(session: Session, index: int) -> Event | None:
    """The event at a leaf index."""
    query = select(col(LogLeaf.event_id)).where(col(LogLeaf.leaf_index) == index)
    event_id = session.execute(query).scalar_one_or_none()
    return None if event_id is None else stored_event(session, event_id)


def leaf_index_of(session: Session, event_id: str) -> int | None:
    """The leaf index of an integrated event."""
    query = select(col(LogLeaf.leaf_index)).where(col(LogLeaf.event_id) == event_id)
    return session.execute(query).scalar_one_or_none()


def leaf_indexes_of_cylinder(session: Session, cylinder_id: str) -> dict[str, int]:
    """The leaf index of each integrated event of one cylinder, by event id (one query,
    not one per event: a cylinder's history has thousands)."""
    query = (
        select(col(LogLeaf.event_id), col(LogLeaf.leaf_index))
        .join(Event, col(Event.id) == col(LogLeaf.event_id))
        .where(col(Event.cylinder_id) == cylinder_id)
    )
    return {event_id: index for event_id, index in session.execute(query)}
