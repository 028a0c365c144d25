"""Gates of each event type: what must hold before it is recorded, and what it changes.

A gate reads the registry and the cylinder's state, asks ``ledger.rules``, and answers
with a ``Gate``: go ahead (perhaps with registry changes to make once the event is
written), refuse outright (409, nothing recorded), or refuse *and record* the refusal
(a blocked dispatch or delivery is evidence, DESIGN §5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session, col

from ledger import codes, facts_db, projection, rules
from ledger.errors import Forbidden, Invalid, NotFound
from ledger.facts import StationView
from ledger.model import Actor, Cylinder, Enterprise, Role
from ledger.model_rules import FillCheck, RetiredCode
from ledger.params import Jurisdiction, add_years
from ledger.reasons import Reason, reason
from ledger.state import CylinderState, weighed_net

SCALE_TOLERANCE_KG = 0.05  # gross − tare − net may differ by the scale's rounding, no more
TARE_TOLERANCE_KG = 0.2  # the tare weighed may differ from the registered (stamped) one by this
_EPSILON = 1e-9  # float noise: 16.8 − 16.6 is 0.20000000000000284


@dataclass
class Gate:
    """A gate's answer."""

    refusal: rules.Decision | None = None
    record_refusal: tuple[str, dict[str, Any]] | None = None  # (event type, payload)
    effects: list[Callable[[], None]] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    offline_conflict: rules.Decision | None = None


@dataclass(frozen=True)
class Request:
    """One attempted event, with everything a gate may need."""

    session: Session
    actor: Actor
    state: CylinderState
    event_type: str
    payload: Mapping[str, Any]
    occurred_at: dt.datetime
    now: dt.datetime
    params: Jurisdiction


def gate(req: Request) -> Gate:
    """Run the gate of the request's event type (types without one pass)."""
    check = _GATES.get(req.event_type)
    return check(req) if check else Gate()


def _owner(req: Request) -> Any:
    return facts_db.enterprise(req.session, req.state.owner_id)


def _own_station(req: Request) -> StationView:
    """The station the payload names, which must be the actor's own (a station's own device
    for what it decided offline); NotFound or Forbidden otherwise."""
    p = req.payload
    station = facts_db.station(req.session, p["station_id"])
    if station is None:
        raise NotFound(f"no station {p['station_id']}")
    if p.get("offline"):
        own = req.actor.kind == "device" and req.actor.station_id == station.id
    else:
        own = req.actor.station_id in (None, station.id)
    if not own or req.actor.enterprise_id != station.enterprise_id:
        raise Forbidden(
            "只能记录本站充装枪的充装或拦截（离线记录须由本站设备上传） / a station records "
            "fills and blocked checks at its own nozzle only (offline: its own device)"
        )
    return station


def _offline_time(req: Request) -> dt.datetime:
    """When an offline record is judged: its own time, which must be recent."""
    days = req.params.offline_record_max_days
    if req.occurred_at < req.now - dt.timedelta(days=days):
        raise Invalid(
            f"离线记录发生于{days}天以前，不予补录，请报告监管部门 / an offline record older "
            f"than {days} days is not accepted: report it to the regulator"
        )
    return min(req.occurred_at, req.now)


def _filled(req: Request) -> Gate:
    p = req.payload
    station = _own_station(req)
    net = _weighed_net(req.state, p)
    out = Gate(warnings=rules.weighing_warnings(req.state, net, req.params))
    if net > req.state.capacity_kg + req.params.fill_tolerance_kg:
        out.warnings.append(reason("OVERFILLED", net))
    if p.get("offline"):
        # It happened: recorded whatever the verdict, which is judged as of the fill, on
        # the cylinder as it then was, and reported to the regulator when it would have
        # blocked (an offline conflict). A time before its registration: as it is now.
        at = _offline_time(req)
        then = projection.fold_as_of(req.session, req.state.cylinder_id, at, req.params)
        decision = rules.fill_check(then or req.state, station, _owner(req), at, req.params)
        out.offline_conflict = None if decision.allowed else decision
        return out
    if not _recent_allowing_check(req, station.id):
        minutes = req.params.fill_check_valid_minutes
        return Gate(refusal=rules.Decision(False, (reason("NO_ALLOWING_CHECK", minutes),)))
    decision = rules.fill_check(req.state, station, _owner(req), req.now, req.params)
    if not decision.allowed:
        return Gate(refusal=decision)
    return out


def _fill_blocked(req: Request) -> Gate:
    _own_station(req)
    if req.payload.get("offline"):
        _offline_time(req)
    return Gate()


def _weighed_net(state: CylinderState, p: Mapping[str, Any]) -> float:
    """Check the scale readings against each other and the registered tare; the net on record."""
    gross, net, tare = p["gross_kg"], p["net_kg"], p.get("tare_kg")
    registered = state.tare_kg
    if net > gross:
        raise Invalid("净重大于毛重，请核对称重读数 / 'net_kg' exceeds 'gross_kg': check the scale")
    if tare is not None and abs(tare - registered) > TARE_TOLERANCE_KG + _EPSILON:
        raise Invalid(
            f"皮重{tare}kg与登记皮重{registered}kg不符（允差±{TARE_TOLERANCE_KG}kg） / the tare "
            f"{tare} kg does not match the registered tare {registered} kg "
            f"(±{TARE_TOLERANCE_KG} kg)"
        )
    used = registered if tare is None else tare
    if abs(gross - used - net) > SCALE_TOLERANCE_KG + _EPSILON:
        raise Invalid(
            f"毛重−皮重≠净重（{gross}−{used}≠{net}，允差±{SCALE_TOLERANCE_KG}kg） / gross − "
            f"tare ≠ net: check the scale reading (±{SCALE_TOLERANCE_KG} kg)"
        )
    return weighed_net(state, p)


