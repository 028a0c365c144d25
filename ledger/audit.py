"""Verify everything from the database alone: chains, signatures, the tree, checkpoints.

Runs against any database URL (a regulator's offline copy), trusting only the
checkpoint verifier key it is given. Hashing and signature checks fan out to
worker processes; links, the tree and checkpoints are checked in order here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from ledger import merkle
from ledger.chain import EventRow, check_event
from ledger.checkpoint import CheckpointError, open_checkpoint
from ledger.events import ZERO_HASH
from ledger.model import (
    Checkpoint,
    Cylinder,
    Event,
    LogLeaf,
    LogPending,
    LogState,
    MerkleTile,
    SigningKey,
)
from ledger.note import NoteError, Verifier
from ledger.tiles import TreeBuilder

CHUNK = 2000
PARALLEL_THRESHOLD = 20_000
Progress = Callable[[int], None]
_EVENT_FIELDS = list(Event.model_fields)
_EVENT_COLUMNS = [getattr(Event, c) for c in _EVENT_FIELDS]
_ID, _CYL, _SEQ, _PREV, _HASH = (
    _EVENT_FIELDS.index(c) for c in ("id", "cylinder_id", "seq", "prev_hash", "hash")
)


@dataclass
class AuditReport:
    """Everything the audit found, in log order."""

    events: int = 0
    leaves: int = 0
    checkpoints: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (leaf order, message)
    # 0 for a problem of one event, 1 for one of the tree or a checkpoint: the verdict
    # names an event when there is one, since that is what an auditor looks up.
    ranks: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems

    def add(self, order: int, message: str, *, structural: bool = False) -> None:
        """Record a problem; order is its leaf index (or later, for unintegrated events)."""
        self.problems.append((order, message))
        self.ranks.append(int(structural))

    def first(self) -> str | None:
        """The earliest problem in log order."""
        if not self.problems:
            return None
        return min(zip(self.ranks, self.problems, strict=True))[1][1]


def _check_rows(rows: Sequence[tuple[Any, ...]], keys: dict[str, bytes]) -> list[tuple[str, str]]:
    """Hash and signature checks of a chunk of event rows (runs in a worker)."""
    bad = []
    for row in rows:
        event = EventRow._make(row)  # an ORM object per event would cost a third of the time
        # Links are checked in order by the caller: here pass the event's own prev/seq.
        problem = check_event(event, event.prev_hash, event.seq, keys)
        if problem:
            bad.append((event.id, problem))
    return bad


def _chunks(session: Session) -> Iterator[list[tuple[Any, ...]]]:
    query = select(*_EVENT_COLUMNS).order_by(Event.cylinder_id, Event.seq)  # type: ignore[arg-type]
    result = session.execute(query.execution_options(yield_per=CHUNK))
    for part in result.partitions(CHUNK):
        yield [tuple(r) for r in part]


def _order_of(session: Session) -> dict[str, int]:
    return {
        e: i for e, i in session.execute(select(col(LogLeaf.event_id), col(LogLeaf.leaf_index)))
    }


def audit(
    engine: Engine,
    verifier: Verifier,
    origin: str | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Recompute and check the whole ledger; never writes."""
    report = AuditReport()
    with Session(engine) as session:
        keys = {
            k: v
            for k, v in session.execute(select(col(SigningKey.key_id), col(SigningKey.public_key)))
        }
        order = _order_of(session)
        total = session.execute(select(func.count()).select_from(Event)).scalar_one()
        workers = workers if workers is not None else (os.cpu_count() or 1)
        # A process pool costs ~0.2 s to start: only worth it on a large ledger.
        parallel = workers if total >= PARALLEL_THRESHOLD else 1
        _audit_chains(session, keys, order, report, parallel, progress)
        _audit_heads(session, report, order)
        _audit_tree(session, verifier, origin, order, report, progress)
    return report


