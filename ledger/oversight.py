"""Read models of the regulator's dashboard: pure queries, no rules of their own.

Blocked fills by reason and station, overdue and expiring cylinders, cylinders not seen
for days, short-weight fills and events per day. Each takes a session and its window;
the figures a rule decides (short weight) come from the same tolerance the rules use.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlmodel import Session, col

from ledger.model import Cylinder, Enterprise, Event, Station
from ledger.model_rules import CylinderStateRow
from ledger.params import Jurisdiction

RETIRED_STATUSES = ("scrapped",)
_Rows = Select[str, str, str, dt.date, dt.date, dt.datetime]


@dataclass(frozen=True)
class BlockedFill:
    """One refused fill: when, where, which cylinder, why."""

    at: dt.datetime
    code: str
    station_id: int | None
    station_name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class CylinderRow:
    """A cylinder in a dashboard list."""

    code: str
    owner: str
    status: str
    next_inspection_due: dt.date
    end_of_life: dt.date
    last_event_at: dt.datetime


@dataclass(frozen=True)
class WeighedFill:
    """A fill whose net weight fell short of the rated fill."""

    at: dt.datetime
    code: str
    station_name: str
    net_kg: float
    capacity_kg: float


def blocked_fills(
    session: Session,
    since: dt.datetime,
    *,
    reason: str | None = None,
    station_id: int | None = None,
    limit: int = 200,
) -> list[BlockedFill]:
    """Refused fills since a time, newest first, optionally of one reason or station."""
    query = (
        select(
            col(Event.occurred_at),
            col(Event.payload),
            col(Event.station_id),
            col(Cylinder.code),
            col(Station.name),
        )
        .join(Cylinder, col(Cylinder.id) == col(Event.cylinder_id))
        .outerjoin(Station, col(Station.id) == col(Event.station_id))
        .where(col(Event.type) == "fill_blocked", col(Event.occurred_at) >= since)
    )
    if station_id is not None:
        query = query.where(col(Event.station_id) == station_id)
    if reason is not None:  # narrowed in SQL, confirmed on the parsed payload below
        query = query.where(col(Event.payload).contains(f'"{reason}"'))
    query = query.order_by(col(Event.occurred_at).desc()).limit(limit)
    out = []
    for at, payload, station, code, name in session.execute(query):
        reasons = tuple(json.loads(payload).get("reasons", ()))
        if reason is None or reason in reasons:
            out.append(BlockedFill(at, code, station, name or "?", reasons))
    return out


def blocked_summary(session: Session, since: dt.datetime) -> tuple[Counter[str], Counter[str]]:
    """Refused fills since a time: counts by reason code, and by station name."""
    query = (
        select(col(Event.payload), col(Station.name))
        .outerjoin(Station, col(Station.id) == col(Event.station_id))
        .where(col(Event.type) == "fill_blocked", col(Event.occurred_at) >= since)
    )
    by_reason: Counter[str] = Counter()
    by_station: Counter[str] = Counter()
    for payload, name in session.execute(query):
        by_reason.update(json.loads(payload).get("reasons", ()))
        by_station[name or "?"] += 1
    return by_reason, by_station


def _cylinders() -> _Rows:
    s = CylinderStateRow
    return (
        select(
            col(Cylinder.code),
            col(Enterprise.name),
            col(s.status),
            col(s.next_inspection_due),
            col(s.end_of_life),
            col(s.last_event_at),
        )
        .join(Cylinder, col(Cylinder.id) == col(s.cylinder_id))
        .join(Enterprise, col(Enterprise.id) == col(s.owner_id))
        .where(col(s.status).not_in(RETIRED_STATUSES))
    )


def _rows(session: Session, query: _Rows) -> list[CylinderRow]:
    return [CylinderRow(*row) for row in session.execute(query)]


def overdue(session: Session, today: dt.date, limit: int = 500) -> list[CylinderRow]:
    """Cylinders in use past their inspection date or their service life (oldest due first)."""
    s = CylinderStateRow
    query = _cylinders().where(
        or_(col(s.next_inspection_due) <= today, col(s.end_of_life) <= today)
    )
    return _rows(session, query.order_by(col(s.next_inspection_due)).limit(limit))


def expiring(
    session: Session, today: dt.date, params: Jurisdiction, limit: int = 500
) -> list[CylinderRow]:
    """Cylinders whose inspection or service life falls due within the warning windows."""
    s = CylinderStateRow
    due_by = today + dt.timedelta(days=params.inspection_warning_days)
    end_by = today + dt.timedelta(days=params.end_of_life_warning_days)
    query = _cylinders().where(
        or_(
            (col(s.next_inspection_due) > today) & (col(s.next_inspection_due) <= due_by),
            (col(s.end_of_life) > today) & (col(s.end_of_life) <= end_by),
        ),
        col(s.next_inspection_due) > today,
        col(s.end_of_life) > today,
    )
    return _rows(session, query.order_by(col(s.next_inspection_due)).limit(limit))


def stale(session: Session, now: dt.datetime, days: int, limit: int = 500) -> list[CylinderRow]:
    """Cylinders no event has touched for ``days`` days (lost, hoarded or off the books)."""
    s = CylinderStateRow
    query = _cylinders().where(col(s.last_event_at) < now - dt.timedelta(days=days))
    return _rows(session, query.order_by(col(s.last_event_at)).limit(limit))


def short_weight(
    session: Session, since: dt.datetime, params: Jurisdiction, limit: int = 500
) -> list[WeighedFill]:
    """Fills since a time whose net weight is below the rated fill less the tolerance."""
    query = (
        select(
            col(Event.occurred_at),
            col(Event.payload),
            col(Cylinder.code),
            col(Cylinder.capacity_kg),
            col(Station.name),
        )
        .join(Cylinder, col(Cylinder.id) == col(Event.cylinder_id))
        .outerjoin(Station, col(Station.id) == col(Event.station_id))
        .where(col(Event.type) == "filled", col(Event.occurred_at) >= since)
        .order_by(col(Event.occurred_at).desc())
    )
    out = []
    for at, payload, code, capacity, name in session.execute(query):
        net = float(json.loads(payload)["net_kg"])
        if net < capacity - params.fill_tolerance_kg:
            out.append(WeighedFill(at, code, name or "?", net, capacity))
            if len(out) >= limit:
                break
    return out


def per_day(
    session: Session, types: tuple[str, ...], since: dt.datetime
) -> dict[str, dict[str, int]]:
    """Events of each type per UTC day since a time: {type: {"YYYY-MM-DD": n}}."""
    day = func.date(col(Event.occurred_at))
    query = (
        select(col(Event.type), day, func.count())
        .where(col(Event.type).in_(types), col(Event.occurred_at) >= since)
        .group_by(col(Event.type), day)
    )
    out: dict[str, dict[str, int]] = {t: {} for t in types}
    for kind, when, count in session.execute(query):
        out[kind][str(when)[:10]] = int(count)
    return out
