"""A cylinder's current state: a pure fold of its events, in chain order.

The projection table ``cylinder_states`` holds the fold's result for fast reads; it is
rebuilt from the events on demand (``ledger.projection``) and tests check it against
the fold. Nothing here reads a clock: every time comes from the events themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ledger.params import Jurisdiction

# Status of the cylinder in its cycle. `condemned`: failed or scrapped at inspection,
# awaiting destruction; `scrapped`: destroyed (terminal).
STATUSES = ("empty", "full", "in_transit", "at_customer", "condemned", "scrapped")
# Reports that hold a cylinder until a regulator releases it.
HOLDING_REPORTS = frozenset({"lost", "stolen", "seized", "suspected_fake"})


@dataclass(frozen=True)
class EventView:
    """What the fold needs of one event."""

    type: str
    payload: Mapping[str, Any]
    occurred_at: dt.datetime
    station_id: int | None = None
    site_id: int | None = None
    actor_id: int | None = None


@dataclass(frozen=True)
class CylinderState:
    """Everything the rules need to know about one cylinder now."""

    cylinder_id: str
    code: str
    owner_id: int
    serial: str
    manufacturer: str
    manufactured_on: dt.date
    model: str
    capacity_kg: float
    tare_kg: float
    dual_phase: bool
    service_life_years: int | None  # stamped on the cylinder (GB 5842-2023), when given
    status: str = "empty"
    seq: int = 0
    last_inspected_on: dt.date | None = None
    inspection_due: dt.date | None = None  # set by an inspection; else derived (params)
    held: str | None = None  # a regulator's hold, with its reason
    open_reports: tuple[str, ...] = ()
    contradiction: str | None = None  # registration data contradicting another record
    last_filled_at: dt.datetime | None = None
    last_fill_station: int | None = None
    last_net_kg: float | None = None
    overfilled: bool = False
    short_weight: bool = False
    moved_since_fill: bool = True  # delivered or returned since the last fill
    last_scan_at: dt.datetime | None = None
    last_scan_station: int | None = None
    vehicle: str | None = None
    customer_id: int | None = None
    last_event_at: dt.datetime | None = None
    last_event_type: str | None = None

    @property
    def refurbished(self) -> bool:
        """Reported refurbished (旧品翻新), or its registration contradicts another record."""
        return "refurbished" in self.open_reports or self.contradiction is not None

    def next_inspection_due(self, params: Jurisdiction) -> dt.date:
        """The date the next periodic inspection is due."""
        if self.inspection_due is not None:
            return self.inspection_due
        return params.next_inspection_due(self.manufactured_on, self.last_inspected_on)

    def end_of_life(self, params: Jurisdiction) -> dt.date:
        """The first day past the design service life."""
        return params.end_of_life(self.manufactured_on, self.service_life_years)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (projection rows, stations' offline caches)."""
        # Field by field, not dataclasses.asdict: every value is a scalar or a tuple of
        # strings, and asdict's deep copy was a tenth of an append's time.
        return {name: _jsonable(getattr(self, name)) for name in _FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CylinderState:
        """Inverse of ``to_dict``; unknown keys are ignored (newer servers add fields)."""
        values: dict[str, Any] = {}
        for name in _FIELD_NAMES:
            if name in data:
                values[name] = _parse(name, data[name])
        return cls(**values)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(CylinderState))