def _audit_chains(
    session: Session,
    keys: dict[str, bytes],
    order: dict[str, int],
    report: AuditReport,
    workers: int,
    progress: Progress | None,
) -> None:
    pending = {e for (e,) in session.execute(select(col(LogPending.event_id)))}
    code_of = {i: c for i, c in session.execute(select(col(Cylinder.id), col(Cylinder.code)))}

    def label(event_id: str, cylinder_id: str, seq: int) -> str:
        return f"event {event_id} (cylinder {code_of.get(cylinder_id, cylinder_id)}, #{seq})"

    last: tuple[str, int, bytes] = ("", 0, ZERO_HASH)
    late = len(order) + 1

    def where(event_id: str) -> int:
        return order.get(event_id, late)

    def links(rows: list[tuple[Any, ...]]) -> None:
        nonlocal last
        for row in rows:
            event_id, cylinder_id, seq = row[_ID], row[_CYL], row[_SEQ]
            prev_hash, event_hash = row[_PREV], row[_HASH]
            expected_seq, expected_prev = (
                (last[1] + 1, last[2]) if last[0] == cylinder_id else (1, ZERO_HASH)
            )
            here = label(event_id, cylinder_id, seq)
            if seq != expected_seq:
                report.add(
                    where(event_id),
                    f"{here}: sequence number {seq}, expected {expected_seq} (an event is missing)",
                )
            elif prev_hash != expected_prev:
                report.add(
                    where(event_id),
                    f"{here}: prev_hash does not match the previous event's hash "
                    "(an event was removed, reordered or changed)",
                )
            if event_id not in order and event_id not in pending:
                report.add(late, f"{here}: neither in the global log nor waiting to be integrated")
            last = (cylinder_id, seq, event_hash)
            report.events += 1

    def own(rows: list[tuple[Any, ...]], bad: list[tuple[str, str]]) -> None:
        labels = {r[_ID]: label(r[_ID], r[_CYL], r[_SEQ]) for r in rows}
        for event_id, problem in bad:
            report.add(where(event_id), f"{labels[event_id]}: {problem}")
        links(rows)
        if progress:
            progress(len(rows))

    if workers <= 1:
        for rows in _chunks(session):
            own(rows, _check_rows(rows, keys))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        window: list[tuple[list[tuple[Any, ...]], Any]] = []
        for rows in _chunks(session):
            window.append((rows, pool.submit(_check_rows, rows, keys)))
            if len(window) >= workers * 4:
                done_rows, future = window.pop(0)
                own(done_rows, future.result())
        for done_rows, future in window:
            own(done_rows, future.result())


def _audit_heads(session: Session, report: AuditReport, order: dict[str, int]) -> None:
    """The cylinder rows' chain heads must name each chain's last event."""
    last = (
        select(col(Event.cylinder_id), func.max(col(Event.seq)).label("seq"))
        .group_by(col(Event.cylinder_id))
        .subquery()
    )
    rows = session.execute(
        select(
            col(Cylinder.id),
            col(Cylinder.code),
            col(Cylinder.head_seq),
            col(Cylinder.head_hash),
            col(Event.hash),
            col(Event.id),
        )
        .outerjoin(last, last.c.cylinder_id == col(Cylinder.id))
        .outerjoin(
            Event, (col(Event.cylinder_id) == col(Cylinder.id)) & (col(Event.seq) == last.c.seq)
        )
    )
    for cyl_id, code, head_seq, head_hash, last_hash, last_id in rows:
        if head_seq and (last_hash is None or head_hash != last_hash):
            where = order.get(last_id, len(order) + 1) if last_id else len(order) + 1
            report.add(
                where,
                f"cylinder {code} ({cyl_id}): its chain head (#{head_seq}) is not its "
                f"last stored event (the last event was removed or its hash changed)",
                structural=True,
            )


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


def _audit_tree(
    session: Session,
    verifier: Verifier,
    origin: str | None,
    order: dict[str, int],
    report: AuditReport,
    progress: Progress | None,
) -> None:
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
    verifier: Verifier,
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
    cp: Checkpoint, root: bytes, verifier: Verifier, origin: str | None, report: AuditReport
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
