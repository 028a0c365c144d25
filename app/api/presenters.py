"""Turn ledger rows into API documents (no rules here, only shapes)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ledger import log
from ledger.authority import Authority
from ledger.chain import event_document
from ledger.model import Cylinder, Enterprise, Event


def cylinder_document(
    session: Session, cylinder: Cylinder, authority: Authority, *, full: bool
) -> dict[str, Any]:
    """A cylinder's state: public fields for everyone, the rest for its owner and regulators."""
    owner = session.get(Enterprise, cylinder.owner_id)
    doc: dict[str, Any] = {
        "code": cylinder.code,
        "qr": authority.qr(cylinder.code),
        "model": cylinder.model,
        "capacity_kg": cylinder.capacity_kg,
        "dual_phase": cylinder.dual_phase,
        "manufactured_on": cylinder.manufactured_on.isoformat(),
        "last_inspected_on": _iso(cylinder.last_inspected_on),
        "next_inspection_due": _iso(cylinder.next_inspection_due),
        "owner": {"id": cylinder.owner_id, "name": owner.name if owner else None},
        "events": cylinder.head_seq,
    }
    if full:
        doc.update(
            id=cylinder.id,
            serial=cylinder.serial,
            manufacturer=cylinder.manufacturer,
            tare_kg=cylinder.tare_kg,
            service_life_years=cylinder.service_life_years,
            registered_at=cylinder.registered_at.isoformat(),
            head_hash=cylinder.head_hash.hex(),
        )
    return doc


def event_response(session: Session, event: Event, *, fresh: bool = False) -> dict[str, Any]:
    """An event with its hash, signature and (once integrated) leaf index.

    A fresh event was written in this very transaction: it has no leaf yet, no query needed.
    """
    return event_document(event, None if fresh else log.leaf_index_of(session, event.id))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
