"""Scans of unregistered codes at the nozzle, for the regulator: possible illegal cylinders.

A fill check of a code no cylinder carries is refused (``UNKNOWN_CODE``) and kept in
``fill_checks`` only, with no ``cylinder_id``: there is no chain to put a ``fill_blocked``
event on (docs/rules.md). This read model lists those refused checks, newest first, as a
``Listing`` of ``ledger.oversight`` (counted, paged, streamed to CSV).

Only an unknown code leaves ``cylinder_id`` empty (a retired code names its cylinder), so
``cylinder_id IS NULL`` picks them: on PostgreSQL the partial index
``ix_fill_checks_unknown_code`` on ``(checked_at, id)`` holds those checks only (migration
0014), so the count and the page, newest first, read the period's unregistered scans, not
every check of the period (bench/unknown_scans.py). SQLite's planner prefers
``ix_fill_checks_cylinder_station``: every unregistered scan, a city's size at most.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select
from sqlmodel import Session, col

from ledger.model import Actor, Station
from ledger.model_rules import UNKNOWN_CODE, FillCheck
from ledger.oversight import AnyRow, Listing, count


@dataclass(frozen=True)
class UnknownScan:
    """One refused fill check of an unregistered code: when, where, the code, who scanned."""

    at: dt.datetime
    code: str  # as the scan read it (no cylinder carries it)
    station_id: int
    station_name: str
    operator: str


def _refused_unknown(since: dt.datetime) -> ColumnElement[bool]:
    c = FillCheck
    return and_(UNKNOWN_CODE, col(c.allowed).is_(False), col(c.checked_at) >= since)


def count_unknown_scans(session: Session, since: dt.datetime) -> int:
    """How many refused fill checks of unregistered codes since a time (the overview's
    "未登记" row; its list is ``unknown_scans_listing``, the same rows)."""
    return count(session, unknown_scans_listing(since))


def unknown_scans_listing(
    since: dt.datetime, station_id: int | None = None
) -> Listing[UnknownScan]:
    """Refused fill checks of unregistered codes since a time, newest first (``station_id``:
    at that station only)."""
    c = FillCheck
    where: ColumnElement[bool] = _refused_unknown(since)
    if station_id is not None:
        where = and_(where, col(c.station_id) == station_id)
    query = (
        select(
            col(c.checked_at),
            col(c.code),
            col(c.station_id),
            col(Station.name),
            col(Actor.name),
        )
        .outerjoin(Station, col(Station.id) == col(c.station_id))
        .outerjoin(Actor, col(Actor.id) == col(c.actor_id))
        .where(where)
        .order_by(col(c.checked_at).desc(), col(c.id).desc())
    )
    return Listing(query, _unknown_scan, select(col(c.id)).where(where))


def _unknown_scan(row: AnyRow) -> UnknownScan:
    at, code, station_id, station, operator = row
    return UnknownScan(at, code, station_id, station or "?", operator or "?")
