"""The life cycle as a table: every (event type, status) pair, and the fold after an
offline fill (pure; the API's answers are in tests/integration/test_api_lifecycle.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from itertools import product
from typing import Any

import pytest

from ledger.permissions import APPEND_ROLES
from ledger.state import STATUSES, CylinderState, EventView, apply, fold
from ledger.transitions import ALLOWED_FROM, transition_error

NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
REGISTRATION = {
    "code": "ABC123", "owner": 1, "serial": "CQ2024001", "manufacturer": "金盾",
    "manufactured_on": "2024-03-01", "model": "YSP35.5", "capacity_kg": 15.0, "tare_kg": 16.8,
    "dual_phase": False, "last_inspected_on": None, "service_life_years": None,
}  # fmt: skip
NOT_SCRAPPED = {"empty", "full", "in_transit", "at_customer", "condemned"}
USABLE = {"empty", "full", "in_transit", "at_customer"}

# Written out by hand from DESIGN §8 (not derived from ALLOWED_FROM, or it could not fail).
EXPECTED: dict[str, set[str]] = {
    "filled": USABLE,
    "fill_blocked": set(STATUSES),
    "delivery_blocked": set(STATUSES),
    "dispatched": {"full"},
    "delivered": {"in_transit"},
    "returned": {"full", "in_transit", "at_customer"},
    "inspected": {"empty", "full"},
    "relabelled": NOT_SCRAPPED,
    "ownership_transferred": USABLE,
    "reported": set(STATUSES),
    "held": NOT_SCRAPPED,
    "released": set(STATUSES),
    "scrapped": {"empty", "full", "at_customer", "condemned"},  # on a truck: return it first
}
PAYLOADS: dict[str, dict[str, Any]] = {
    "relabelled": {"new_code": "NEW1"},
    "ownership_transferred": {"to_enterprise": 2},
}


def state(status: str, **fields: Any) -> CylinderState:
    base = fold("cyl-1", [EventView("registered", REGISTRATION, NOW)])
    return replace(base, status=status, **fields)


def test_the_table_names_every_event_type_a_client_or_the_server_records():
    assert set(ALLOWED_FROM) == set(EXPECTED) == set(APPEND_ROLES) | {"delivery_blocked"}


@pytest.mark.parametrize(("kind", "status"), sorted(product(EXPECTED, STATUSES)))
def test_each_event_type_follows_only_the_statuses_of_its_cycle(kind, status):
    # `released` needs something to release: a hold (the status question is separate).
    extra = {"held": "涉案"} if kind == "released" else {}
    error = transition_error(state(status, **extra), kind, PAYLOADS.get(kind, {}))
    if status in EXPECTED[kind]:
        assert error is None, (kind, status, error)
    else:
        assert error is not None and error.code == "ILLEGAL_TRANSITION"
        assert error.message_zh and error.message_en


@pytest.mark.parametrize(
    ("kind", "fields", "payload"),
    [
        ("held", {"held": "已扣押"}, {"reason": "again"}),
        ("released", {}, {}),  # nothing holds it
        ("relabelled", {}, {"new_code": "ABC123"}),  # its own code
        ("ownership_transferred", {}, {"to_enterprise": 1}),  # its own owner
    ],
)
def test_the_checks_beside_the_status_refuse_what_changes_nothing(kind, fields, payload):
    error = transition_error(state("empty", **fields), kind, payload)
    assert error is not None and error.code == "ILLEGAL_TRANSITION"


@pytest.mark.parametrize(
    "fields",
    [{"open_reports": ("lost",)}, {"open_reports": ("offline_conflict",)},
     {"contradiction": "XYZ789"}],
)  # fmt: skip
def test_a_report_or_a_contradiction_may_be_released(fields):
    assert transition_error(state("empty", **fields), "released", {}) is None


@pytest.mark.parametrize(
    ("status", "says"), [("scrapped", "气瓶已报废"), ("condemned", "气瓶已检验判废")]
)
def test_a_scrapped_or_condemned_cylinder_is_refused_as_such_at_every_step(status, says):
    refused = [k for k in EXPECTED if status not in EXPECTED[k]]
    assert {"dispatched", "delivered", "inspected"} <= set(refused)
    for kind in refused:
        error = transition_error(state(status), kind, PAYLOADS.get(kind, {}))
        assert error is not None and error.message_zh == f"操作不合流程：{says}", kind


def test_a_scrap_on_the_road_says_to_return_the_cylinder_first():
    error = transition_error(state("in_transit"), "scrapped", {})
    assert error is not None and "return it first" in error.message_en


# --- the fold after an offline fill ---------------------------------------------------------


def _history(*events: tuple[str, dict[str, Any]]) -> list[EventView]:
    views = [EventView("registered", REGISTRATION, NOW - dt.timedelta(days=30))]
    for i, (kind, payload) in enumerate(events, start=1):
        views.append(EventView(kind, payload, NOW - dt.timedelta(days=30 - i), station_id=1))
    return views


OFFLINE_FILL = {"station_id": 1, "gross_kg": 31.8, "tare_kg": 16.8, "net_kg": 15.0,
                "offline": True}  # fmt: skip


@pytest.mark.parametrize(
    ("end", "expected"),
    [(("scrapped", {}), "scrapped"), (("inspected", {"result": "fail"}), "condemned"),
     (("inspected", {"result": "scrap"}), "condemned")],
)  # fmt: skip
def test_an_offline_fill_never_brings_a_scrapped_or_condemned_cylinder_back(end, expected):
    s = fold("cyl-1", _history(end, ("filled", OFFLINE_FILL)))
    assert s.status == expected
    assert s.last_filled_at is not None and s.last_net_kg == 15.0  # the fact is kept
    for kind in ("returned", "dispatched", "filled", "inspected"):
        assert transition_error(s, kind, {}) is not None, kind
    again = apply(s, EventView("filled", OFFLINE_FILL, NOW, station_id=1))
    assert again.status == expected


def test_an_offline_fill_keeps_holds_and_reports():
    s = fold("cyl-1", _history(("held", {"reason": "涉案"}), ("reported", {"kind": "stolen"}),
                               ("filled", OFFLINE_FILL)))  # fmt: skip
    assert s.status == "full" and s.held == "涉案" and s.open_reports == ("stolen",)


def test_the_fold_weighs_with_the_registered_tare_not_the_clients():
    fill = {"station_id": 1, "gross_kg": 31.2, "tare_kg": 16.6, "net_kg": 14.6}
    s = fold("cyl-1", _history(("filled", fill)))
    assert s.last_net_kg == pytest.approx(14.4) and s.short_weight and not s.overfilled
