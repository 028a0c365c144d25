"""A cylinder's trace for the regulator: its events, its chain, and its place in the log.

The chain is re-verified (``service.history``), and the last event's inclusion in the
newest checkpoint is proved from the stored tree and checked with ``ledger.merkle``
against the root in the checkpoint's signed note, as an outside verifier would.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import codes, log, merkle, service
from ledger.chain import StoredEvent
from ledger.checkpoint import CheckpointError, Verifiers, open_checkpoint
from ledger.errors import unknown_code
from ledger.model import Actor, Cylinder, Enterprise, Station
from ledger.model_rules import RetiredCode


@dataclass(frozen=True)
class ProofCheck:
    """The inclusion of the last event in the newest checkpoint: ok None = not yet provable."""

    ok: bool | None
    leaf_index: int | None
    checkpoint_size: int | None
    detail: str


@dataclass(frozen=True)
class TraceEntry:
    """One event with the names a regulator reads it by."""

    event: StoredEvent
    actor_name: str
    station_name: str | None


@dataclass(frozen=True)
class Trace:
    """A cylinder's whole life, verified."""

    cylinder: Cylinder
    owner_name: str
    entries: list[TraceEntry]
    chain_valid: bool
    chain_defect: str | None
    proof: ProofCheck


def find(session: Session, code: str) -> Cylinder:
    """The cylinder carrying a code now, or once (a code retired by relabelling)."""
    code = codes.normalise(code)
    found: Cylinder | None = session.execute(
        select(Cylinder).where(col(Cylinder.code) == code)
    ).scalar()
    if found is None and (retired := session.get(RetiredCode, code)) is not None:
        found = session.get(Cylinder, retired.cylinder_id)
    if found is None:
        raise unknown_code(code)
    return found


def trace(session: Session, code: str, verifier: Verifiers, origin: str) -> Trace:
    """Every event of a cylinder, its chain's verification and the last event's proof."""
    cylinder = find(session, code)
    events, defect = service.history(session, cylinder)
    actor_ids = {e.actor_id for e in events}
    station_ids = {e.station_id for e in events if e.station_id is not None}
    actors = dict(
        session.execute(
            select(col(Actor.id), col(Actor.name)).where(col(Actor.id).in_(actor_ids))
        ).all()
    )
    stations = dict(
        session.execute(
            select(col(Station.id), col(Station.name)).where(col(Station.id).in_(station_ids))
        ).all()
    )
    entries = [
        TraceEntry(e, actors.get(e.actor_id, "?"), stations.get(e.station_id or -1)) for e in events
    ]
    owner = session.get(Enterprise, cylinder.owner_id)
    return Trace(
        cylinder,
        owner.name if owner else "?",
        entries,
        defect is None,
        str(defect) if defect else None,
        prove_last(session, events[-1] if events else None, verifier, origin),
    )


def prove_last(
    session: Session, event: StoredEvent | None, verifier: Verifiers, origin: str
) -> ProofCheck:
    """Prove an event's inclusion in the newest signed checkpoint."""
    if event is None:
        return ProofCheck(None, None, None, "no events")
    index = log.leaf_index_of(session, event.id)
    newest = log.latest_checkpoint(session)
    if index is None or newest is None or index >= newest.size:
        size = newest.size if newest else None
        return ProofCheck(None, index, size, "not yet in a checkpoint")
    try:
        signed = open_checkpoint(newest.note, verifier, origin)
        _leaf, path = log.inclusion_proof(session, index, signed.size)
        merkle.verify_inclusion(merkle.leaf_hash(event.hash), index, signed.size, path, signed.root)
    except (CheckpointError, merkle.ProofError, log.LogRangeError) as exc:
        return ProofCheck(False, index, newest.size, str(exc))
    return ProofCheck(True, index, signed.size, "verified")
