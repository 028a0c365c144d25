"""Offline records uploaded late, with their own past time: the fold does not move the
cylinder back in time (pure; the API's offline answers are in tests/integration)."""

from __future__ import annotations

import datetime as dt

from ledger.state import EventView, fold
from tests.unit.test_transitions import REGISTRATION

T0 = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
FILL = {"station_id": 1, "gross_kg": 31.8, "tare_kg": 16.8, "net_kg": 15.0}


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_a_block_uploaded_late_leaves_the_travel_anchor_on_the_newer_scan() -> None:
    s = fold("c", [
        EventView("registered", REGISTRATION, at(0)),
        EventView("fill_blocked", {"station_id": 2, "reasons": ["NOT_OWNED"]}, at(60), 2),
        EventView("fill_blocked", {"station_id": 3, "reasons": ["NOT_OWNED"], "offline": True},
                  at(10), 3),  # scanned offline at station 3 earlier, sent now
    ])  # fmt: skip
    assert (s.last_scan_at, s.last_scan_station) == (at(60), 2)
    assert s.last_event_at == at(60)  # "last seen" does not go back either


def test_an_offline_fill_uploaded_after_the_cylinder_moved_on_keeps_where_it_is() -> None:
    events = [
        EventView("registered", REGISTRATION, at(0)),
        EventView("filled", FILL, at(5), 1),
        EventView("returned", {}, at(20)),
        EventView("dispatched", {"vehicle": "渝A·D12345"}, at(90)),
        # filled offline at station 4 at 00:30, uploaded after the dispatch at 01:30
        EventView("filled", {**FILL, "station_id": 4, "offline": True, "gross_kg": 30.8,
                             "net_kg": 14.0}, at(30), 4),
    ]  # fmt: skip
    s = fold("c", events)
    assert s.status == "in_transit" and s.vehicle == "渝A·D12345"
    assert (s.last_filled_at, s.last_fill_station, s.last_net_kg) == (at(30), 4, 14.0)
    assert s.short_weight  # the newest fill's weight is what the rules judge
    assert (s.last_scan_at, s.last_scan_station) == (at(5), 1)  # not moved back by a late fill
    # The same fill sent on time (before the dispatch) would have made it full at station 4.
    on_time = fold("c", [*events[:3], events[4]])
    assert on_time.status == "full" and on_time.last_scan_station == 4


def test_a_late_fill_older_than_the_last_fill_changes_nothing_of_the_last_fill() -> None:
    s = fold("c", [
        EventView("registered", REGISTRATION, at(0)),
        EventView("filled", FILL, at(50), 1),
        EventView("filled", {**FILL, "offline": True, "station_id": 4}, at(30), 4),
    ])  # fmt: skip
    assert (s.last_filled_at, s.last_fill_station, s.status) == (at(50), 1, "full")
