"""Verify everything from the database alone: chains, signatures, the tree, checkpoints.

This module checks every event and chain; ledger.audit_tree checks the log built of them,
ledger.audit_event_ids the registry of event ids (PostgreSQL),
ledger.audit_revocation the events recorded after a revocation, ledger.audit_projection
the derived ``cylinder_states`` against the fold of the events (a finding of its own kind),
and with it ledger.audit_fill_weights the derived ``fill_weights``.

Runs against any database URL (a regulator's offline copy), trusting only the
checkpoint verifier key it is given. Hashing and signature checks fan out to
worker processes; links, the tree and checkpoints are checked in order here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from ledger.audit_event_ids import audit_event_ids
from ledger.audit_heads import audit_heads
from ledger.audit_projection import ProjectionCheck
from ledger.audit_queue import audit_queue
from ledger.audit_report import AuditReport
from ledger.audit_revocation import RevocationCheck
from ledger.audit_rows import FIELDS, chunks, readable, unreadable, wrong_kind
from ledger.audit_tree import audit_tree
from ledger.audit_witness import Witnessed
from ledger.chain import EventRow, check_event
from ledger.checkpoint import Verifiers
from ledger.events import ZERO_HASH
from ledger.model import (
    Cylinder,
    Event,
    LogLeaf,
    LogPending,
    SigningKey,
)
from ledger.params import Jurisdiction

CHUNK = 2000
PARALLEL_THRESHOLD = 20_000
Progress = Callable[[int], None]
_ID, _CYL, _SEQ, _PREV, _HASH = (
    FIELDS.index(c) for c in ("id", "cylinder_id", "seq", "prev_hash", "hash")
)


Found = list[tuple[str, str, bool]]  # (event id, problem, a stored value of the wrong kind)


def _check_rows(rows: Sequence[tuple[Any, ...]], keys: dict[str, bytes]) -> Found:
    """Hash and signature checks of a chunk of event rows (runs in a worker)."""
    bad = []
    for row in rows:
        wrong_kind = unreadable(row)
        if wrong_kind:  # its values cannot be hashed or compared: this is its finding
            bad.append((row[_ID], wrong_kind, True))
            continue
        event = EventRow._make(row)  # an ORM object per event would cost a third of the time
        # Links are checked in order by the caller: here pass the event's own prev/seq.
        problem = check_event(event, event.prev_hash, event.seq, keys)
        if problem:
            bad.append((event.id, problem, False))
    return bad


def _chunks(session: Session) -> Iterator[list[tuple[Any, ...]]]:
    return chunks(session, CHUNK)


def _order_of(session: Session) -> dict[str, int]:
    """Each event's leaf index (a stored index that is not a number is the tree's finding)."""
    query = select(col(LogLeaf.event_id), col(LogLeaf.leaf_index))
    return {e: i for e, i in session.execute(query) if isinstance(i, int)}


def audit(
    engine: Engine,
    verifier: Verifiers,
    origin: str | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    params: Jurisdiction | None = None,
    witnesses: Sequence[Witnessed] = (),
) -> AuditReport:
    """Recompute and check the whole ledger; never writes.

    With the jurisdiction's ``params`` (the fold depends on them) the state projection is
    compared with the fold of the events too; without, it is left unchecked. ``witnesses``:
    checkpoints kept outside the database (``ledger.audit_witness``) the log must contain.
    """
    report = AuditReport()
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":  # one snapshot for every query of the audit
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        keys = _signing_keys(session, report)
        order = _order_of(session)
        total = session.execute(select(func.count()).select_from(Event)).scalar_one()
        workers = workers if workers is not None else (os.cpu_count() or 1)
        # A process pool costs ~0.2 s to start: only worth it on a large ledger.
        parallel = workers if total >= PARALLEL_THRESHOLD else 1
        code_of = {i: c for i, c in session.execute(select(col(Cylinder.id), col(Cylinder.code)))}
        states = None
        if params is not None:
            states = ProjectionCheck(session, params, lambda c: _cylinder(code_of, c))
        reported: set[str] = set()  # events already named: their queue entries are not
        _audit_chains(session, keys, order, code_of, report, parallel, progress, states, reported)
        if states is not None:
            report.projection = states.finish()
            report.fill_weights = states.weights.finish()
            report.projection_checked = True
        audit_heads(session, report, order)
        audit_event_ids(session, report, order)
        audit_queue(session, report, order, reported)
        audit_tree(session, verifier, origin, report, witnesses)
    return report


def _audit_chains(
    session: Session,
    keys: dict[str, bytes],
    order: dict[str, int],
    code_of: dict[str, str],
    report: AuditReport,
    workers: int,
    progress: Progress | None,
    states: ProjectionCheck | None,
    reported: set[str],
) -> None:
    pending = {e for (e,) in session.execute(select(col(LogPending.event_id)))}
    revocations = RevocationCheck(session)
    for problem in revocations.unreadable:
        report.add(len(order) + 1, problem, structural=True)

    def label(event_id: str, cylinder_id: str, seq: int) -> str:
        return f"event {event_id} (cylinder {code_of.get(cylinder_id, cylinder_id)}, #{seq})"

    last: tuple[str, int, bytes | None] = ("", 0, ZERO_HASH)
    late = len(order) + 1

    def where(event_id: str) -> int:
        return order.get(event_id, late)

    def bad(event_id: str, cylinder_id: str, message: str, *, structural: bool = False) -> None:
        report.add(where(event_id), message, structural=structural)
        reported.add(event_id)
        if states is not None:
            states.distrust(cylinder_id)

    def links(rows: list[tuple[Any, ...]], named: set[str]) -> None:
        """Check each row's place in its chain; ``named`` rows hold values of the wrong kind,
        already reported: their links are not compared, nor the next one's to them."""
        nonlocal last
        for row in rows:
            event_id, cylinder_id, seq = row[_ID], row[_CYL], row[_SEQ]
            prev_hash, event_hash = row[_PREV], row[_HASH]
            expected_seq, expected_prev = (
                (last[1] + 1, last[2]) if last[0] == cylinder_id else (1, ZERO_HASH)
            )
            here = label(event_id, cylinder_id, seq)
            linked = event_id not in named
            if linked and seq != expected_seq:
                bad(
                    event_id,
                    cylinder_id,
                    f"{here}: sequence number {seq}, expected {expected_seq} (an event is missing)",
                )
            elif linked and expected_prev is not None and prev_hash != expected_prev:
                bad(
                    event_id,
                    cylinder_id,
                    f"{here}: prev_hash does not match the previous event's hash "
                    "(an event was removed, reordered or changed)",
                )
            if cylinder_id not in code_of:  # FORMAT §2: every event's cylinder exists
                bad(
                    event_id,
                    cylinder_id,
                    f"{here}: 气瓶档案缺失 its cylinder {cylinder_id} has no row in cylinders "
                    "(the registry row was deleted)",
                    structural=True,
                )
            if event_id not in order and event_id not in pending:
                report.add(late, f"{here}: neither in the global log nor waiting to be integrated")
            for problem in revocations.problems(row if linked else readable(row)):
                bad(event_id, cylinder_id, f"{here}: {problem}")
            if not linked:  # go on from where the chain should be
                seq = seq if isinstance(seq, int) else expected_seq
                event_hash = event_hash if isinstance(event_hash, bytes) else None
            last = (cylinder_id, seq, event_hash)
            report.events += 1

    def own(rows: list[tuple[Any, ...]], found: Found) -> None:
        labels = {r[_ID]: (label(r[_ID], r[_CYL], r[_SEQ]), r[_CYL]) for r in rows}
        for event_id, problem, _wrong_kind in found:
            here, cylinder_id = labels[event_id]
            bad(event_id, cylinder_id, f"{here}: {problem}")
        named = {event_id for event_id, _problem, wrong_kind in found if wrong_kind}
        links(rows, named)
        if states is not None:  # a named row's cylinder is left out of the fold (distrusted)
            states.feed([readable(r) for r in rows] if named else rows)
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


def _signing_keys(session: Session, report: AuditReport) -> dict[str, bytes]:
    """Every signing key's public key; one not stored as bytes (SQLite holds any value in
    any column) is a problem, and the events it signed then fail as signed by no known key."""
    keys = {}
    for key_id, public in session.execute(
        select(col(SigningKey.key_id), col(SigningKey.public_key))
    ):
        if isinstance(public, bytes):
            keys[key_id] = public
        else:
            why = wrong_kind("public_key", public, bytes)
            report.add(0, f"signing key {key_id}: {why}", structural=True)
    return keys


def _cylinder(code_of: dict[str, str], cylinder_id: str) -> str:
    return f"cylinder {code_of.get(cylinder_id, '?')} ({cylinder_id})"
