"""SUSPECTED_CLONE and ALREADY_FILLED: one code on two cylinders, or one cylinder twice.

A cylinder is filled, then delivered or returned before it is filled again; its code
cannot be scanned at two stations further apart than a truck drives in between. Pure, as
``ledger.rules`` (which calls it for every fill check).
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

from ledger.facts import StationView
from ledger.params import Jurisdiction
from ledger.reasons import Reason, reason
from ledger.state import CylinderState


def _km(a: StationView, b: StationView) -> float | None:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))  # type: ignore[arg-type]
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def clone_reasons(
    state: CylinderState,
    station: StationView,
    now: dt.datetime,
    params: Jurisdiction,
    previous_station: StationView | None,
) -> list[Reason]:
    """SUSPECTED_CLONE: filled at another station too soon, with no delivery or return in
    between, or scanned too far away too fast. At the station that filled it, the same
    refill is ALREADY_FILLED: the cylinder in front of the operator is most likely that
    one, still full (a rescan), not a copy of its code; it is refused all the same, and a
    scan too far away since still makes it a suspected clone."""
    out, here = [], []
    window = dt.timedelta(hours=params.clone_refill_hours)
    if state.last_filled_at and not state.moved_since_fill and now - state.last_filled_at < window:
        at = f"{state.last_filled_at.astimezone(ZoneInfo(params.time_zone)):%Y-%m-%d %H:%M}"
        if state.last_fill_station == station.id:
            here.append(reason("ALREADY_FILLED", at))
        else:
            out.append(
                reason(
                    "SUSPECTED_CLONE",
                    f"{at}已在另一充装站充装，此后未配送或回收",
                    f"filled at another station {at} with no delivery or return since",
                )
            )
    if (
        state.last_scan_at
        and previous_station is not None
        and previous_station.id != station.id
        and (km := _km(previous_station, station)) is not None
    ):
        hours = max((now - state.last_scan_at).total_seconds() / 3600, 1e-6)
        if km / hours > params.max_travel_kmh:
            out.append(
                reason(
                    "SUSPECTED_CLONE",
                    f"{hours:.1f}小时前在{km:.0f}公里外的{previous_station.name}被扫描",
                    f"scanned {km:.0f} km away at {previous_station.name} {hours:.1f} h ago",
                )
            )
    return out[:1] or here
