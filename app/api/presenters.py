"""Turn ledger rows into API documents (no rules here, only shapes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from ledger import log, service
from ledger.authority import Authority
from ledger.chain import StoredEvent, event_document
from ledger.checks import Header
from ledger.model import Cylinder, Enterprise, Event
from ledger.params import DEFAULT, Jurisdiction
from ledger.state import CylinderState


def cylinder_document(
    session: Session,
    cylinder: Cylinder,
    authority: Authority,
    *,
    full: bool,
    params: Jurisdiction = DEFAULT,
) -> dict[str, Any]:
    """A cylinder's state: public fields for everyone, the rest for its owner and regulators."""
    state = service.current_state(session, cylinder.id, params)
    return state_document(session, state, authority, full=full, params=params, cylinder=cylinder)


def state_document(
    session: Session,
    state: CylinderState,
    authority: Authority,
    *,
    full: bool,
    params: Jurisdiction = DEFAULT,
    cylinder: Cylinder | None = None,
    header: Header | None = None,
) -> dict[str, Any]:
    """The public document of a cylinder's state (and its private fields when ``full``);
    ``header``: its registry line when already read (a fill check reads it with the state)."""
    if header is None:
        header = _header(session, state, cylinder)
    doc: dict[str, Any] = {
        "code": state.code,
        "id": state.cylinder_id,
        "qr": authority.qr(state.code),
        "model": state.model,
        "capacity_kg": state.capacity_kg,
        "dual_phase": state.dual_phase,
        "manufactured_on": state.manufactured_on.isoformat(),
        "status": state.status,
        "last_inspected_on": _iso(state.last_inspected_on),
        "next_inspection_due": state.next_inspection_due(params).isoformat(),
        "end_of_life": state.end_of_life(params).isoformat(),
        "owner": {"id": state.owner_id, "name": header.owner_name},
        "last_filled_at": _iso(state.last_filled_at),
        "events": state.seq,
    }
    if full:
        doc.update(
            serial=state.serial,
            manufacturer=state.manufacturer,
            tare_kg=state.tare_kg,
            service_life_years=state.service_life_years,
            registered_at=header.registered_at.isoformat(),
            head_hash=header.head_hash.hex(),
            held=state.held,
            open_reports=list(state.open_reports),
            refurbished=state.refurbished,
            last_fill_station=state.last_fill_station,
            last_net_kg=state.last_net_kg,
            overfilled=state.overfilled,
            short_weight=state.short_weight,
            vehicle=state.vehicle,
            customer_id=state.customer_id,
        )
    return doc


def _header(session: Session, state: CylinderState, cylinder: Cylinder | None) -> Header:
    owner = session.get(Enterprise, state.owner_id)
    cylinder = cylinder or session.get(Cylinder, state.cylinder_id)
    assert cylinder is not None
    name = owner.name if owner is not None else None
    return Header(name, cylinder.registered_at, cylinder.head_hash)


def event_response(session: Session, event: Event, *, fresh: bool = False) -> dict[str, Any]:
    """An event with its hash, signature and (once integrated) leaf index.

    A fresh event was written in this very transaction: it has no leaf yet, no query needed.
    """
    return event_document(event, None if fresh else log.leaf_index_of(session, event.id))


def history_documents(
    session: Session, cylinder_id: str, events: Sequence[StoredEvent]
) -> list[dict[str, Any]]:
    """A cylinder's events as the API shows them, their leaf indexes read in one query."""
    leaves = log.leaf_indexes_of_cylinder(session, cylinder_id)
    return [event_document(event, leaves.get(event.id)) for event in events]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
