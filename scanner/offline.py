"""Deciding without the server: the same rules (``ledger.rules``) on the cached copies.

A forged code is caught with the cached registry key, the deny list always blocks,
and a cache that was never filled, or is older than the station allows, blocks with
its own reason: with nothing trustworthy to decide on, the scale stays locked.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ledger.codes import Scan, verify_code
from ledger.facts import EnterpriseView, StationView
from ledger.params import Jurisdiction
from ledger.reasons import Reason, reason
from ledger.rules import Decision, fill_check, unknown
from ledger.state import CylinderState
from scanner.cache import StationCache

# Station-local reasons: they never come from the server, so they live here.
NO_CACHE = Reason(
    "OFFLINE_NO_CACHE",
    "服务器无法连接，且本站没有可用的离线数据，禁止充装",
    "the server is unreachable and this station has no usable offline data",
)
NOT_CACHED = Reason(
    "OFFLINE_NOT_CACHED",
    "离线无法确认此码（不在本站离线数据中：未登记，或非本企业气瓶），禁止充装",
    "offline, this code cannot be confirmed (not in this station's offline data: unknown,"
    " or another enterprise's cylinder)",
)
CACHE_TOO_OLD = "离线数据已过期（{}同步），禁止充装", "offline data too old (synced {})"
DENIED = "监管禁止名单", "on the regulator's deny list"
CLOCK_WRONG = (
    "本站时钟不准（与服务器相差{}），离线无法判断，禁止充装：请校准时钟",
    "this station's clock is off (by {} from the server's): offline checks cannot be trusted",
)
# The station's clock may differ from the server's by this much at a sync, and run back by
# this much since: beyond, dates judged offline (inspection due, end of life) are not.
CLOCK_TOLERANCE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class OfflineCheck:
    """An offline decision and the cached cylinder state it was taken on."""

    decision: Decision
    cylinder: dict[str, Any] | None


def _block(*reasons: Reason) -> OfflineCheck:
    return OfflineCheck(Decision(False, tuple(reasons)), None)


def _jurisdiction(cache: StationCache) -> Jurisdiction:
    doc = json.loads(cache.meta("jurisdiction") or "{}")
    known = {k: v for k, v in doc.items() if k in Jurisdiction.__dataclass_fields__}
    return Jurisdiction.from_dict(known)


def _clock_off(cache: StationCache, synced: dt.datetime, now: dt.datetime) -> str | None:
    """How far off the station's clock is, if too far to judge dates by it: its time at
    the last sync against the server's time in that answer, or its time now before it."""
    generated = cache.meta("generated_at")
    try:
        server = dt.datetime.fromisoformat(generated) if generated else None
    except ValueError:
        server = None
    skew = synced - server if server is not None else dt.timedelta(0)
    if abs(skew) <= CLOCK_TOLERANCE and now >= synced - CLOCK_TOLERANCE:
        return None
    gone = skew if abs(skew) > CLOCK_TOLERANCE else now - synced
    return f"{'-' if gone < dt.timedelta(0) else '+'}{_span(abs(gone))}"


def _span(delta: dt.timedelta) -> str:
    """A duration as an operator reads it: 3d 4h, 2h 5min, 7min."""
    minutes = round(delta.total_seconds() / 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}min" if hours else f"{mins}min"


def offline_check(
    cache: StationCache, scan: Scan, now: dt.datetime, max_age: dt.timedelta
) -> OfflineCheck:
    """May this cylinder be filled here now, judged from the local cache alone?"""
    synced = cache.synced_at()
    station_doc, key = cache.meta("station"), cache.meta("registry_key")
    if synced is None or station_doc is None or key is None:
        return _block(NO_CACHE)
    if now - synced > max_age:
        zh, en = CACHE_TOO_OLD
        stamp = f"{synced.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
        return _block(Reason("OFFLINE_CACHE_TOO_OLD", zh.format(stamp), en.format(stamp)))
    off = _clock_off(cache, synced, now)
    if off is not None:
        zh, en = CLOCK_WRONG
        return _block(Reason("OFFLINE_CLOCK_WRONG", zh.format(off), en.format(off)))
    try:
        station = StationView.from_dict(json.loads(station_doc))
        params = _jurisdiction(cache)
        enterprises = json.loads(cache.meta("enterprises") or "{}")
    except (ValueError, KeyError, TypeError):
        return _block(NO_CACHE)
    forged = scan.signature is not None and not verify_code(
        scan.code, scan.signature, base64.b64decode(key)
    )
    if cache.denied(scan.code):
        held = reason("HELD", *DENIED)
        return _block(*([reason("FORGED_CODE")] if forged else []), held)
    retired = cache.retired(scan.code)  # an old label: refused as online, whatever is cached
    doc = None if retired else cache.cylinder(scan.code)
    if doc is None:
        # Retired, or not in the cache: another enterprise's cylinder or an unknown code,
        # which offline cannot be told apart (so never called "unknown"): not filled here.
        decision = unknown(scan.code, retired=True) if retired else Decision(False, (NOT_CACHED,))
        if forged:
            decision = Decision(False, (reason("FORGED_CODE"), *decision.reasons))
        return OfflineCheck(decision, None)
    state = CylinderState.from_dict(doc)
    owner_doc = enterprises.get(str(state.owner_id))
    owner = EnterpriseView.from_dict(owner_doc) if owner_doc else None
    decision = fill_check(state, station, owner, now, params, forged=forged)
    return OfflineCheck(decision, doc)


def after_offline_fill(
    cache: StationCache, cylinder: dict[str, Any], station_id: int, now: dt.datetime, net_kg: float
) -> None:
    """Fold an offline fill into the cached state, so a second fill is caught offline too."""
    updated = dict(cylinder)
    updated.update(
        status="full",
        last_filled_at=now.astimezone(dt.UTC).isoformat(),
        last_fill_station=station_id,
        last_net_kg=net_kg,
        moved_since_fill=False,
        last_scan_at=now.astimezone(dt.UTC).isoformat(),
        last_scan_station=station_id,
    )
    cache.put_cylinder(updated)
