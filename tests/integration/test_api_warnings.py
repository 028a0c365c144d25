"""Warnings that never block, and a clone caught by the distance between two scans."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ledger import registry
from ledger.model import Enterprise, LicenceKind, Role
from ledger.params import add_years
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer
from tests.integration.cycle import delivered


def today() -> dt.date:
    return flows.local_today()


def codes(items: list[dict[str, Any]]) -> list[str]:
    return [r["code"] for r in items]


def test_an_inspection_due_within_30_days_is_a_warning_not_a_block(client, demo):
    due = today() + dt.timedelta(days=10)
    inspected = add_years(due, -4).isoformat()
    code = flows.register(client, demo, manufactured_on="2020-01-01", last_inspected_on=inspected)
    doc = flows.check(client, demo, code).get_json()
    assert doc["allowed"] is True and doc["reasons"] == []
    assert codes(doc["warnings"]) == ["INSPECTION_DUE_SOON"]
    assert due.isoformat() in doc["warnings"][0]["message_en"]


def test_a_service_life_ending_within_90_days_is_a_warning_not_a_block(client, demo):
    end = today() + dt.timedelta(days=60)
    made = add_years(end, -8).isoformat()  # made after 2007-02-01: 8 years (GB 5842-2006)
    last = (today() - dt.timedelta(days=365)).isoformat()
    code = flows.register(client, demo, manufactured_on=made, last_inspected_on=last)
    doc = flows.check(client, demo, code).get_json()
    assert doc["allowed"] is True and codes(doc["warnings"]) == ["END_OF_LIFE_SOON"]
    assert end.isoformat() in doc["warnings"][0]["message_en"]


@pytest.mark.parametrize(("days", "expected"), [(31, []), (30, ["INSPECTION_DUE_SOON"])])
def test_the_inspection_warning_starts_30_days_before(client, demo, days, expected):
    inspected = add_years(today() + dt.timedelta(days=days), -4).isoformat()
    code = flows.register(client, demo, manufactured_on="2020-01-01", last_inspected_on=inspected)
    assert codes(flows.check(client, demo, code).get_json()["warnings"]) == expected


def far_station(app: Any, demo: Any) -> tuple[int, str]:
    """A licensed station of enterprise A in Wanzhou, ~230 km away; (id, device token)."""
    with transaction(app.extensions["ledger"].engine) as s:
        ent = s.get(Enterprise, demo["enterprises"]["a"])
        assert ent is not None
        st = registry.add_station(s, ent, "渝安万州充装站", "重庆市万州区", 30.81, 108.38)
        start, end = today() - dt.timedelta(days=30), today() + dt.timedelta(days=365)
        registry.add_licence(s, ent, LicenceKind.CYLINDER_FILLING, "TS4250W01", start, end,
                             station=st)  # fmt: skip
        _, token = registry.add_actor(s, "万州1号充装枪", Role.FILLING_OPERATOR, enterprise=ent,
                                      station=st)  # fmt: skip
        assert st.id is not None
        return st.id, token


def test_a_scan_further_away_than_a_truck_can_travel_is_a_suspected_clone(app, client, demo):
    code = delivered(client, demo)  # filled at station A a moment ago, delivered, then back
    assert flows.event(client, demo, code, "driver_a", "returned", {}).status_code == 201
    station, token = far_station(app, demo)
    resp = client.post(
        "/api/v1/fill-checks", json={"station_id": station, "scan": code}, headers=bearer(token)
    )
    doc = resp.get_json()
    assert resp.status_code == 200 and doc["allowed"] is False
    assert codes(doc["reasons"]) == ["SUSPECTED_CLONE"]
    assert "km away" in doc["reasons"][0]["message_en"]
    assert flows.history(client, demo, code)[-1]["type"] == "fill_blocked"
