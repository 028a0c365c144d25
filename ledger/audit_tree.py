"""The audit's second half: rebuild the Merkle tree from the events and check every
checkpoint, every witnessed one (``ledger.audit_witness``) and the stored tree against it:
each stored tile and the log state, and no tile of the rebuilt tree missing."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from typing import NamedTuple

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import merkle
from ledger.audit_report import AuditReport
from ledger.audit_rows import wrong_kind
from ledger.audit_witness import Witnessed
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


class _Stored(NamedTuple):
    """A stored checkpoint's columns (its created_at is not read: no stored time can stop
    the audit)."""

    id: int
    size: int
    root: bytes
    note: str


def _wrong_kinds(stored: _Stored) -> str | None:
    """Which of a stored checkpoint's values is not of its column's kind (SQLite holds any
    value in any column), or None."""
    for name, kind in (("size", int), ("root", bytes), ("note", str)):
        value = getattr(stored, name)
        if not isinstance(value, kind):
            return wrong_kind(name, value, kind)
    return None


def audit_tree(
    session: Session,
    verifier: Verifiers,
    origin: str | None,
    report: AuditReport,
    witnesses: Sequence[Witnessed] = (),
) -> None:
    """Rebuild the tree in leaf order; check each checkpoint, and each witnessed one, at its
    size, then the stored tree."""
    by_size: dict[int, list[_Stored]] = {}
    columns = (col(Checkpoint.id), col(Checkpoint.size), col(Checkpoint.root), col(Checkpoint.note))
    for row in session.execute(select(*columns).order_by(col(Checkpoint.id))):
        stored = _Stored(*row)
        wrong = _wrong_kinds(stored)
        if wrong:
            report.add(0, f"checkpoint #{stored.id}: {wrong}", structural=True)
            continue
        by_size.setdefault(stored.size, []).append(stored)
    signed = sorted(by_size)
    witnessed: dict[int, list[Witnessed]] = {}
    for w in witnesses:
        witnessed.setdefault(w.size, []).append(w)
    builder = TreeBuilder(0, lambda keys: {})
    _at_size(builder, by_size, witnessed, verifier, origin, report)
    with closing(_leaves(session)) as leaves:
        if not _grow(builder, leaves, by_size, witnessed, verifier, origin, report):
            return  # the log itself is broken: nothing after this point can be trusted
    report.leaves = builder.size
    report.unsigned = builder.size - max((s for s in signed if 0 <= s <= builder.size), default=0)
    for cps in by_size.values():
        for cp in cps:
            report.add(
                cp.size,
                f"checkpoint #{cp.id} claims size {cp.size}, "
                f"but the log has only {builder.size} leaves",
                structural=True,
            )
    for ws in witnessed.values():
        for w in ws:
            report.add(
                builder.size,
                f"{w.source} (size {w.size}): 日志被回滚 the log has only {builder.size} leaves: "
                "it was rolled back or cut below a checkpoint kept outside the database",
                structural=True,
            )
    _compare_stored_tree(session, builder, report)


def _grow(
    builder: TreeBuilder,
    leaves: Iterator[tuple[int, str, bytes]],
    by_size: dict[int, list[_Stored]],
    witnessed: dict[int, list[Witnessed]],
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
        if not isinstance(event_hash, bytes):  # SQLite holds any value in any column
            why = wrong_kind("hash", event_hash, bytes)
            report.add(leaf_index, f"leaf {leaf_index}: its event {event_id}'s {why}")
            return False
        builder.append(merkle.leaf_hash(event_hash))
        if builder.size in by_size or builder.size in witnessed:
            _at_size(builder, by_size, witnessed, verifier, origin, report)
    return True


def _at_size(
    builder: TreeBuilder,
    by_size: dict[int, list[_Stored]],
    witnessed: dict[int, list[Witnessed]],
    verifier: Verifiers,
    origin: str | None,
    report: AuditReport,
) -> None:
    """Check the checkpoints and witnessed checkpoints of the builder's size."""
    root = builder.root()
    for cp in by_size.pop(builder.size, []):
        _check_checkpoint(cp, root, verifier, origin, report)
    for w in witnessed.pop(builder.size, []):
        if w.root != root:
            report.add(
                max(w.size - 1, 0),
                f"{w.source} (size {w.size}): 日志被改写 the root it signed differs from the "
                "root recomputed from the events: the log was rewritten",
                structural=True,
            )


def _check_checkpoint(
    cp: _Stored, root: bytes, verifier: Verifiers, origin: str | None, report: AuditReport
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
    state = session.execute(
        select(col(LogState.size), col(LogState.root)).where(col(LogState.id) == 1)
    ).first()
    if state is None and builder.size > 0:
        report.add(
            builder.size,
            f"日志状态缺失 no stored log state (log_state), but the log has {builder.size} "
            "leaves (the row was deleted: the next integration would start the tree again)",
            structural=True,
        )
    elif state is not None and (state[0] != builder.size or state[1] != builder.root()):
        report.add(
            builder.size,
            f"the stored log state (size {state[0]}) differs from the recomputed tree",
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
    seen = set()
    for level, index, width, data in stored:
        if not (isinstance(level, int) and isinstance(index, int)):
            wrong = wrong_kind("level, index", (level, index), int)
            report.add(0, f"stored tree tile: {wrong}", structural=True)
            continue
        seen.add((level, index))
        mine = builder.tiles.get((level, index))
        if mine is None or mine.width != width or mine.to_bytes() != data:
            first_leaf = index << (8 * (level + 1))
            report.add(
                first_leaf,
                f"stored tree tile ({level}, {index}) differs from the recomputed tree "
                f"near leaf {first_leaf}",
                structural=True,
            )
    for level, index in sorted(set(builder.tiles) - seen):
        first_leaf = index << (8 * (level + 1))
        report.add(
            first_leaf,
            f"树节点缺失 stored tree tile ({level}, {index}) is missing from merkle_tiles "
            f"(the recomputed tree has it, near leaf {first_leaf})",
            structural=True,
        )