_DATES = {"manufactured_on", "last_inspected_on", "inspection_due"}
_TIMES = {"last_filled_at", "last_scan_at", "last_event_at"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _parse(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DATES:
        return dt.date.fromisoformat(value)
    if name in _TIMES:
        return dt.datetime.fromisoformat(value)
    if name == "open_reports":
        return tuple(value)
    return value


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def registered(cylinder_id: str, payload: Mapping[str, Any], at: dt.datetime) -> CylinderState:
    """The state right after registration."""
    return CylinderState(
        cylinder_id=cylinder_id,
        code=payload["code"],
        owner_id=payload["owner"],
        serial=payload["serial"],
        manufacturer=payload["manufacturer"],
        manufactured_on=dt.date.fromisoformat(payload["manufactured_on"]),
        model=payload["model"],
        capacity_kg=float(payload["capacity_kg"]),
        tare_kg=float(payload["tare_kg"]),
        dual_phase=bool(payload["dual_phase"]),
        service_life_years=payload.get("service_life_years"),
        last_inspected_on=_date(payload.get("last_inspected_on")),
        contradiction=payload.get("duplicate_serial_of"),
        seq=1,
        last_event_at=at,
        last_event_type="registered",
    )


# Statuses a fill never leaves: only an offline fill (a fact, recorded with its conflict)
# reaches a condemned or scrapped cylinder, and it does not bring the cylinder back to life.
TERMINAL = frozenset({"condemned", "scrapped"})


def weighed_net(s: CylinderState, payload: Mapping[str, Any]) -> float:
    """The net weight on record: gross − the cylinder's registered tare (not the client's)."""
    return round(float(payload["gross_kg"]) - s.tare_kg, 3)


def _filled(s: CylinderState, e: EventView, tolerance: float, late: bool) -> CylinderState:
    net = weighed_net(s, e.payload)
    if late:
        # An offline fill uploaded after later events: the cylinder has moved on since, so
        # its status, place and scan anchor stay; it is the last fill only if it is newest.
        if s.last_filled_at is not None and e.occurred_at < s.last_filled_at:
            return s
        return replace(
            s,
            last_filled_at=e.occurred_at,
            last_fill_station=e.station_id,
            last_net_kg=net,
            overfilled=net > s.capacity_kg + tolerance,
            short_weight=net < s.capacity_kg - tolerance,
        )
    return replace(
        s,
        status=s.status if s.status in TERMINAL else "full",
        last_filled_at=e.occurred_at,
        last_fill_station=e.station_id,
        last_net_kg=net,
        overfilled=net > s.capacity_kg + tolerance,
        short_weight=net < s.capacity_kg - tolerance,
        moved_since_fill=False,
        last_scan_at=e.occurred_at,
        last_scan_station=e.station_id,
        vehicle=None,
        customer_id=None,
    )


def _scanned(s: CylinderState, e: EventView) -> CylinderState:
    """The travel-speed anchor (last place and time scanned) never moves back in time."""
    if s.last_scan_at is not None and e.occurred_at < s.last_scan_at:
        return s
    return replace(s, last_scan_at=e.occurred_at, last_scan_station=e.station_id)


def _inspected(s: CylinderState, e: EventView) -> CylinderState:
    result = e.payload["result"]
    day = e.occurred_at.date()
    if result != "pass":
        return replace(s, status="condemned", last_inspected_on=day, inspection_due=None)
    return replace(s, last_inspected_on=day, inspection_due=_date(e.payload.get("next_due")))


def _released(s: CylinderState) -> CylinderState:
    kept = tuple(r for r in s.open_reports if r == "label_damaged")  # cleared by relabelling
    return replace(s, held=None, open_reports=kept, contradiction=None)


def _reported(s: CylinderState, kind: str) -> CylinderState:
    return replace(s, open_reports=tuple(sorted({*s.open_reports, kind})))


def apply(state: CylinderState, event: EventView, tolerance: float = 0.5) -> CylinderState:
    """The state after one more event (``tolerance``: the fill tolerance in kg)."""
    p, kind = event.payload, event.type
    # Offline records arrive late, with their own past time: "last seen" stays the latest.
    late = state.last_event_at is not None and event.occurred_at < state.last_event_at
    seen = state.last_event_at if late else event.occurred_at
    s = replace(state, seq=state.seq + 1, last_event_at=seen, last_event_type=kind)
    if kind == "filled":
        return _filled(s, event, tolerance, late)
    if kind == "fill_blocked":
        return _scanned(s, event)
    if kind == "dispatched":
        return replace(s, status="in_transit", vehicle=p["vehicle"], customer_id=None)
    if kind == "delivered":
        return replace(s, status="at_customer", customer_id=p["customer_id"], moved_since_fill=True)
    if kind == "returned":
        return replace(
            s, status="empty", vehicle=None, customer_id=None, moved_since_fill=True,
            overfilled=False, short_weight=False,
        )  # fmt: skip
    if kind == "inspected":
        return _inspected(s, event)
    if kind == "relabelled":
        reports = tuple(r for r in s.open_reports if r != "label_damaged")
        return replace(s, code=p["new_code"], open_reports=reports)
    if kind == "ownership_transferred":
        return replace(s, owner_id=p["to_enterprise"])
    if kind == "reported":
        return _reported(s, p["kind"])
    if kind == "held":
        return replace(s, held=p["reason"])
    if kind == "released":
        return _released(s)
    if kind == "scrapped":
        return replace(s, status="scrapped", vehicle=None, customer_id=None)
    return s  # delivery_blocked and future informational events change nothing


def fold(cylinder_id: str, events: Iterable[EventView], tolerance: float = 0.5) -> CylinderState:
    """The state after all of a cylinder's events, the first being its registration."""
    iterator = iter(events)
    first = next(iterator, None)
    if first is None or first.type != "registered":
        raise ValueError("a cylinder's history starts with its registration")
    state = registered(cylinder_id, first.payload, first.occurred_at)
    for event in iterator:
        state = apply(state, event, tolerance)
    return state