def _recent_allowing_check(req: Request, station_id: int) -> bool:
    """An allowing check of this cylinder at this station within the last minutes, and since
    its last fill: one check opens one fill."""
    since = req.now - dt.timedelta(minutes=req.params.fill_check_valid_minutes)
    if req.state.last_filled_at is not None:
        since = max(since, req.state.last_filled_at)
    values = {"cylinder_id": req.state.cylinder_id, "station_id": station_id, "since": since}
    return req.session.connection().execute(_RECENT_ALLOWING_CHECK, values).first() is not None


_CHECKS = FillCheck.__table__  # type: ignore[attr-defined]
# Built once: every fill recorded runs it.
_RECENT_ALLOWING_CHECK = (
    select(_CHECKS.c.id)
    .where(
        _CHECKS.c.cylinder_id == bindparam("cylinder_id"),
        _CHECKS.c.station_id == bindparam("station_id"),
        _CHECKS.c.allowed.is_(True),
        _CHECKS.c.checked_at >= bindparam("since"),
    )
    .limit(1)
)


def _driver(req: Request) -> int | None:
    given = req.payload.get("driver")
    if req.actor.role == Role.DRIVER:
        if given not in (None, req.actor.id):
            raise Forbidden("a driver dispatches under his own name only")
        return req.actor.id
    return given


def _dispatched(req: Request) -> Gate:
    plate = req.payload["vehicle"]
    vehicle = facts_db.vehicle(req.session, plate)
    driver = _driver(req)
    decision = rules.dispatch_check(req.state, _owner(req), vehicle, driver, req.now, req.params)
    if decision.allowed:
        return Gate(warnings=list(decision.warnings))
    payload: dict[str, Any] = {"check": "dispatch", "reasons": list(decision.codes)}
    payload["vehicle"] = plate
    if driver is not None:
        payload["driver"] = driver
    return Gate(refusal=decision, record_refusal=("delivery_blocked", payload))


def _customer(req: Request) -> Any:
    customer = facts_db.customer(req.session, req.payload["customer_id"])
    if customer is None or customer.enterprise_id != req.state.owner_id:
        raise NotFound(f"no customer file {req.payload['customer_id']} of this enterprise")
    return customer


def _delivered(req: Request) -> Gate:
    customer = _customer(req)
    if customer.erased:
        raise Invalid(f"用户档案{customer.id}已删除，请先建立新档案 / the customer file was erased")
    vehicle = facts_db.vehicle(req.session, req.state.vehicle) if req.state.vehicle else None
    checklist = req.payload["checklist"]
    decision = rules.delivery_check(
        req.state, _owner(req), customer, checklist, vehicle, req.actor.id, req.now, req.params
    )
    if decision.allowed:
        return Gate(warnings=list(decision.warnings))
    payload: dict[str, Any] = {
        "check": "delivery",
        "reasons": list(decision.codes),
        "customer_id": customer.id,
    }
    failed = rules.failed_items(checklist)
    if failed:
        payload["failed_items"] = failed  # the hazard, for the regulator
    return Gate(refusal=decision, record_refusal=("delivery_blocked", payload))


def _returned(req: Request) -> Gate:
    if req.payload.get("customer_id") is not None:
        _customer(req)
    return Gate()


def _inspected(req: Request) -> Gate:
    next_due = req.payload.get("next_due")
    if req.payload["result"] != "pass":
        if next_due is not None:
            raise Invalid(
                "仅检验合格时填写下次检验日期 / 'next_due' is given only when the cylinder passes"
            )
        return Gate()
    if next_due is None:
        return Gate()
    day, due = req.occurred_at.date(), dt.date.fromisoformat(next_due)
    latest = add_years(day, req.params.inspection_interval_years + 1)
    if not day < due <= latest:
        raise Invalid(
            f"下次检验日期须在检验日之后、{latest}之前 / 'next_due' must be after the inspection "
            f"date and at most the inspection interval + 1 year later ({latest})"
        )
    return Gate()


def _relabelled(req: Request) -> Gate:
    s, new, old = req.session, req.payload["new_code"], req.state.code
    if not codes.is_valid_code(new):
        raise Invalid("'new_code' must be 1–20 characters A–Z and 0–9")
    taken = s.execute(select(col(Cylinder.id)).where(col(Cylinder.code) == new)).first()
    if taken or s.get(RetiredCode, new) is not None:
        raise Invalid(f"code {new} is already taken or retired (codes are never reused)")

    def effect() -> None:
        s.execute(insert(RetiredCode), [{"code": old, "cylinder_id": req.state.cylinder_id,
                                          "retired_at": req.now}])  # fmt: skip
        s.execute(
            update(Cylinder).where(col(Cylinder.id) == req.state.cylinder_id).values(code=new)
        )

    return Gate(effects=[effect])


def _transferred(req: Request) -> Gate:
    s, to = req.session, req.payload["to_enterprise"]
    if s.get(Enterprise, to) is None:
        raise NotFound(f"no enterprise {to}")

    def effect() -> None:
        s.execute(
            update(Cylinder).where(col(Cylinder.id) == req.state.cylinder_id).values(owner_id=to)
        )

    return Gate(effects=[effect])


def _reported(req: Request) -> Gate:
    if req.payload["kind"] == "offline_conflict":
        raise Invalid("offline conflicts are reported by the server itself")
    return Gate()


_GATES: dict[str, Callable[[Request], Gate]] = {
    "filled": _filled,
    "fill_blocked": _fill_blocked,
    "dispatched": _dispatched,
    "delivered": _delivered,
    "returned": _returned,
    "inspected": _inspected,
    "relabelled": _relabelled,
    "ownership_transferred": _transferred,
    "reported": _reported,
}
