"""Each fill's net weight on record, kept beside the events: what the short-weight list reads.

The regulator's short-weight list asks which fills of the last months came out below the
rated fill by more than the tolerance. Read from the events, that is a JSON parse of every
``filled`` event's payload and a join with its cylinder (seconds at a province's size).
Here each ``filled`` event's figures are written once, in the transaction that appends it
(``record``), and a partial index holds only the fills below their rated fill, newest first
(``ledger.model_rules.FillWeight``): the list's count and its first page read only those.
The tolerance stays a filter at read time, so a change of the jurisdiction's tolerance
needs no rebuild.

The net is the one judged at the time of the fill: gross − the tare on record then,
rounded as ``ledger.state.weighed_net`` rounds it, the figure the fill-time
``short_weight`` flag was decided on. No event changes a cylinder's tare or rated fill
after its registration, so today's registered figures are the same ones; should a
re-weighed tare ever be recorded, a fill stays judged on the tare it was weighed against.

Derived data, like the state projection: ``rebuild`` recomputes every row from the events
(migration 0013's backfill, and the repair ``flask --app wsgi ledger rebuild-fill-weights``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlmodel import col

from ledger.model import Cylinder, Event
from ledger.model_rules import FillWeight
from ledger.state import CylinderState

REPAIR = "flask --app wsgi ledger rebuild-fill-weights"
BATCH = 5000
_ROWS = FillWeight.__table__  # type: ignore[attr-defined]
_INSERT = insert(_ROWS)


def net_on_record(gross_kg: Any, tare_kg: float) -> float:
    """Gross − the registered tare, to the gram: ``ledger.state.weighed_net``'s figure."""
    return round(float(gross_kg) - tare_kg, 3)


def weight_row(
    event_id: str,
    cylinder_id: str,
    station_id: int | None,
    occurred_at: dt.datetime,
    payload: Mapping[str, Any],
    tare_kg: float,
    capacity_kg: float,
) -> dict[str, Any]:
    """The ``fill_weights`` row of one ``filled`` event on a cylinder of this tare and rated
    fill (KeyError, ValueError or TypeError when its payload has no readable gross)."""
    return {
        "event_id": event_id,
        "cylinder_id": cylinder_id,
        "station_id": station_id,
        "occurred_at": occurred_at,
        "net_kg": net_on_record(payload["gross_kg"], tare_kg),
        "capacity_kg": float(capacity_kg),
    }


def record(
    conn: Connection, before: CylinderState, event: Event, payload: Mapping[str, Any]
) -> None:
    """Write the row of a ``filled`` event just appended, judged on the state it met."""
    row = weight_row(
        event.id,
        event.cylinder_id,
        event.station_id,
        event.occurred_at,
        payload,
        before.tare_kg,
        before.capacity_kg,
    )
    conn.execute(_INSERT, row)


def expected_rows(conn: Connection) -> Iterator[dict[str, Any]]:
    """Every ``filled`` event's row as the events and the registry make it (streamed). A
    payload with no readable gross is left out: such an event does not fold either, which
    the audit reports of its cylinder."""
    query = (
        select(
            col(Event.id),
            col(Event.cylinder_id),
            col(Event.station_id),
            col(Event.occurred_at),
            col(Event.payload),
            col(Cylinder.tare_kg),
            col(Cylinder.capacity_kg),
        )
        .join(Cylinder, col(Cylinder.id) == col(Event.cylinder_id))
        .where(col(Event.type) == "filled")
    )
    for event_id, cylinder_id, station, at, payload, tare, capacity in conn.execute(
        query.execution_options(yield_per=BATCH)
    ):
        try:
            yield weight_row(
                event_id, cylinder_id, station, at, json.loads(payload), tare, capacity
            )
        except (KeyError, ValueError, TypeError):
            continue


def rebuild(conn: Connection) -> int:
    """Recompute every row from the events; the number of fills written."""
    conn.execute(delete(_ROWS))
    written, batch = 0, []
    for row in expected_rows(conn):
        batch.append(row)
        if len(batch) >= BATCH:
            written += _flush(conn, batch)
    return written + _flush(conn, batch)


def _flush(conn: Connection, batch: list[dict[str, Any]]) -> int:
    if batch:
        conn.execute(_INSERT, batch)
    count = len(batch)
    batch.clear()
    return count
