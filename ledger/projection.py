"""The state projection: ``cylinder_states`` kept in step with every append, and rebuilt.

Each append folds its one new event into the stored state in the same transaction, so a
fill check reads one row instead of a history. ``rebuild`` recomputes every row from the
events (after a change of jurisdiction parameters, or to prove the projection right).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from sqlalchemy import bindparam, delete, insert, select, update
from sqlmodel import Session, col

from ledger import state as fold
from ledger.events import load_payload
from ledger.model import Event
from ledger.model_rules import CylinderStateRow
from ledger.params import Jurisdiction
from ledger.state import CylinderState, EventView

_ROWS = CylinderStateRow.__table__  # type: ignore[attr-defined]
_LOAD = select(_ROWS.c.state).where(_ROWS.c.cylinder_id == bindparam("cylinder_id"))
_INSERT = insert(_ROWS)
_UPDATE = update(_ROWS).where(_ROWS.c.cylinder_id == bindparam("key"))


def load(session: Session, cylinder_id: str) -> CylinderState | None:
    """The stored state of a cylinder, or None before its registration is projected."""
    text = session.connection().execute(_LOAD, {"cylinder_id": cylinder_id}).scalar_one_or_none()
    return None if text is None else CylinderState.from_dict(json.loads(text))


def state_row(state: CylinderState, params: Jurisdiction) -> dict[str, object]:
    """The projection row of a state (also what the audit expects to find stored)."""
    assert state.last_event_at is not None
    return {
        "cylinder_id": state.cylinder_id,
        "owner_id": state.owner_id,
        "status": state.status,
        "seq": state.seq,
        "next_inspection_due": state.next_inspection_due(params),
        "end_of_life": state.end_of_life(params),
        "last_event_at": state.last_event_at,
        # Sorted and compact, as the API's JSON encodes it: a station's sync sends these
        # texts as they are (ledger/station_sync.py), the same bytes as encoding the value.
        "state": json.dumps(
            state.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ),
    }


def save(session: Session, state: CylinderState, params: Jurisdiction, *, new: bool) -> None:
    """Write a cylinder's state (insert for a new cylinder, else update)."""
    row = state_row(state, params)
    # Core statements built once, on the session's connection: this runs on every append.
    if new:
        session.connection().execute(_INSERT, row)
    else:
        del row["cylinder_id"]
        session.connection().execute(_UPDATE, {**row, "key": state.cylinder_id})


def view(event: Event) -> EventView:
    """The fold's view of a stored event."""
    return EventView(
        type=event.type,
        payload=load_payload(event.payload),
        occurred_at=event.occurred_at,
        station_id=event.station_id,
        site_id=event.site_id,
        actor_id=event.actor_id,
    )


def history_views(session: Session, cylinder_id: str) -> Iterator[EventView]:
    """A cylinder's events in chain order, as the fold sees them."""
    query = select(Event).where(col(Event.cylinder_id) == cylinder_id).order_by(col(Event.seq))
    for event in session.execute(query).scalars():
        yield view(event)


def fold_from_events(session: Session, cylinder_id: str, params: Jurisdiction) -> CylinderState:
    """A cylinder's state recomputed from its events alone."""
    return fold.fold(cylinder_id, history_views(session, cylinder_id), params.fill_tolerance_kg)


def fold_as_of(
    session: Session, cylinder_id: str, at: dt.datetime, params: Jurisdiction
) -> CylinderState | None:
    """A cylinder's state as the events that had occurred by ``at`` leave it (in chain
    order, late offline records included): what an offline record is judged on. None when
    ``at`` is before its registration."""
    views = [v for v in history_views(session, cylinder_id) if v.occurred_at <= at]
    if not views or views[0].type != "registered":
        return None
    return fold.fold(cylinder_id, views, params.fill_tolerance_kg)


def rebuild(session: Session, params: Jurisdiction) -> int:
    """Recompute every cylinder's projected state from its events; the number rebuilt."""
    ids = list(session.execute(select(col(Event.cylinder_id)).distinct()).scalars())
    session.execute(delete(_ROWS))
    for cylinder_id in ids:
        save(session, fold_from_events(session, cylinder_id, params), params, new=True)
    return len(ids)
