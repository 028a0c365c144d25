"""The audit's second half: rebuild the Merkle tree from the events and check every
checkpoint and the stored tree against it."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import merkle
from ledger.audit_report import AuditReport
from ledger.checkpoint import CheckpointError, Verifiers, open_checkpoint
from ledger.model import Checkpoint, Event, LogLeaf, LogState, MerkleTile
from ledger.note import NoteError
from ledger.tiles import TreeBuilder


def _leaves(session: Session) -> Generator[tuple[int, str, bytes], None, None]:
    query = (
        select(col(LogLeaf.leaf_index), col(LogLeaf.event_id), col(Event.hash))
        .outerjoin(Event, col(Event.id) == col(LogLeaf.event_id))
        .order_by(col(LogLeaf.leaf_index))
    )
    result = session.execute(query.execution_options(yield_per=10_000))
    try:
        for row in result:
            yield row[0], row[1], row[2]
    finally:
        result.close()  # a server-side cursor on PostgreSQL: never leave it open


def audit_tree(
    session: Session, verifier: Verifiers, origin: str | None, report: AuditReport
) -> None:
    """Rebuild the tree in leaf order; check each checkpoint at its size and the stored tree."""
    by_size: dict[int, list[Checkpoint]] = {}
    for cp in session.execute(select(Checkpoint).order_by(col(Checkpoint.id))).scalars():
        by_size.setdefault(cp.size, []).append(cp)
    builder = TreeBuilder(0, lambda keys: {})
    for cp in by_size.pop(0, []):
        _check_checkpoint(cp, merkle.EMPTY_ROOT, verifier, origin, report)
    with closing(_leaves(session)) as leaves:
        if not _grow(builder, leaves, by_size, verifier, origin, report):
            return  # the log itself is broken: nothing after this point can be trusted
    report.leaves = builder.size
    for cps in by_size.values():
        for cp in cps:
            report.add(
                cp.size,
                f"checkpoint #{cp.id} claims size {cp.size}, "
                f"but the log has only {builder.size} leaves",
                structural=True,
            )
    _compare_stored_tree(session, builder, report)


def _grow(
    builder: TreeBuilder,
    leaves: Iterator[tuple[int, str, bytes]],
    by_size: dict[int, list[Checkpoint]],
    verifier: Verifiers,
    origin: str | None,
    report: AuditReport,
) -> bool:
    """Rebuild the tree leaf by leaf, checking each checkpoint when its size is reached."""
    for expected_index, (leaf_index, event_id, event_hash) in enumerate(leaves):
        if leaf_index != expected_index:
            report.add(expected_index, f"leaf {expected_index} is missing from the global log")
            return False
        if event_hash is None:
            report.add(leaf_index, f"leaf {leaf_index} names a missing event {event_id}")
            return False
        builder.append(merkle.leaf_hash(event_hash))
        for cp in by_size.pop(builder.size, []):
            _check_checkpoint(cp, builder.root(), verifier, origin, report)
    return True


def _check_checkpoint(
    cp: Checkpoint, root: bytes, verifier: Verifiers, origin: str | None, report: AuditReport
) -> None:
    report.checkpoints += 1
    try:
        body = open_checkpoint(cp.note, verifier, origin)
    except (NoteError, CheckpointError) as exc:
        report.add(
            cp.size, f"checkpoint #{cp.id} (size {cp.size}) does not verify: {exc}", structural=True
        )
        return
    if body.size != cp.size or body.root != cp.root:
        report.add(
            cp.size,
            f"checkpoint #{cp.id}: stored size/root differ from its signed note",
            structural=True,
        )
    if body.root != root:
        report.add(
            max(cp.size - 1, 0),
            f"checkpoint #{cp.id} (size {cp.size}) signed a root that "
            f"differs from the root recomputed from the events: the log was altered",
            structural=True,
        )


def _compare_stored_tree(session: Session, builder: TreeBuilder, report: AuditReport) -> None:
    state = session.get(LogState, 1)
    if state is not None and (state.size != builder.size or state.root != builder.root()):
        report.add(
            builder.size,
            f"the stored log state (size {state.size}) differs from the recomputed tree",
            structural=True,
        )
    stored = session.execute(
        select(
            col(MerkleTile.level),
            col(MerkleTile.index),
            col(MerkleTile.width),
            col(MerkleTile.hashes),
        )
    )
    for level, index, width, data in stored:
        mine = builder.tiles.get((level, index))
        if mine is None or mine.width != width or mine.to_bytes() != data:
            first_leaf = index << (8 * (level + 1))
            report.add(
                first_leaf,
                f"stored tree tile ({level}, {index}) differs from the recomputed tree "
                f"near leaf {first_leaf}",
                structural=True,
            )
