"""Read models of the regulator's dashboard: pure queries, no rules of their own.

Blocked fills by reason and station, overdue and expiring cylinders, cylinders not seen
for days, short-weight fills and events per day. Each list is a ``Listing``: counted in
SQL, shown a page at a time, streamed whole to CSV. The figures a rule decides (short
weight) come from the same tolerance the rules use.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col

from ledger.model import Cylinder, Enterprise, Event, Station
from ledger.model_rules import CylinderStateRow, FillWeight
from ledger.params import Jurisdiction

RETIRED_STATUSES = ("scrapped",)
T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]


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
    """A fill whose net weight on record (gross − registered tare) fell short of the rated
    fill."""

    at: dt.datetime
    code: str
    station_name: str
    net_kg: float
    capacity_kg: float


@dataclass(frozen=True)
class Listing(Generic[T]):
    """A dashboard list as a query in a stable order, and how one of its rows reads:
    ``count`` it, show a ``page`` of it, or stream ``each`` row (the CSV exports)."""

    query: AnySelect
    item: Callable[[AnyRow], T]
    counted: AnySelect | None = None  # the same rows' keys, cheaper to count (no joins)


def count(session: Session, listing: Listing[Any]) -> int:
    """How many rows the whole list has (counted in SQL, no limit)."""
    rows = listing.counted if listing.counted is not None else listing.query
    inner = rows.order_by(None).subquery()
    return int(session.execute(select(func.count()).select_from(inner)).scalar_one())


def page(session: Session, listing: Listing[T], offset: int = 0, limit: int = 500) -> list[T]:
    """``limit`` rows of the list from ``offset`` on."""
    query = listing.query.offset(offset).limit(limit)
    return [listing.item(row) for row in session.execute(query)]


def each(session: Session, listing: Listing[T], batch: int = 500) -> Iterator[T]:
    """Every row of the list, fetched ``batch`` at a time."""
    for row in session.execute(listing.query.execution_options(yield_per=batch)):
        yield listing.item(row)


def _blocked_fill(row: AnyRow) -> BlockedFill:
    at, payload, station, code, name = row
    return BlockedFill(at, code, station, name or "?", tuple(json.loads(payload)["reasons"]))


def _has_reason(reason: str, dialect: str) -> ColumnElement[bool]:
    """The payload's ``reasons`` array holds this code: exact in SQL (no text match, so a
    scanned text equal to a code, or a ``_`` read as a LIKE wildcard, matches nothing)."""
    if dialect == "postgresql":
        return cast(col(Event.payload), JSONB)["reasons"].contains([reason])
    reasons = func.json_each(col(Event.payload), "$.reasons").table_valued("value")
    return exists(select(literal(1)).select_from(reasons).where(reasons.c.value == reason))


def blocked_listing(
    since: dt.datetime,
    *,
    dialect: str,
    reason: str | None = None,
    station_id: int | None = None,
) -> Listing[BlockedFill]:
    """Refused fills since a time, newest first, optionally of one reason or station
    (``dialect``: the database's, which reads JSON its own way)."""
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
    if reason is not None:
        query = query.where(_has_reason(reason, dialect))
    order = (col(Event.occurred_at).desc(), col(Event.id).desc())
    return Listing(query.order_by(*order), _blocked_fill)


def blocked_fills(
    session: Session,
    since: dt.datetime,
    *,
    reason: str | None = None,
    station_id: int | None = None,
    limit: int = 200,
) -> list[BlockedFill]:
    """The newest ``limit`` refused fills since a time (``blocked_listing``)."""
    dialect = session.get_bind().dialect.name
    listing = blocked_listing(since, dialect=dialect, reason=reason, station_id=station_id)
    return page(session, listing, 0, limit)


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


def _cylinders(where: ColumnElement[bool], *order: Any) -> Listing[CylinderRow]:
    s = CylinderStateRow
    query = (
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
        .where(col(s.status).not_in(RETIRED_STATUSES), where)
        .order_by(*order, col(Cylinder.code))
    )
    return Listing(query, lambda row: CylinderRow(*row))


def overdue_listing(today: dt.date) -> Listing[CylinderRow]:
    """Cylinders in use past their inspection date or their service life (oldest due first)."""
    s = CylinderStateRow
    due = or_(col(s.next_inspection_due) <= today, col(s.end_of_life) <= today)
    return _cylinders(due, col(s.next_inspection_due))


def expiring_listing(today: dt.date, params: Jurisdiction) -> Listing[CylinderRow]:
    """Cylinders whose inspection or service life falls due within the warning windows."""
    s = CylinderStateRow
    due_by = today + dt.timedelta(days=params.inspection_warning_days)
    end_by = today + dt.timedelta(days=params.end_of_life_warning_days)
    soon = and_(
        or_(col(s.next_inspection_due) <= due_by, col(s.end_of_life) <= end_by),
        col(s.next_inspection_due) > today,
        col(s.end_of_life) > today,
    )
    return _cylinders(soon, col(s.next_inspection_due))


def stale_listing(now: dt.datetime, days: int) -> Listing[CylinderRow]:
    """Cylinders no event has touched for ``days`` days (lost, hoarded or off the books)."""
    s = CylinderStateRow
    return _cylinders(col(s.last_event_at) < now - dt.timedelta(days=days), col(s.last_event_at))


def overdue(session: Session, today: dt.date, limit: int = 500) -> list[CylinderRow]:
    """The first ``limit`` of ``overdue_listing``."""
    return page(session, overdue_listing(today), 0, limit)


def expiring(
    session: Session, today: dt.date, params: Jurisdiction, limit: int = 500
) -> list[CylinderRow]:
    """The first ``limit`` of ``expiring_listing``."""
    return page(session, expiring_listing(today, params), 0, limit)


def stale(session: Session, now: dt.datetime, days: int, limit: int = 500) -> list[CylinderRow]:
    """The first ``limit`` of ``stale_listing``."""
    return page(session, stale_listing(now, days), 0, limit)


def _weighed_fill(row: AnyRow) -> WeighedFill:
    at, code, station, net, capacity = row
    return WeighedFill(at, code, station or "?", float(net), float(capacity))


def short_weight_listing(since: dt.datetime, params: Jurisdiction) -> Listing[WeighedFill]:
    """Fills since a time whose net weight on record (gross − the registered tare, the
    figure ``short_weight`` is decided on) is below the rated fill less the tolerance,
    newest first. Read from ``fill_weights`` (``ledger.fill_weights``) through its partial
    index of the fills below their rated fill; the count reads that index alone."""
    w = FillWeight
    short = and_(
        col(w.net_kg) < col(w.capacity_kg),  # the partial index's predicate: it is used
        col(w.occurred_at) >= since,
        col(w.net_kg) < col(w.capacity_kg) - params.fill_tolerance_kg,
    )
    query = (
        select(
            col(w.occurred_at),
            col(Cylinder.code),
            col(Station.name),
            col(w.net_kg),
            col(w.capacity_kg),
        )
        .join(Cylinder, col(Cylinder.id) == col(w.cylinder_id))
        .outerjoin(Station, col(Station.id) == col(w.station_id))
        .where(short)
        .order_by(col(w.occurred_at).desc(), col(w.event_id).desc())
    )
    # Every row has its cylinder (an event's cylinder always exists), so the count needs
    # no join: the index alone answers it.
    counted = select(col(w.event_id)).where(short)
    return Listing(query, _weighed_fill, counted)


def short_weight(
    session: Session, since: dt.datetime, params: Jurisdiction, limit: int = 500
) -> list[WeighedFill]:
    """The newest ``limit`` of ``short_weight_listing``."""
    return page(session, short_weight_listing(since, params), 0, limit)
